"""Model objects for storage tests, and a stub XML encoder (the real one lives in ebxml, which storage
never imports): the stub's output names the object, so a test can tell which XML came back."""

from __future__ import annotations

import uuid

from xds_server.core.metadata import (
    AnyObject,
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    SubmissionSet,
)
from xds_server.core.vocabulary import AssociationType, Status

PATIENT = "1234567890^^^&1.2.250.1.213.1.4.8&ISO"
OTHER_PATIENT = "9876543210^^^&1.2.250.1.213.1.4.8&ISO"


def stub_xml(obj: AnyObject) -> str:
    return f'<{type(obj).__name__} id="{obj.entry_uuid}"/>'


def new_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def document(**changes: object) -> DocumentEntry:
    values: dict[str, object] = {
        "entry_uuid": new_uuid(),
        "status": Status.APPROVED.value,
        "mime_type": "text/plain",
        "patient_id": PATIENT,
        "unique_id": f"1.2.3.{uuid.uuid4().int}",
        "creation_time": "20240102",
        "service_start_time": "202401021030",
        "hash": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "size": "1024",
        "repository_unique_id": "1.2.3.4",
        "class_code": Code("10", "1.2.250.1.213.1.1.4.1", "Summary"),
        "type_code": Code("11488-4", "2.16.840.1.113883.6.1", "Consult note"),
        "format_code": Code("urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3"),
        "practice_setting_code": Code("AMBULATOIRE", "1.2.250.1.213.1.1.4.9"),
        "healthcare_facility_type_code": Code("SA01", "1.2.250.1.71.4.2.4"),
        "event_codes": (Code("E1", "1.2.3"), Code("E2", "1.2.3")),
        "confidentiality_codes": (Code("N", "2.16.840.1.113883.5.25"),),
        "authors": (Author(person="^Dupont^Jean"), Author(person="^Martin^Claire")),
        "reference_ids": ("ref1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order",),
    }
    values.update(changes)
    return DocumentEntry(**values)  # type: ignore[arg-type]


def submission_set(**changes: object) -> SubmissionSet:
    values: dict[str, object] = {
        "entry_uuid": new_uuid(),
        "status": Status.APPROVED.value,
        "patient_id": PATIENT,
        "unique_id": f"1.2.4.{uuid.uuid4().int}",
        "source_id": "1.2.5",
        "submission_time": "20240102103000",
        "content_type_code": Code("04", "1.2.250.1.213.1.1.4.12"),
        "authors": (Author(person="^Dupont^Jean"),),
    }
    values.update(changes)
    return SubmissionSet(**values)  # type: ignore[arg-type]


def folder(**changes: object) -> Folder:
    values: dict[str, object] = {
        "entry_uuid": new_uuid(),
        "status": Status.APPROVED.value,
        "patient_id": PATIENT,
        "unique_id": f"1.2.6.{uuid.uuid4().int}",
        "last_update_time": "20240102103000",
        "codes": (Code("F1", "1.2.7"),),
    }
    values.update(changes)
    return Folder(**values)  # type: ignore[arg-type]


def association(source: str, target: str, kind: str = AssociationType.HAS_MEMBER.value) -> Association:
    return Association(
        entry_uuid=new_uuid(),
        status=Status.APPROVED.value,
        association_type=kind,
        source=source,
        target=target,
    )
