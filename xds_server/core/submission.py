"""Register semantics: turn a validated Submission into a RegistrationPlan against the current registry.

Theory of operation (ITI TF-2b 3.42.4.1.3 "Register Document Set-b", ITI TF-3 4.1 / 4.2.2 / 4.2.3)
----------------------------------------------------------------------------------------------------
``validation`` has already checked everything that needs no registry. Here we read the registry (through
``RegistryReader`` only) and decide, all or nothing:

0. Concurrency. Before the first read the planner locks (``RegistryReader.lock``) the stored objects its
   associations name and every uniqueId it submits, so that two submissions about the same entry or the
   same uniqueId run one after the other: on PostgreSQL (READ COMMITTED) two RPLC of one entry would
   otherwise both find it Approved and both replace it, and two submissions of one Folder or DocumentEntry
   uniqueId would both find it free.

1. Ids. Every symbolic id gets a fresh ``urn:uuid`` (``IdFactory``) and every reference (association
   source/target) is rewritten. A ``urn:uuid`` the submitter supplied must be new to the registry
   (NIST 15806; the NIST registry reports XDSRegistryMetadataError, so do we).
2. Patient. The SubmissionSet's patient id (canonical form, ``identifiers.canonical_patient_id``) must be
   in the patient directory, else XDSUnknownPatientId naming the id (NIST 11996). The record's state
   (opposed, closed ...) is the access policy's business, not this module's.
3. uniqueIds. A SubmissionSet or Folder uniqueId already in the registry -> XDSDuplicateUniqueIdInRegistry.
   A DocumentEntry uniqueId already in the registry is a resubmission of the same document only if hash
   (case-insensitive) and size are identical: it is then stored as one more entry (NIST 12004); otherwise
   XDSNonIdenticalHash / XDSNonIdenticalSize (ITI TF-3 4.2.3.2, DocumentEntry.uniqueId). A uniqueId held by
   an object of another kind is a duplicate too.
4. Associations to existing objects.
   - Document relationships (RPLC, APND, XFRM, XFRM_RPLC, signs, IsSnapshotOf; ITI TF-3 4.2.2.2): the
     target must exist (else XDSRegistryMetadataError), be a DocumentEntry of the same patient
     (XDSPatientIdDoesNotMatch, NIST 11998) and be Approved (XDSRegistryDeprecatedDocumentError, NIST
     11993 apnd_rplc). RPLC and XFRM_RPLC deprecate the target and, recursively, the APND/XFRM entries
     that point at a deprecated entry (NIST 12022, 11993/11994); the replacement joins every Approved
     Folder the target belongs to: the registry creates a Folder -> new entry HasMember and files it in
     the SubmissionSet with an SS -> association HasMember, like a submitter adding a document to a
     folder would (NIST 12327: GetFolderAndContents then returns both entries and both memberships).
   - HasMember Folder -> DocumentEntry (either end may exist already): both ends of the same patient
     (NIST 12002) and Approved; an existing Folder gets lastUpdateTime = now (NIST 12323, 12326).
   - HasMember SS -> existing DocumentEntry (SubmissionSetStatus Reference): the entry must exist and be
     Approved; like the NIST registry we allow it to belong to another patient (a reference, not a member).
5. Statuses. Every new object is Approved, lid = id, version 1; new Folders get lastUpdateTime = now
   whatever the submitter sent (NIST 12323). Patient ids of new SS/DE/Folder are stored in canonical form.

Nothing is written here: the use case writes the plan only when no error was found.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

from xds_server.core.absent import unknown_association_end
from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.metadata import (
    AnyObject,
    Association,
    DocumentEntry,
    Folder,
    Submission,
    SubmissionSet,
    is_uuid_id,
)
from xds_server.core.ports import IdFactory, RegistryReader, StoredDocumentIdentity
from xds_server.core.profile import DomainProfile
from xds_server.core.vocabulary import (
    RELATIONSHIP_TYPES,
    REPLACEMENT_TYPES,
    AssociationType,
    Status,
)

_HAS_MEMBER = AssociationType.HAS_MEMBER.value
_RELATIONSHIPS = frozenset(t.value for t in RELATIONSHIP_TYPES)
_REPLACEMENTS = frozenset(t.value for t in REPLACEMENT_TYPES)
#: Entries that follow their target into deprecation (ITI TF-3 4.2.2.2, NIST 12022: an addendum or a
#: transformation of a replaced document is deprecated with it).
_FOLLOWERS = (AssociationType.APPEND.value, AssociationType.TRANSFORM.value)
_APPROVED = Status.APPROVED.value


@dataclass(frozen=True, slots=True)
class RegistrationPlan:
    """What the registry will write for one submission, ids final."""

    #: New objects (SubmissionSet, DocumentEntries, Folders, Associations incl. registry-made ones).
    objects: tuple[AnyObject, ...]
    #: Existing entries to set Deprecated (replaced targets and their APND/XFRM followers).
    deprecate: tuple[str, ...]
    #: Existing Folders that get a new member: their lastUpdateTime becomes ``now``.
    touch_folders: tuple[str, ...]
    now: str
    #: Submitted id -> final id, for every object of the submission that had an id.
    id_map: tuple[tuple[str, str], ...]
    warnings: tuple[Issue, ...] = ()

    def final_id(self, submitted_id: str) -> str:
        return dict(self.id_map).get(submitted_id, submitted_id)


@dataclass(frozen=True, slots=True)
class _End:
    """One end of an association as the registry sees it (an object of the message or a stored one)."""

    kind: str
    status: str
    patient_id: str | None
    stored: bool


def plan_registration(
    sub: Submission,
    *,
    profile: DomainProfile,
    reader: RegistryReader,
    ids: IdFactory,
    now: str,
) -> RegistrationPlan:
    """Decide the registration of a validated submission; raise XdsError listing every problem found."""
    planner = _Planner(sub, profile, reader, ids, now)
    return planner.run()


class _Planner:
    def __init__(
        self, sub: Submission, profile: DomainProfile, reader: RegistryReader, ids: IdFactory, now: str
    ) -> None:
        ss = sub.submission_set
        if ss is None:
            raise ValueError("plan_registration needs a validated submission (exactly one SubmissionSet)")
        self.sub, self.ss, self.profile, self.reader, self.ids, self.now = sub, ss, profile, reader, ids, now
        self.issues: list[Issue] = []
        self.patient = self._canonical(ss.patient_id or "")
        self.id_map: dict[str, str] = {}
        self.deprecate: list[str] = []
        self.touch: list[str] = []
        self.extra: list[Association] = []

    # -- driver ------------------------------------------------------------------------------------
    def run(self) -> RegistrationPlan:
        self._lock()
        self._assign_ids()
        self._check_patient()
        self._check_unique_ids()
        ends = self._resolve_ends()
        for assoc in self.sub.associations:
            self._check_association(assoc, ends)
        if any(i.is_error for i in self.issues):
            raise XdsError(self.issues)
        objects = (*self._final_objects(), *self.extra)
        return RegistrationPlan(
            objects=objects,
            deprecate=tuple(dict.fromkeys(self.deprecate)),
            touch_folders=tuple(dict.fromkeys(self.touch)),
            now=self.now,
            id_map=tuple(self.id_map.items()),
            warnings=tuple(i for i in self.issues if not i.is_error),
        )

    def _lock(self) -> None:
        self.reader.lock_patient(self.patient)  # first: the order every writer and a merge agree on
        in_message = {o.entry_uuid for o in self.sub.objects() if o.entry_uuid}
        stored = {
            ref
            for a in self.sub.associations
            for ref in (a.source, a.target)
            if ref and ref not in in_message and is_uuid_id(ref)
        }
        owners: list[SubmissionSet | DocumentEntry | Folder] = [
            self.ss,
            *self.sub.documents,
            *self.sub.folders,
        ]
        unique_ids = {o.unique_id for o in owners if o.unique_id}
        self.reader.lock(sorted(stored), sorted(unique_ids))

    def _error(self, code: ErrorCode, object_id: str, attribute: str, message: str) -> None:
        self.issues.append(Issue(code, message, f"{object_id}/{attribute}" if attribute else object_id))

    def _canonical(self, patient_id: str) -> str:
        try:
            return canonical_patient_id(patient_id, self.profile)
        except IdentifierError:
            return patient_id.strip()  # validation reported it; keep comparing the raw value

    # -- 1. ids -------------------------------------------------------------------------------------
    def _assign_ids(self) -> None:
        self.issues.extend(assign_ids(self.sub.objects(), self.id_map, self.ids, self.reader))

    # -- 2. patient ---------------------------------------------------------------------------------
    def _check_patient(self) -> None:
        if self.reader.patient_state(self.patient) is None:
            self._error(
                ErrorCode.UNKNOWN_PATIENT_ID,
                self.ss.entry_uuid,
                "patientId",
                f"patient id {self.patient} is not known to the registry (no patient identity feed)",
            )

    # -- 3. uniqueIds -------------------------------------------------------------------------------
    def _check_unique_ids(self) -> None:
        owners: list[SubmissionSet | DocumentEntry | Folder] = [
            self.ss,
            *self.sub.documents,
            *self.sub.folders,
        ]
        unique_ids = {o.unique_id for o in owners if o.unique_id}
        if not unique_ids:
            return
        packages_in_use = self.reader.package_unique_ids_in_use(unique_ids)
        stored_documents: dict[str, list[StoredDocumentIdentity]] = {}
        for doc in self.reader.documents_by_unique_id(unique_ids):
            stored_documents.setdefault(doc.unique_id, []).append(doc)
        for obj in owners:
            uid = obj.unique_id
            if not uid:
                continue
            if uid in packages_in_use or (not isinstance(obj, DocumentEntry) and uid in stored_documents):
                self._error(
                    ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
                    obj.entry_uuid,
                    "uniqueId",
                    f"uniqueId {uid} is already used in the registry",
                )
            elif isinstance(obj, DocumentEntry) and uid in stored_documents:
                self._check_resubmission(obj, uid, stored_documents[uid])

    def _check_resubmission(self, de: DocumentEntry, uid: str, stored: list[StoredDocumentIdentity]) -> None:
        new_hash = (de.hash or "").lower()
        if any((s.hash or "").lower() != new_hash for s in stored):
            self._error(
                ErrorCode.NON_IDENTICAL_HASH,
                de.entry_uuid,
                "hash",
                f"DocumentEntry uniqueId {uid} is registered with hash {stored[0].hash}, not {de.hash}",
            )
        if any((s.size or "").strip() != (de.size or "").strip() for s in stored):
            self._error(
                ErrorCode.NON_IDENTICAL_SIZE,
                de.entry_uuid,
                "size",
                f"DocumentEntry uniqueId {uid} is registered with size {stored[0].size}, not {de.size}",
            )

    # -- 4. associations ----------------------------------------------------------------------------
    def _resolve_ends(self) -> dict[str, _End]:
        ends: dict[str, _End] = {}
        for obj in self.sub.objects():
            if obj.entry_uuid:
                patient = getattr(obj, "patient_id", None)
                ends[obj.entry_uuid] = _End(
                    kind=type(obj).__name__,
                    status=_APPROVED,
                    patient_id=self.patient if patient is not None else None,
                    stored=False,
                )
        external = {r for a in self.sub.associations for r in (a.source, a.target) if r and r not in ends}
        for entry_uuid, summary in self.reader.summaries(external).items():
            ends[entry_uuid] = _End(summary.kind, summary.status, summary.patient_id, stored=True)
        return ends

    def _check_association(self, a: Association, ends: Mapping[str, _End]) -> None:
        name = a.entry_uuid or f"{a.source}->{a.target}"
        source, target = ends.get(a.source), ends.get(a.target)
        ends_found: tuple[tuple[Literal["sourceObject", "targetObject"], _End | None], ...] = (
            ("sourceObject", source),
            ("targetObject", target),
        )
        for end, resolved in ends_found:
            if resolved is None:
                self.issues.append(unknown_association_end(a, end))
        if source is None or target is None:
            return
        if a.association_type in _RELATIONSHIPS:
            self._relationship(a, name, target)
        elif a.association_type == _HAS_MEMBER:
            self._has_member(a, name, source, target)

    def _relationship(self, a: Association, name: str, target: _End) -> None:
        if target.kind != "DocumentEntry":
            self._error(
                ErrorCode.REGISTRY_METADATA_ERROR,
                name,
                "targetObject",
                f"the target {a.target} of a {_short(a)} is a {target.kind}, not a DocumentEntry",
            )
            return
        if target.patient_id != self.patient:
            self._error(
                ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                name,
                "targetObject",
                f"the target {a.target} of a {_short(a)} belongs to patient {target.patient_id}, "
                f"the submission to {self.patient}",
            )
        if target.status != _APPROVED:
            self._error(
                ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR,
                name,
                "targetObject",
                f"the target {a.target} of a {_short(a)} is {target.status.rsplit(':', 1)[-1]}, not Approved",
            )
            return
        if a.association_type in _REPLACEMENTS:
            self._replace(a)

    def _replace(self, a: Association) -> None:
        self.deprecate.append(a.target)
        self.deprecate.extend(self._followers(a.target))
        new_entry = self.id_map.get(a.source, a.source)
        already_in = {
            self.id_map.get(x.source, x.source)
            for x in self.sub.associations
            if x.association_type == _HAS_MEMBER and x.target == a.source
        }
        memberships = self.reader.associations_touching([a.target], [_HAS_MEMBER])
        holders = [m.source for m in memberships if m.target == a.target and m.source is not None]
        folders = self.reader.summaries(holders)
        for folder_id in holders:
            folder = folders.get(folder_id)
            if (
                folder is None
                or folder.kind != "Folder"
                or folder.status != _APPROVED
                or folder_id in already_in
            ):
                continue
            already_in.add(folder_id)
            membership = self._new_association(folder_id, new_entry)
            self.extra.append(membership)
            self.extra.append(self._new_association(self.id_map[self.ss.entry_uuid], membership.entry_uuid))
            self.touch.append(folder_id)

    def _followers(self, replaced: str) -> list[str]:
        """APND/XFRM entries pointing at ``replaced``, then at those, ... that are still Approved."""
        found: list[str] = []
        seen = {replaced}
        frontier = [replaced]
        while frontier:
            links = self.reader.associations_touching(frontier, _FOLLOWERS)
            targets = set(frontier)
            frontier = []
            for link in links:
                if link.target in targets and link.source is not None and link.source not in seen:
                    seen.add(link.source)
                    frontier.append(link.source)
                    found.append(link.source)
        summaries = self.reader.summaries(found)
        return [
            f
            for f in found
            if f in summaries and summaries[f].kind == "DocumentEntry" and summaries[f].status == _APPROVED
        ]

    def _has_member(self, a: Association, name: str, source: _End, target: _End) -> None:
        if a.source == self.ss.entry_uuid:
            if target.stored:
                # SubmissionSetStatus=Reference (validation): an existing, Approved DocumentEntry.
                self._existing_member(a, name, target, "a SubmissionSet reference", check_patient=False)
            return
        # Folder -> DocumentEntry; either end may already be stored.
        if source.kind != "Folder":
            self._error(
                ErrorCode.REGISTRY_METADATA_ERROR,
                name,
                "sourceObject",
                f"the source {a.source} of a HasMember is a {source.kind}, not a Folder",
            )
            return
        if source.stored:
            if source.status != _APPROVED:
                self._error(
                    ErrorCode.REGISTRY_METADATA_ERROR,
                    name,
                    "sourceObject",
                    f"Folder {a.source} is not Approved",
                )
            if source.patient_id != self.patient:
                self._error(
                    ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                    name,
                    "sourceObject",
                    f"Folder {a.source} is of patient {source.patient_id}, the submission of {self.patient}",
                )
            self.touch.append(a.source)
        if target.stored:
            self._existing_member(a, name, target, "a Folder member", check_patient=True)

    def _existing_member(
        self, a: Association, name: str, target: _End, role: str, *, check_patient: bool
    ) -> None:
        if target.kind != "DocumentEntry":
            self._error(
                ErrorCode.REGISTRY_METADATA_ERROR,
                name,
                "targetObject",
                f"{role} must be a DocumentEntry: {a.target} is a {target.kind}",
            )
            return
        if target.status != _APPROVED:
            self._error(
                ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR,
                name,
                "targetObject",
                f"DocumentEntry {a.target} is Deprecated and cannot become {role}",
            )
        if check_patient and target.patient_id != self.patient:
            self._error(
                ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                name,
                "targetObject",
                f"DocumentEntry {a.target} is of patient {target.patient_id}, not {self.patient}",
            )

    def _new_association(self, source: str, target: str) -> Association:
        return new_membership(self.ids, source, target)

    # -- 5. final objects ---------------------------------------------------------------------------
    def _final_objects(self) -> Iterable[AnyObject]:
        for obj in self.sub.objects():
            final = self.id_map.get(obj.entry_uuid) if obj.entry_uuid else None
            final = final or self.ids.new_uuid()
            if isinstance(obj, Association):
                yield dataclasses.replace(
                    _registered(obj, final),
                    source=self.id_map.get(obj.source, obj.source),
                    target=self.id_map.get(obj.target, obj.target),
                )
            elif isinstance(obj, Folder):
                yield dataclasses.replace(
                    _registered(obj, final), patient_id=self.patient, last_update_time=self.now
                )
            elif isinstance(obj, DocumentEntry):
                yield dataclasses.replace(_registered(obj, final), patient_id=self.patient)
            else:
                yield dataclasses.replace(_registered(obj, final), patient_id=self.patient)


def assign_ids(
    objects: Iterable[AnyObject],
    id_map: dict[str, str],
    ids: IdFactory,
    reader: RegistryReader,
    *,
    message_suffix: str = "",
) -> list[Issue]:
    """Fill ``id_map`` for ``objects``: a symbolic id gets a fresh ``urn:uuid``, a supplied one is kept.

    A supplied ``urn:uuid`` must be new to the registry (NIST 15806): one XDSRegistryMetadataError per id
    already stored, ``message_suffix`` appended to its message. Shared by ITI-42 and ITI-57 planning.
    """
    supplied: list[str] = []
    for obj in objects:
        if not obj.entry_uuid:
            continue  # an anonymous Association: given an id when built
        if is_uuid_id(obj.entry_uuid):
            supplied.append(obj.entry_uuid)
            id_map[obj.entry_uuid] = obj.entry_uuid
        else:
            id_map.setdefault(obj.entry_uuid, ids.new_uuid())
    return [
        Issue(
            ErrorCode.REGISTRY_METADATA_ERROR,
            f"id {existing} is already used by an object of the registry{message_suffix}",
            f"{existing}/id",
        )
        for existing in reader.summaries(supplied)
    ]


def new_membership(ids: IdFactory, source: str, target: str) -> Association:
    """A HasMember the registry makes itself (a replacement joining the Folders of the replaced entry, a new
    version joining those of the previous one): Approved, version 1, lid = entryUUID."""
    entry_uuid = ids.new_uuid()
    return Association(
        entry_uuid=entry_uuid,
        logical_id=entry_uuid,
        version="1",
        status=_APPROVED,
        association_type=_HAS_MEMBER,
        source=source,
        target=target,
    )


_O = TypeVar("_O", DocumentEntry, SubmissionSet, Folder, Association)


def _registered(obj: _O, final_id: str) -> _O:
    """First version of a new object: Approved, version 1, lid = entryUUID (as Metadata Update defines it)."""
    return dataclasses.replace(obj, entry_uuid=final_id, logical_id=final_id, version="1", status=_APPROVED)


def _short(a: Association) -> str:
    return a.association_type.rsplit(":", 1)[-1]


__all__ = ["RegistrationPlan", "assign_ids", "new_membership", "plan_registration"]
