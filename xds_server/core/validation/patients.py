"""Patient id rules: syntax and authority per profile, INS key, one patient per submission.

ITI TF-2b 3.42.4.1.3: the SubmissionSet, every DocumentEntry and every Folder of a submission carry the same
patientId, else XDSPatientIdDoesNotMatch (NIST 11997). Ids are compared in their canonical form
(``identifiers.canonical_patient_id``) so that the DMP's spellings of one INS are the same patient.

Error codes: a malformed id or a wrong INS key is an XDSRegistryMetadataError; an id whose assigning
authority the domain does not accept cannot be known to this registry, so it is an XDSUnknownPatientId
(with the id in the message, like the directory lookup in submission.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from xds_server.core.errors import ErrorCode, Issue
from xds_server.core.identifiers import IdentifierError, canonical_patient_id, parse_cx
from xds_server.core.metadata import DocumentEntry, Folder, SubmissionSet
from xds_server.core.validation.context import Context, issue, metadata_error


def check(ctx: Context) -> Iterator[Issue]:
    issues: list[Issue] = []
    reference: tuple[str, str] | None = None  # (object id, canonical patient id) of the SubmissionSet
    owners: tuple[SubmissionSet | DocumentEntry | Folder, ...] = (
        *ctx.submission.submission_sets,
        *ctx.submission.documents,
        *ctx.submission.folders,
    )
    for obj in owners:
        if not obj.patient_id:
            continue  # reported as required by documents.py / packages.py
        canonical = _canonical(ctx, obj.entry_uuid, "patientId", obj.patient_id, issues)
        if reference is None:
            reference = (obj.entry_uuid, canonical)
        elif canonical != reference[1]:
            issues.append(
                issue(
                    ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                    obj.entry_uuid,
                    "patientId",
                    f"patientId {obj.patient_id} differs from {reference[1]} of {reference[0]}",
                )
            )
        if isinstance(obj, DocumentEntry):
            _source_patient_id(ctx, obj, canonical, issues)
    yield from issues


def _canonical(ctx: Context, object_id: str, attribute: str, value: str, issues: list[Issue]) -> str:
    """The canonical id, or the raw value (after recording why) when the profile refuses it."""
    try:
        return canonical_patient_id(value, ctx.profile)
    except IdentifierError as exc:
        code = ErrorCode.UNKNOWN_PATIENT_ID if exc.kind == "authority" else ErrorCode.REGISTRY_METADATA_ERROR
        issues.append(issue(code, object_id, attribute, str(exc)))
        return value.strip()


def _source_patient_id(ctx: Context, de: DocumentEntry, patient: str, issues: list[Issue]) -> None:
    value = de.source_patient_id
    if not value:
        return
    if not ctx.profile.source_patient_id_is_patient_id:
        # The source's own identifier: any CX, whatever its authority.
        try:
            parse_cx(value)
        except IdentifierError as exc:
            issues.append(metadata_error(de.entry_uuid, "sourcePatientId", str(exc)))
        return
    # DMP: sourcePatientId is the INS too (dmp-rules.md §(c)) and names the same patient.
    try:
        source = canonical_patient_id(value, ctx.profile)
    except IdentifierError as exc:
        issues.append(metadata_error(de.entry_uuid, "sourcePatientId", str(exc)))
        return
    if source != patient:
        issues.append(
            metadata_error(
                de.entry_uuid,
                "sourcePatientId",
                f"sourcePatientId {value} does not denote the patient {patient} of patientId",
            )
        )
