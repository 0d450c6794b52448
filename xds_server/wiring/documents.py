"""A record's documents seen by one actor, and the metadata updates he makes on them, whatever the face
(the FHIR DocumentReference routes, the web portal).

Reads go through ``wiring.access.query_scope`` (the record gate, then the visibility scope the query engine
compiles to SQL: a document hidden from the actor does not exist for him), contents through
``retrieve_authorizer`` and the ITI-43 use case. An update (masking, status, the PDSm archive flag) is ONE
ITI-57 SubmissionSet checked by ``check_update`` (the same DMP rules as a SOAP ITI-57: the patient side may
only add or remove MASQUE_PS) and applied by the ``update_plan`` use case, in the caller's transaction so
the face's audit hook traces it there.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Final

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.metadata import Association, Author, Code, DocumentEntry, Slot, Submission, SubmissionSet
from xds_server.core.policy import AccessContext
from xds_server.core.policy.record import MASQUE_PS
from xds_server.core.ports import VersionedRegistryStore
from xds_server.core.query import DocumentCriteria
from xds_server.core.query.fetch import Fetcher
from xds_server.core.usecases.register import dtm_now
from xds_server.core.usecases.retrieve import DocumentRequest, RetrievedDocument, retrieve
from xds_server.core.usecases.update import update_plan
from xds_server.core.vocabulary import DMP_VISIBILITY_OID, AssociationType, ObjectType, SlotName, Status
from xds_server.wiring.access import check_update, query_scope, retrieve_authorizer
from xds_server.wiring.reads import decoded
from xds_server.wiring.services import Services, UnitOfWork

__all__ = [
    "PATIENT_SLOT",
    "PS_NATIONAL_ID_OID",
    "document_by_logical_id",
    "is_masked",
    "record_documents",
    "retrieve_visible",
    "set_masked",
    "update_entry",
    "update_submission",
]

PATIENT_SLOT: Final = "$XDSDocumentEntryPatientId"
#: The IDNPS assigning authority (a professional's national id in an XCN).
PS_NATIONAL_ID_OID: Final = "1.2.250.1.71.4.2.1"
_BOTH_TYPES: Final = frozenset({ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value})
_MASQUE_PS_CODE: Final = Code("MASQUE_PS", DMP_VISIBILITY_OID, "Masqué aux professionnels de santé")


def _fetcher(services: Services, work: UnitOfWork, slots: Sequence[Slot], actor: AccessContext) -> Fetcher:
    scope = query_scope(services, actor, work, slots)
    if work.queries is None:
        raise RuntimeError("UnitOfWork.queries is not wired: the composition root must provide it")
    return Fetcher(work.queries, scope=scope, cap=services.settings.query_result_limit, with_xml=True)


def _patient_slots(patient_id: str) -> tuple[Slot, ...]:
    return (Slot(PATIENT_SLOT, (f"'{patient_id}'",)),)


def record_documents(
    services: Services, actor: AccessContext, work: UnitOfWork, patient_id: str
) -> list[DocumentEntry]:
    """The latest version of every approved document of ``patient_id`` the actor may see (XdsError when
    the record is refused to him), newest first."""
    fetch = _fetcher(services, work, _patient_slots(patient_id), actor)
    rows = fetch.documents(
        DocumentCriteria(
            patient_ids=frozenset({patient_id}),
            statuses=frozenset({Status.APPROVED.value}),
            object_types=_BOTH_TYPES,
            latest_only=True,
        )
    )
    entries = [e for e in (decoded(r) for r in rows) if isinstance(e, DocumentEntry)]
    return sorted(entries, key=lambda e: e.creation_time or "", reverse=True)


def document_by_logical_id(
    services: Services, actor: AccessContext, work: UnitOfWork, patient_id: str, logical_id: str
) -> DocumentEntry | None:
    """The latest version of one document of ``patient_id`` the actor may see; None when there is none
    (unknown, hidden, another record's: one answer)."""
    wanted = logical_id.strip().lower()
    if not wanted.startswith("urn:uuid:"):
        wanted = f"urn:uuid:{wanted}"
    fetch = _fetcher(services, work, _patient_slots(patient_id), actor)
    rows = fetch.documents(
        DocumentCriteria(
            patient_ids=frozenset({patient_id}),
            logical_ids=frozenset({wanted}),
            object_types=_BOTH_TYPES,
            latest_only=True,
        )
    )
    found = [e for e in (decoded(r) for r in rows) if isinstance(e, DocumentEntry)]
    return found[0] if len(found) == 1 else None


def retrieve_visible(
    services: Services, actor: AccessContext, work: UnitOfWork, entry: DocumentEntry
) -> RetrievedDocument | None:
    """The stored content of ``entry`` when the ITI-43 rules let the actor retrieve it; None otherwise."""
    if services.blobs is None or not entry.unique_id:
        return None
    request = DocumentRequest(entry.repository_unique_id or "", entry.unique_id)
    authorize = retrieve_authorizer(services, actor, work, [request])
    result = retrieve(
        [request],
        index=work.documents,
        blobs=services.blobs,
        repository_unique_id=services.settings.repository_unique_id,
        authorize=authorize,
    )
    return result.documents[0] if result.documents else None


def is_masked(entry: DocumentEntry) -> bool:
    """Hidden from professionals by the patient side (MASQUE_PS)."""
    return any(c.key() == MASQUE_PS for c in entry.confidentiality_codes)


def _author(actor: AccessContext | None) -> tuple[Author, ...]:
    if actor is None or not actor.national_id:
        return ()
    person = f"{actor.national_id}^^^^^^^^&{PS_NATIONAL_ID_OID}&ISO"
    institutions = (f"^^^^^^^^^{actor.structure_id}",) if actor.structure_id else ()
    return (Author(person=person, institutions=institutions),)


def update_submission(
    services: Services,
    actor: AccessContext | None,
    entries: Sequence[tuple[DocumentEntry, str | None, tuple[Code, ...] | None, tuple[Slot, ...] | None]],
) -> Submission:
    """ONE ITI-57 request for the changes of these entries: ``(entry, status, labels, slots)`` each, None
    meaning unchanged. A labels or slots change is a new version of the entry (new entryUUID, same logical
    id, PreviousVersion = the version read), a status change an UpdateAvailabilityStatus of it. All the
    entries are of one patient (one SubmissionSet)."""
    first = entries[0][0]
    package = SubmissionSet(
        entry_uuid="SubmissionSet01",
        patient_id=first.patient_id,
        unique_id=f"2.25.{uuid.uuid4().int}",
        source_id=services.settings.repository_unique_id,
        submission_time=dtm_now(services.clock),
        authors=_author(actor),
        content_type_code=first.class_code,
    )
    documents: list[DocumentEntry] = []
    associations: list[Association] = []
    for n, (entry, status, labels, slots) in enumerate(entries, start=1):
        target = entry.entry_uuid
        if labels is not None or slots is not None:
            symbol = f"Document{n:02d}"
            documents.append(
                dataclasses.replace(
                    entry,
                    entry_uuid=symbol,
                    logical_id=entry.logical_id or entry.entry_uuid,
                    version=None,
                    status=None,
                    confidentiality_codes=labels if labels is not None else entry.confidentiality_codes,
                    extra_slots=slots if slots is not None else entry.extra_slots,
                )
            )
            associations.append(
                Association(
                    entry_uuid=f"Association{n:02d}a",
                    association_type=AssociationType.HAS_MEMBER.value,
                    source="SubmissionSet01",
                    target=symbol,
                    slots=(
                        Slot(SlotName.SUBMISSION_SET_STATUS.value, ("Original",)),
                        Slot(SlotName.PREVIOUS_VERSION.value, (entry.version or "1",)),
                    ),
                )
            )
            target = symbol
        if status is not None and status != entry.status:
            associations.append(
                Association(
                    entry_uuid=f"Association{n:02d}b",
                    association_type=AssociationType.UPDATE_AVAILABILITY_STATUS.value,
                    source="SubmissionSet01",
                    target=target,
                    slots=(
                        Slot(SlotName.ORIGINAL_STATUS.value, (entry.status or Status.APPROVED.value,)),
                        Slot(SlotName.NEW_STATUS.value, (status,)),
                    ),
                )
            )
    return Submission(
        submission_sets=(package,), documents=tuple(documents), associations=tuple(associations)
    )


def update_entry(
    services: Services, actor: AccessContext | None, work: UnitOfWork, submission: Submission
) -> dict[str, str]:
    """Check ``submission`` (an ``update_submission``) with the DMP rules of ITI-57 and apply it in the
    open transaction; the map of its symbolic ids to the new entryUUIDs. XdsError when refused."""
    check_update(services, actor, work, submission)
    registry = work.registry
    if not isinstance(registry, VersionedRegistryStore):
        raise XdsError.single(ErrorCode.REGISTRY_ERROR, "this registry store does not support ITI-57")
    plan = update_plan(
        submission, store=registry, profile=services.profile, clock=services.clock, ids=services.ids
    )
    return dict(plan.id_map)


def set_masked(
    services: Services,
    actor: AccessContext,
    work: UnitOfWork,
    entries: Sequence[DocumentEntry],
    masked: bool,
) -> int:
    """Hide ``entries`` from professionals (MASQUE_PS) or show them again, in ONE ITI-57 request (the
    patient's « masquer tout » is one change); how many changed. Entries already as asked are left alone.
    The DMP rules decide (the patient side toggles MASQUE_PS only): XdsError when refused."""
    changes: list[tuple[DocumentEntry, str | None, tuple[Code, ...] | None, tuple[Slot, ...] | None]] = []
    for entry in entries:
        if is_masked(entry) == masked:
            continue
        kept = tuple(c for c in entry.confidentiality_codes if c.key() != MASQUE_PS)
        labels = (*kept, _MASQUE_PS_CODE) if masked else kept
        changes.append((entry, None, labels, None))
    if not changes:
        return 0
    update_entry(services, actor, work, update_submission(services, actor, changes))
    return len(changes)
