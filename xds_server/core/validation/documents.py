"""DocumentEntry rules (ITI TF-3 4.2.3.2, Table 4.3.1-3; rule book §(b) DocumentEntry).

hash, size and repositoryUniqueId are required on ITI-42 (the Document Source is a repository that has
them) and optional on ITI-41 (the repository computes and adds them before registering). They are
required for Stable entries only: an On-Demand entry has no fixed content, so no hash or size.
"""

from __future__ import annotations

from collections.abc import Iterator

from xds_server.core.errors import Issue
from xds_server.core.metadata import DocumentEntry
from xds_server.core.validation import fields
from xds_server.core.validation.context import REGISTRY_TRANSACTIONS, Context, metadata_error
from xds_server.core.vocabulary import ObjectType

_OBJECT_TYPES = frozenset({ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value})


def check(ctx: Context) -> Iterator[Issue]:
    for entry in ctx.submission.documents:
        yield from check_entry(entry, transaction=ctx.transaction)


def check_entry(de: DocumentEntry, *, transaction: str) -> Iterator[Issue]:
    i = de.entry_uuid
    stable = de.object_type == ObjectType.STABLE_DOCUMENT.value
    if de.object_type not in _OBJECT_TYPES:
        yield metadata_error(i, "objectType", f"objectType {de.object_type!r} is not a DocumentEntry type")
    yield from fields.required(i, "mimeType", de.mime_type)
    yield from fields.dtm(i, "creationTime", de.creation_time, is_required=stable)
    yield from fields.required(i, "languageCode", de.language_code)
    yield from fields.dtm(i, "serviceStartTime", de.service_start_time, is_required=False)
    yield from fields.dtm(i, "serviceStopTime", de.service_stop_time, is_required=False)
    # sourcePatientId syntax depends on the profile: patients.py
    yield from fields.required(i, "sourcePatientId", de.source_patient_id)
    yield from fields.required(i, "patientId", de.patient_id)
    yield from fields.unique_id(i, de.unique_id, allow_extension=True)
    yield from _repository_items(de, transaction=transaction, stable=stable)
    yield from fields.authors(i, de.authors)
    yield from fields.one_code(i, "classCode", de.class_code)
    yield from fields.one_code(i, "formatCode", de.format_code)
    yield from fields.one_code(i, "healthcareFacilityTypeCode", de.healthcare_facility_type_code)
    yield from fields.one_code(i, "practiceSettingCode", de.practice_setting_code)
    yield from fields.one_code(i, "typeCode", de.type_code)
    if not de.confidentiality_codes:
        yield metadata_error(i, "confidentialityCode", "confidentialityCode is required (one or more)")
    yield from fields.codes(i, "confidentialityCode", de.confidentiality_codes)
    yield from fields.codes(i, "eventCodeList", de.event_codes)


def _repository_items(de: DocumentEntry, *, transaction: str, stable: bool) -> Iterator[Issue]:
    i = de.entry_uuid
    registering = transaction in REGISTRY_TRANSACTIONS
    if de.hash:
        yield from fields.sha1(i, de.hash)
    elif registering and stable:
        yield metadata_error(i, "hash", f"hash is required on {transaction}")
    if de.size:
        yield from fields.size(i, de.size)
    elif registering and stable:
        yield metadata_error(i, "size", f"size is required on {transaction}")
    yield from fields.oid(i, "repositoryUniqueId", de.repository_unique_id, is_required=registering)
