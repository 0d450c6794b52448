"""The DMP rules on every transaction, SOAP or FHIR: ``core.policy`` decisions applied by the handlers.

Theory of operation (issue 7; docs/errors.md lists the codes). The protocol face has authenticated the caller
(``soap.security`` for WS-Security, ``fhir_api.auth`` for bearer tokens) and passes the verified actor; each
handler calls one function here inside its database transaction,
before its use case runs (ITI-41 also calls ``precheck_submission`` earlier, before its documents are stored:
the record-level gate alone, so that a refused upload leaves no blob). In the ``ihe`` profile every function
returns "everything allowed" (PolicyMode.IHE: any authenticated actor has full access); in the ``dmp``
profiles:

* binding first: the assertion's resource-id must name the patient of the request (the query's patient
  parameters, the submission's patient), checked BEFORE the record is read, so a professional bound to one
  patient cannot learn whether another has a DMP (DMPAccessDenied either way);
* writes (ITI-42 / ITI-41 ``check_submission``, ITI-57 ``check_update``, ITI-62 ``check_removal``): the record
  gate ``Policy.decide_record_write`` (no record, opposed and closed give ONE answer, XDSUnknownPatientId
  "DMP closed or does not exist"; a blocked professional is refused), then ``Policy.decide_write`` per
  document: DEPOSIT for a new document, REPLACE / APPEND for RPLC, XFRM_RPLC / APND, UPDATE_MASKING when an
  ITI-57 version changes only the confidentialityCodes, UPDATE_METADATA otherwise, DEPRECATE for an
  availability-status change or a removal;
* ITI-18 (``query_scope``): the record named by the query's patient parameter (the assertion's patient for
  the Get* queries, which name none) goes through ``decide_record_access`` (refusal: the whole query fails);
  the parameter is read by ``core.query.named_patients``, the very reading the query engine runs on
  (``identifiers.canonical_patient_id`` under the profile, as for a submission's patientId), so the record
  checked and the documents selected are those of one patient whatever spelling the caller used;
  then ``visibility_scope`` becomes the query engine's ``Visibility``, compiled to SQL by
  storage/query_sql.py, so a hidden document is absent from entries, ObjectRefs, associations, package
  contents and counts. ``include_deprecated`` is set: the query's own status parameter decides about
  Deprecated entries (they are "asked for" exactly when the query asks for them);
* ITI-43 (``retrieve_authorizer``): the record of the assertion's patient; refused record access fails the
  whole request (before any document is looked at, so nothing tells which uniqueIds exist); a document not
  in the actor's scope (hidden, or another patient's) is answered exactly like an unknown uniqueId.

A document the actor may not see does not exist for him, even as the target of a write (an association end,
an RPLC/APND original, an ITI-57 version or status target, an ITI-62 object), nor does any object of another
record: such a reference, and any refusal the policy marks ``conceal``, is reported with the very
RegistryError the registry gives for an absent object (one source for both: core/absent.py). Feeding needs
no consent, so for writes "may see" is the document rules alone (``_writer_sees``). Every other refusal is
the policy's own RegistryError, whose message helps the professional act.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Collection, Iterable, Sequence

from xds_server.core.absent import (
    unknown_association_end,
    unknown_document,
    unknown_logical_id,
    unknown_object,
    unknown_status_target,
)
from xds_server.core.audit import AuditEntity, EntityRole
from xds_server.core.blobs import StoredDocument
from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.metadata import Association, DocumentEntry, Slot, Submission, is_uuid_id
from xds_server.core.policy import (
    AccessContext,
    ActorKind,
    DocumentFacts,
    Policy,
    RecordSettings,
    WriteOperation,
    facts_from_entry,
)
from xds_server.core.policy.decision import WRONG_PATIENT
from xds_server.core.ports import VersionedRegistryStore
from xds_server.core.profile import DomainProfile
from xds_server.core.query import (
    EVERYTHING,
    PATIENT_PARAMETERS,
    DocumentCriteria,
    QueryPort,
    Visibility,
    named_patients,
)
from xds_server.core.usecases.retrieve import Authorize, DocumentRequest, allow_all
from xds_server.core.vocabulary import AssociationType
from xds_server.ebxml.codec import decode_object_xml
from xds_server.wiring.services import AccessControl, Services, UnitOfWork


def may_feed_patients(services: Services, actor: AccessContext | None) -> bool:
    """Patient Identity Feed FHIR (ITI-104): may the actor create, update and merge patients? Deny by
    default: without access control or actor, no. The ``ihe`` profile lets any authenticated actor feed; the
    DMP profiles only a system actor (an establishment's identity source), never a professional, a patient or
    a legal representative. (ITI-8 over MLLP has no actor: its listener is reachable by the network the
    operator opens, with TLS client certificates when ``--tls-client-ca`` is set.)"""
    access = services.access
    if access is None or actor is None:
        return False
    if not access.enforces_dmp:
        return True
    return actor.actor_kind is ActorKind.SYSTEM


__all__ = [
    "PATIENT_PARAMETERS",
    "check_removal",
    "check_submission",
    "check_update",
    "directory_visible",
    "may_feed_patients",
    "precheck_submission",
    "query_scope",
    "retrieve_authorizer",
]

#: Relationship associations that act on an existing document (the others deposit a new one).
_RELATION_OPERATIONS = {
    AssociationType.REPLACE.value: WriteOperation.REPLACE,
    AssociationType.TRANSFORM_REPLACE.value: WriteOperation.REPLACE,
    AssociationType.APPEND.value: WriteOperation.APPEND,
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Stored:
    """An existing DocumentEntry as the rules see it."""

    entry: DocumentEntry
    facts: DocumentFacts
    patient_id: str | None


def _enforcing(services: Services, actor: AccessContext | None) -> tuple[AccessControl, AccessContext] | None:
    """The access control and actor when the DMP rules apply; None when they do not (the ``ihe`` profile,
    or no access control at all: the faces refuse every request then, so only direct calls get here)."""
    access = services.access
    if access is None or not access.enforces_dmp:
        return None
    if actor is None:  # the router authenticates before any handler: fail closed all the same
        raise XdsError.single(ErrorCode.REGISTRY_ERROR, "the request was not authenticated")
    return access, actor


def _canonical(patient_id: str, profile: DomainProfile) -> str:
    try:
        return canonical_patient_id(patient_id, profile)
    except IdentifierError:
        return patient_id.strip()  # validation reports it; the record lookup then finds nothing


def _note_patient(work: UnitOfWork, patient_id: str | None, profile: DomainProfile) -> None:
    """Note on the request's trail (wiring.audit) the record the request is about."""
    if work.trail is not None and patient_id:
        work.trail.patient(_canonical(patient_id, profile))


def _note_submission(
    work: UnitOfWork, submission: Submission, profile: DomainProfile, *, created: bool
) -> None:
    """Note on the request's trail the patient, the submission set and the documents of a submission
    (``created``: new DocumentEntries, which the patient is told about)."""
    trail = work.trail
    if trail is None:
        return
    package = submission.submission_set
    if package is not None:
        _note_patient(work, package.patient_id, profile)
        if package.unique_id:
            trail.entity(AuditEntity(EntityRole.SUBMISSION_SET, package.unique_id))
    for doc in submission.documents:
        trail.document(doc.unique_id, [c.key() for c in doc.confidentiality_codes], created=created)


def _represented_patient(actor: AccessContext, stored: Sequence[StoredDocument]) -> str | None:
    """A legal representative's token names the patients he says he represents, not one patient: the record
    is that patient's when he names one (whatever the ids asked for, so the answer tells no id exists), else
    the one patient of the documents asked for among those he names. The policy then checks he is
    registered as that patient's representative."""
    if actor.actor_kind is not ActorKind.LEGAL_REPRESENTATIVE:
        return None
    if len(actor.represented) == 1:
        return next(iter(actor.represented))
    patients = {document.patient_id for document in stored}
    if len(patients) != 1:
        return None
    (patient,) = patients
    return patient if patient in actor.represented else None


def _record(access: AccessControl, work: UnitOfWork, patient_id: str | None) -> RecordSettings | None:
    if patient_id is None:
        return None
    if work.records is None:
        raise RuntimeError("UnitOfWork.records is not wired: the composition root must provide it")
    return work.records.load(patient_id, access.today())


def _queries(work: UnitOfWork) -> QueryPort:
    if work.queries is None:
        raise RuntimeError("UnitOfWork.queries is not wired: the composition root must provide it")
    return work.queries


def _stored(work: UnitOfWork, entry_uuids: Collection[str]) -> dict[str, _Stored]:
    """The stored DocumentEntries among ``entry_uuids`` (any status; other kinds and unknown ids absent)."""
    wanted = frozenset(u for u in entry_uuids if is_uuid_id(u))
    if not wanted:
        return {}
    rows = _queries(work).find_documents(
        DocumentCriteria(entry_uuids=wanted), scope=EVERYTHING, limit=len(wanted) + 1, with_xml=True
    )
    found: dict[str, _Stored] = {}
    for row in rows:
        entry = decode_object_xml(row.xml or "")
        if isinstance(entry, DocumentEntry):
            # the row's status is authoritative (the XML keeps the status at registration)
            facts = dataclasses.replace(facts_from_entry(entry), status=row.status)
            found[row.entry_uuid] = _Stored(entry, facts, row.patient_id)
    return found


def _refuse(issues: Sequence[Issue]) -> None:
    if issues:
        raise XdsError(list(dict.fromkeys(issues)))


def _bind(actor: AccessContext, patient_id: str) -> None:
    """The assertion's resource-id must name the patient of the request. Checked before the record is read,
    so that a professional bound to one patient cannot learn whether another patient has a DMP."""
    if actor.actor_kind is ActorKind.PROFESSIONAL and actor.patient_ins != patient_id:
        raise XdsError([Issue(ErrorCode.DMP_ACCESS_DENIED, WRONG_PATIENT)])


def _submission_record(
    access: AccessControl,
    actor: AccessContext,
    work: UnitOfWork,
    submission: Submission,
    profile: DomainProfile,
) -> RecordSettings | None:
    """The record of the submission's patient after the binding and the write gate; None when there is no
    SubmissionSet patient (validation refuses such a submission with its own errors)."""
    package = submission.submission_set
    if package is None or not package.patient_id:
        return None
    patient = _canonical(package.patient_id, profile)
    _bind(actor, patient)
    record = _record(access, work, patient)
    access.policy.decide_record_write(actor, record).raise_if_denied()
    return record


def _writer_sees(
    policy: Policy, actor: AccessContext, record: RecordSettings | None, stored: _Stored
) -> bool:
    """Whether a document exists for a writer: it is of this record and the document rules (author,
    MASQUE_PS, matrix) let him see it. Feeding needs no consent, so the rules are evaluated as if consent were
    declared (the record-level basis is a reading matter); emergency modes still hide MASQUE_PS."""
    if record is None or stored.patient_id != record.patient_id:
        return False
    consented = dataclasses.replace(record, authorised=record.authorised | {actor.national_id})
    return policy.decide_document_visibility(actor, consented, stored.facts, include_deprecated=True).allowed


# ---- ITI-42 / ITI-41 ------------------------------------------------------------------------------------


def precheck_submission(services: Services, actor: AccessContext | None, submission: Submission) -> None:
    """ITI-41, before the documents are made durable: the binding and the record-level write gate alone, in a
    short read-only transaction of its own, so that an upload the record refuses leaves no blob behind (gc
    would collect it, but only after its grace period). Raise XdsError if refused. ``check_submission``
    still runs every rule in the registry transaction: the record may change in between."""
    enforcing = _enforcing(services, actor)
    if enforcing is None:
        return
    access, actor = enforcing
    with services.for_reading().transaction() as work:
        _note_submission(work, submission, services.profile, created=True)
        _submission_record(access, actor, work, submission, services.profile)


def check_submission(
    services: Services, actor: AccessContext | None, work: UnitOfWork, submission: Submission
) -> None:
    """ITI-42 / ITI-41: may the actor feed this record with these documents? Raise XdsError if not."""
    _note_submission(work, submission, services.profile, created=True)
    enforcing = _enforcing(services, actor)
    if enforcing is None:
        return
    access, actor = enforcing
    package = submission.submission_set
    if package is None or not package.patient_id:
        return
    record = _submission_record(access, actor, work, submission, services.profile)
    policy = access.policy
    new_ids = {o.entry_uuid for o in submission.objects() if o.entry_uuid}
    ends = {e for a in submission.associations for e in (a.source, a.target) if e not in new_ids}
    stored = _stored(work, ends)
    hidden = {u for u, found in stored.items() if not _writer_sees(policy, actor, record, found)}
    issues: list[Issue] = []
    # an association reaching a stored document the actor cannot see: that document does not exist for him
    for a in submission.associations:
        if a.source in hidden:
            issues.append(unknown_association_end(a, "sourceObject"))
        if a.target in hidden:
            issues.append(unknown_association_end(a, "targetObject"))
    relations: dict[str, tuple[WriteOperation, Association]] = {}
    for a in submission.associations:
        operation = _RELATION_OPERATIONS.get(a.association_type)
        if operation is not None:
            relations.setdefault(a.source, (operation, a))
    for doc in submission.documents:
        operation, relation = relations.get(doc.entry_uuid, (WriteOperation.DEPOSIT, None))
        original = stored.get(relation.target) if relation is not None else None
        if relation is not None and relation.target in hidden:
            continue  # reported above, as absent
        if original is None:
            # no stored target: the registry reports the reference; the new document is still a deposit
            operation = WriteOperation.DEPOSIT
        decision = policy.decide_write(
            actor,
            record,
            facts_from_entry(doc),
            operation,
            original=original.facts if original is not None else None,
        )
        if decision.allowed:
            continue
        if decision.conceal and relation is not None:
            issues.append(unknown_association_end(relation, "targetObject"))
        else:
            issues.append(decision.issue(doc.entry_uuid))
    _refuse(issues)


# ---- ITI-57 -------------------------------------------------------------------------------------------


def _only_masking(new: DocumentEntry, old: DocumentEntry) -> bool:
    """The new version differs from the old one in its confidentialityCodes only (anything else, or a
    comparison that cannot tell, counts as a metadata change: the stricter rule)."""
    same_identity = dataclasses.replace(
        new,
        entry_uuid=old.entry_uuid,
        logical_id=old.logical_id,
        version=old.version,
        status=old.status,
        home=old.home,
        confidentiality_codes=old.confidentiality_codes,
    )
    return same_identity == old and new.confidentiality_codes != old.confidentiality_codes


def check_update(
    services: Services, actor: AccessContext | None, work: UnitOfWork, submission: Submission
) -> None:
    """ITI-57: new versions (masking changes to the author, his structure and the administrator doctors,
    other changes to the author and his structure) and availability-status changes (author, structure)."""
    _note_submission(work, submission, services.profile, created=False)
    enforcing = _enforcing(services, actor)
    if enforcing is None:
        return
    access, actor = enforcing
    if submission.submission_set is None:
        return  # the update rules refuse it
    record = _submission_record(access, actor, work, submission, services.profile)
    registry = work.registry
    lids = {d.logical_id for d in submission.documents if d.logical_id}
    latest = registry.latest_versions(lids) if lids and isinstance(registry, VersionedRegistryStore) else {}
    status_changes = [
        a for a in submission.associations if a.association_type == AssociationType.UPDATE_AVAILABILITY_STATUS
    ]
    stored = _stored(work, {s.entry_uuid for s in latest.values()} | {a.target for a in status_changes})
    policy = access.policy
    issues: list[Issue] = []
    for doc in submission.documents:
        previous = latest.get(doc.logical_id) if doc.logical_id else None
        original = stored.get(previous.entry_uuid) if previous is not None else None
        new_facts = facts_from_entry(doc)
        if original is None:
            decision = policy.decide_write(actor, record, new_facts, WriteOperation.DEPOSIT)
        elif not _writer_sees(policy, actor, record, original):
            issues.append(_unknown_lid(doc))
            continue
        else:
            operation = (
                WriteOperation.UPDATE_MASKING
                if _only_masking(doc, original.entry)
                else WriteOperation.UPDATE_METADATA
            )
            decision = policy.decide_write(actor, record, new_facts, operation, original=original.facts)
        if not decision.allowed:
            issues.append(_unknown_lid(doc) if decision.conceal else decision.issue(doc.entry_uuid))
    for index, a in enumerate(status_changes, start=1):
        target = stored.get(a.target)
        if target is None:
            continue  # not a DocumentEntry (Folder, SubmissionSet) or unknown: the update rules answer
        if not _writer_sees(policy, actor, record, target):
            issues.append(unknown_status_target(a, index))
            continue
        decision = policy.decide_write(actor, record, target.facts, WriteOperation.DEPRECATE)
        if not decision.allowed:
            issues.append(unknown_status_target(a, index) if decision.conceal else decision.issue(a.target))
    _refuse(issues)


def _unknown_lid(doc: DocumentEntry) -> Issue:
    return unknown_logical_id(doc.entry_uuid, doc.logical_id or "")


# ---- ITI-62 -------------------------------------------------------------------------------------------


def check_removal(
    services: Services, actor: AccessContext | None, work: UnitOfWork, entry_uuids: Iterable[str]
) -> None:
    """ITI-62: removing a DocumentEntry is a deprecation in the rules' terms (author or author's structure),
    on an open record named by the assertion; an entry hidden from the actor, or any object of another
    record, is answered like an unknown object."""
    wanted = tuple(dict.fromkeys(entry_uuids))
    if work.trail is not None:
        _note_patient(work, actor.patient_ins if actor is not None else None, services.profile)
        for entry_uuid in wanted:
            work.trail.document(entry_uuid)
    enforcing = _enforcing(services, actor)
    if enforcing is None:
        return
    access, actor = enforcing
    record = _record(access, work, actor.patient_ins)
    access.policy.decide_record_write(actor, record).raise_if_denied()
    assert record is not None  # the gate refuses a missing record
    summaries = work.registry.summaries(wanted)
    stored = _stored(work, wanted)
    issues: list[Issue] = []
    for entry_uuid in wanted:
        if entry_uuid in stored:
            found = stored[entry_uuid]
            if _writer_sees(access.policy, actor, record, found):
                decision = access.policy.decide_write(actor, record, found.facts, WriteOperation.DEPRECATE)
                if not decision.allowed and not decision.conceal:
                    issues.append(decision.issue(entry_uuid))
                if decision.allowed or not decision.conceal:
                    continue
        elif entry_uuid not in summaries or summaries[entry_uuid].patient_id in (None, record.patient_id):
            continue  # unknown (check_removal answers) or an object of this record
        issues.append(unknown_object(entry_uuid))
    _refuse(issues)


# ---- ITI-18 -------------------------------------------------------------------------------------------


def query_scope(
    services: Services, actor: AccessContext | None, work: UnitOfWork, slots: Sequence[Slot]
) -> Visibility:
    """ITI-18 / ITI-51: the visibility scope of the query, or XdsError when the record is refused."""
    # the patients the query names, for its trace; refused ids fail the query below (the trace then names
    # the assertion's patient)
    with contextlib.suppress(XdsError):
        for patient_id in named_patients(slots, services.profile):
            _note_patient(work, patient_id, services.profile)
    enforcing = _enforcing(services, actor)
    if enforcing is None:
        return EVERYTHING
    access, actor = enforcing
    # the ids the query itself runs on (core.query reads them as the submission path does): a spelling
    # of the patient is that patient, an id the profile refuses fails the query here with the query's error
    named = named_patients(slots, services.profile)
    for name in named:
        _bind(actor, name)
    # the Get* queries name no patient: they read the assertion's record, and the scope (bound to that
    # patient) hides the objects of every other record
    record = _record(access, work, named[0] if named else actor.patient_ins)
    access.policy.decide_record_access(actor, record).raise_if_denied()
    return access.policy.visibility_scope(actor, record, include_deprecated=True)


# ---- ITI-43 -------------------------------------------------------------------------------------------


def retrieve_authorizer(
    services: Services, actor: AccessContext | None, work: UnitOfWork, requests: Sequence[DocumentRequest]
) -> Authorize:
    """ITI-43: the per-document decision (a hidden or foreign document is an unknown uniqueId); XdsError
    when the actor may not consult the record named by his assertion at all."""
    if work.trail is not None:
        _note_patient(work, actor.patient_ins if actor is not None else None, services.profile)
        for document_request in requests:
            work.trail.document(document_request.document_unique_id.strip())
    enforcing = _enforcing(services, actor)
    if enforcing is None:
        return allow_all
    access, actor = enforcing
    repository = services.settings.repository_unique_id
    stored = work.documents.documents({r.document_unique_id.strip() for r in requests}, repository)
    record = _record(access, work, actor.patient_ins or _represented_patient(actor, stored))
    access.policy.decide_record_access(actor, record).raise_if_denied()
    scope = access.policy.visibility_scope(actor, record, include_deprecated=True)
    entry_uuids = frozenset(d.entry_uuid for d in stored)
    visible: set[str] = set()
    if entry_uuids:
        rows = _queries(work).find_documents(
            DocumentCriteria(entry_uuids=entry_uuids), scope=scope, limit=len(entry_uuids) + 1, with_xml=False
        )
        visible = {row.entry_uuid for row in rows}

    def authorize(document_request: DocumentRequest, document: StoredDocument) -> Issue | None:
        if document.entry_uuid in visible:
            return None
        return unknown_document(document_request.document_unique_id.strip())

    return authorize


# ---- patient directory (FHIR Patient read / search) ----------------------------------------------------


def directory_visible(services: Services, actor: AccessContext | None, patient_id: str, state: str) -> bool:
    """May the actor learn that this (canonical) patient is in the directory? In the DMP profiles a patient
    and his legal representatives see his own entry only, a professional only the patient his token is bound
    to and only while the record is open (an opposed or closed record does not exist for professionals, as
    the SOAP write gate answers); a system actor sees every entry. The ``ihe`` profile shows every entry to
    any authenticated actor. Anything else answers like an unknown patient."""
    enforcing = _enforcing(services, actor)
    if enforcing is None:
        return True
    _access, who = enforcing
    if who.actor_kind is ActorKind.SYSTEM:
        return True
    if who.actor_kind is ActorKind.PATIENT:
        return who.patient_ins == patient_id
    if who.actor_kind is ActorKind.LEGAL_REPRESENTATIVE:
        return patient_id in who.represented
    return who.patient_ins == patient_id and state in ("created", "activated")
