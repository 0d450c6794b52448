"""Model objects for the repository tests (DocumentEntries as the registry stores them)."""

from __future__ import annotations

import uuid

from xds_server.core.metadata import AnyObject, Code, DocumentEntry
from xds_server.core.vocabulary import Status

PATIENT = "1234567890^^^&1.2.250.1.213.1.4.8&ISO"


def stub_xml(obj: AnyObject) -> str:
    return f'<{type(obj).__name__} id="{obj.entry_uuid}"/>'


def document(**changes: object) -> DocumentEntry:
    values: dict[str, object] = {
        "entry_uuid": f"urn:uuid:{uuid.uuid4()}",
        "status": Status.APPROVED.value,
        "mime_type": "text/plain",
        "patient_id": PATIENT,
        "unique_id": f"1.2.3.{uuid.uuid4().int}",
        "creation_time": "20240102",
        "class_code": Code("10", "1.2.250.1.213.1.1.4.1", "Summary"),
        "type_code": Code("11488-4", "2.16.840.1.113883.6.1", "Consult note"),
        "format_code": Code("urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3"),
        "practice_setting_code": Code("AMBULATOIRE", "1.2.250.1.213.1.1.4.9"),
        "healthcare_facility_type_code": Code("SA01", "1.2.250.1.71.4.2.4"),
        "confidentiality_codes": (Code("N", "2.16.840.1.113883.5.25"),),
    }
    values.update(changes)
    return DocumentEntry(**values)  # type: ignore[arg-type]
