"""Metadata Update (ITI-57) and Delete Document Set (ITI-62): the registry-side rules, pure.

Theory of operation (ITI TF-2b 3.57 "Update Document Set", the Metadata Update supplement; ITI TF-2b 3.62
"Delete Document Set"; ebRS 3.0 RemoveObjectsRequest; NIST tests 15800-15802b, 20000-20008, 20100a/b,
21000-21004, 30000-30008)
----------------------------------------------------------------------------------------------------------
Versions. Every DocumentEntry, Folder and Association has a logical id (``lid``) and a version; the first
version has lid = entryUUID and version 1 (core.submission). ITI-57 never submits a first version.

An ITI-57 SubmitObjectsRequest holds one new SubmissionSet (stored like an ITI-42 one: new uniqueId, known
patient, Approved) and the operations it expresses, all checked before anything is written (all or nothing):

1. Update DocumentEntry / Folder metadata (3.57.4.1.3.3.1, .3.3.3): the object of the message is a complete
   new version: new entryUUID, ``lid`` = the logical id it updates, same uniqueId and objectType (else
   XDSMetadataUpdateError). The SS -> object HasMember carries ``PreviousVersion`` = the version the
   submitter saw, optional ``AssociationPropagation`` yes|no (default yes) and, for entries,
   ``SubmissionSetStatus`` Original. The registry gives the new version version = latest + 1 and the
   status the latest version had, and deprecates the latest version. Errors:
   - no lid, or lid = the object's own id (a first version through ITI-57: 15800c, 20000b):
     XDSMetadataUpdateError;
   - lid unknown (15800b) or PreviousVersion not the latest version (15800e, 20000c): XDSMetadataVersionError;
   - PreviousVersion missing or not a version number, AssociationPropagation not yes/no, status slots on a
     HasMember (20002b), two updates of one lid in one message (20007): XDSMetadataUpdateOperationError.
   Every attribute but uniqueId, lid and objectType may change (15801: hash and size too). The patient id may
   change when the object is linked to no other object of the registry: a DocumentEntry in no Folder and in
   no document relationship, a Folder without members (21002, 21003); otherwise XDSPatientIdDoesNotMatch.
   Association propagation: the new version takes over the Folder memberships of the one it replaces
   (Folder -> entry for an entry, Folder -> entries for a Folder; new Approved HasMember associations, not
   filed in the SubmissionSet: 20000d expects only the SS -> Folder association there).
2. Update availability status (3.57.4.1.3.3.2): Association UpdateAvailabilityStatus SS -> target with
   ``OriginalStatus`` and ``NewStatus`` (Approved <-> Deprecated, different, nothing else: 20002, else
   XDSMetadataUpdateOperationError). The target is a DocumentEntry, Folder or Association, never a
   SubmissionSet (21001); an existing DocumentEntry or Folder must be the latest version of its lid (15802b);
   the target may also be a new version or a submitted association of the same message (20004, 20005).
   OriginalStatus must be the target's current status (20003, 20004): XDSMetadataUpdateError otherwise.
3. Submit Association (3.57.4.1.3.3.4): Association SubmitAssociation SS -> an Association of the message,
   which links existing objects (or new versions): a Folder -> DocumentEntry HasMember or a document
   relationship. Its ends must resolve (XDSRegistryMetadataError), be Approved (21004,
   XDSRegistryDeprecatedDocumentError) and belong to the patient of the SubmissionSet (20100a/b,
   XDSPatientIdDoesNotMatch); an existing membership cannot be submitted again (20008). An end that is a new
   version updated with association propagation cannot be used (20006: XDSMetadataUpdateOperationError,
   CP-ITI-1029).
Every association of the message is stored (the SS -> operation associations record what was done).

Concurrency (as core/submission.py step 0). Before deciding anything the planner reads the latest version of
every lid it updates, locks those versions and every stored object its associations name (status-change
targets, ends of submitted associations) together with the SubmissionSet uniqueId (``RegistryReader.lock``),
then reads the latest versions again, and locks again while a concurrent transaction committed a newer one
meanwhile. An ITI-57 update, an RPLC / APND / Folder filing (which lock the entry they name) and an
UpdateAvailabilityStatus of the same entry therefore run one after the other: on PostgreSQL (READ
COMMITTED) an update could otherwise give the Approved status it read to a new version of an entry that a
concurrent RPLC had just replaced, leaving two Approved successors of one document. Every rule below then
reads what the earlier transaction committed: the later RPLC finds the entry Deprecated
(XDSRegistryDeprecatedDocumentError), the later update gives its new version the Deprecated status its
latest version now has, the later OriginalStatus check sees the new status.

ITI-62 (``check_removal``), all or nothing, as the NIST registry applies the Metadata Update rules:
- every id must name a registry object: UnresolvedReferenceException (30000);
- no Association that stays may reference a removed object: ReferencesExistException (30001, 30004-30008);
- no object that stays may lose its last reference when an Association is removed:
  XDSUnreferencedObjectException (30001, 30002, 30003).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from xds_server.core.absent import (
    status_operation_name,
    unknown_logical_id,
    unknown_object,
    unknown_status_target,
)
from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.metadata import (
    AnyObject,
    Association,
    DocumentEntry,
    Folder,
    Submission,
    is_uuid_id,
)
from xds_server.core.ports import IdFactory, ObjectSummary, RegistryReader
from xds_server.core.profile import DomainProfile
from xds_server.core.submission import assign_ids, new_membership, plan_registration
from xds_server.core.validation.context import issue
from xds_server.core.vocabulary import RELATIONSHIP_TYPES, AssociationType, SlotName, Status

__all__ = [
    "UpdatePlan",
    "VersionReader",
    "check_removal",
    "plan_update",
]

_HAS_MEMBER = AssociationType.HAS_MEMBER.value
_UAS = AssociationType.UPDATE_AVAILABILITY_STATUS.value
_SUBMIT = AssociationType.SUBMIT_ASSOCIATION.value
_RELATIONSHIPS = frozenset(t.value for t in RELATIONSHIP_TYPES)
_APPROVED = Status.APPROVED.value
_DEPRECATED = Status.DEPRECATED.value
_STATUSES = frozenset({_APPROVED, _DEPRECATED})
_STATUS_SLOTS = frozenset({SlotName.ORIGINAL_STATUS.value, SlotName.NEW_STATUS.value})
_VERSION_SLOTS = frozenset(
    {
        SlotName.PREVIOUS_VERSION.value,
        SlotName.ASSOCIATION_PROPAGATION.value,
        SlotName.SUBMISSION_SET_STATUS.value,
    }
)

#: Lock-then-reread rounds: each further round needs yet another version of one lid committed meanwhile;
#: past them the (logical_id, version) index still refuses a second version n + 1.
_LOCK_ROUNDS = 4

_OPERATION = ErrorCode.METADATA_UPDATE_OPERATION_ERROR
_UPDATE = ErrorCode.METADATA_UPDATE_ERROR
_VERSION = ErrorCode.METADATA_VERSION_ERROR


class VersionReader(RegistryReader, Protocol):
    def latest_versions(self, logical_ids: Collection[str]) -> dict[str, ObjectSummary]: ...


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """What the registry writes for one ITI-57 request, ids final."""

    #: New objects: the SubmissionSet, new versions, every association of the message, propagated memberships.
    objects: tuple[AnyObject, ...]
    #: Existing objects whose status changes: (entryUUID, new status).
    status_changes: tuple[tuple[str, str], ...]
    #: Existing Folders that get a new member (lastUpdateTime = now).
    touch_folders: tuple[str, ...]
    now: str
    id_map: tuple[tuple[str, str], ...]
    warnings: tuple[Issue, ...] = ()


@dataclass(frozen=True, slots=True)
class _End:
    """An object an operation points at: a new object of the message or a stored one."""

    entry_uuid: str  # final id
    kind: str
    status: str
    patient_id: str | None
    stored: bool
    logical_id: str | None = None
    propagating: bool = False  # a new version updated with association propagation


def plan_update(
    sub: Submission, *, profile: DomainProfile, reader: VersionReader, ids: IdFactory, now: str
) -> UpdatePlan:
    """Decide an ITI-57 request that ``validate_submission(..., transaction="ITI-57")`` accepted; raise
    XdsError listing every problem found."""
    return _UpdatePlanner(sub, profile, reader, ids, now).run()


class _UpdatePlanner:
    def __init__(
        self, sub: Submission, profile: DomainProfile, reader: VersionReader, ids: IdFactory, now: str
    ) -> None:
        ss = sub.submission_set
        if ss is None:
            raise ValueError("plan_update needs a validated submission (exactly one SubmissionSet)")
        self.sub, self.ss, self.profile, self.reader, self.ids, self.now = sub, ss, profile, reader, ids, now
        self.issues: list[Issue] = []
        self.id_map: dict[str, str] = {}
        self.objects: list[AnyObject] = []
        self.new_versions: dict[str, DocumentEntry | Folder] = {}  # submitted id -> new version
        self.ends: dict[str, _End] = {}  # submitted id -> end, for objects of the message
        self.status_changes: dict[str, str] = {}
        self.extra: list[Association] = []
        self.touch: list[str] = []
        self.patient = self._canonical(ss.patient_id or "")

    # -- driver --------------------------------------------------------------------------------------
    def run(self) -> UpdatePlan:
        self.reader.lock_patient(self.patient)  # first: the order every writer and a merge agree on
        latest = self._lock()
        self._register_submission_set()
        self._assign_ids()
        by_target = self._classify()
        self._versions(by_target, latest)
        submitted = self._submitted_associations()
        self._availability_updates()
        if any(i.is_error for i in self.issues):
            raise XdsError(self.issues)
        objects = [*self.objects, *self._new_versions(), *self._associations(submitted), *self.extra]
        return UpdatePlan(
            objects=tuple(objects),
            status_changes=tuple(self.status_changes.items()),
            touch_folders=tuple(dict.fromkeys(self.touch)),
            now=self.now,
            id_map=tuple(self.id_map.items()),
            warnings=tuple(i for i in self.issues if not i.is_error),
        )

    def _error(self, code: ErrorCode, object_id: str, attribute: str, message: str) -> None:
        self.issues.append(issue(code, object_id, attribute, message))

    def _canonical(self, patient_id: str) -> str:
        try:
            return canonical_patient_id(patient_id, self.profile)
        except IdentifierError:
            return patient_id.strip()  # validation reported it

    def _final(self, submitted_id: str) -> str:
        return self.id_map.get(submitted_id, submitted_id)

    # -- 0. concurrency: lock, then read what the transactions that held the locks committed ------------
    def _lock(self) -> dict[str, ObjectSummary]:
        """Lock the latest versions of the updated lids and the stored objects the associations name; return
        the latest versions as read once locked (a version committed meanwhile is locked in turn)."""
        in_message = {o.entry_uuid for o in self.sub.objects() if o.entry_uuid}
        named = {
            ref
            for a in self.sub.associations
            for ref in (a.source, a.target)
            if ref and ref not in in_message and is_uuid_id(ref)
        }
        lids = {
            o.logical_id
            for o in (*self.sub.documents, *self.sub.folders)
            if o.logical_id and o.logical_id != o.entry_uuid
        }
        latest = self.reader.latest_versions(lids) if lids else {}
        wanted = named | {v.entry_uuid for v in latest.values()}
        locked: set[str] = set()
        unique_ids = [self.ss.unique_id] if self.ss.unique_id else []
        for _ in range(_LOCK_ROUNDS):
            self.reader.lock(sorted(wanted - locked), unique_ids)
            locked |= wanted
            unique_ids = []  # held until the transaction ends
            latest = self.reader.latest_versions(lids) if lids else {}
            wanted = {v.entry_uuid for v in latest.values()}
            if wanted <= locked:
                break
        return latest

    # -- the SubmissionSet: registered exactly as on ITI-42 (id, known patient, new uniqueId) ---------
    def _register_submission_set(self) -> None:
        try:
            plan = plan_registration(
                Submission(submission_sets=(self.ss,)),
                profile=self.profile,
                reader=self.reader,
                ids=self.ids,
                now=self.now,
            )
        except XdsError as error:
            self.issues.extend(error.issues)
            self.id_map[self.ss.entry_uuid] = self.ss.entry_uuid
            return
        self.id_map.update(plan.id_map)
        self.objects.extend(plan.objects)

    def _assign_ids(self) -> None:
        # The SubmissionSet is not walked: _register_submission_set already gave it its id (and checked it).
        self.issues.extend(
            assign_ids(
                (*self.sub.documents, *self.sub.folders, *self.sub.associations),
                self.id_map,
                self.ids,
                self.reader,
                message_suffix=" (a new version needs a new id)",
            )
        )

    # -- which association is which operation --------------------------------------------------------
    def _classify(self) -> dict[str, Association]:
        """SS -> object HasMembers by target; rejects associations that are no operation of ITI-57."""
        ss_id = self.ss.entry_uuid
        in_message = {o.entry_uuid for o in (*self.sub.documents, *self.sub.folders)}
        submitted = {a.target for a in self.sub.associations if a.association_type == _SUBMIT}
        members: dict[str, Association] = {}
        for index, a in enumerate(self.sub.associations, start=1):
            name = a.entry_uuid or f"Association[{index}]"
            if a.association_type in (_UAS, _SUBMIT):
                if a.source != ss_id:
                    self._error(
                        _OPERATION,
                        name,
                        "sourceObject",
                        f"the source of a {_short(a)} must be the SubmissionSet",
                    )
                if a.association_type == _SUBMIT and a.target not in {
                    x.entry_uuid for x in self.sub.associations
                }:
                    self._error(
                        _OPERATION,
                        name,
                        "targetObject",
                        "a SubmitAssociation must target an Association of the message",
                    )
            elif a.association_type == _HAS_MEMBER and a.source == ss_id and a.target in in_message:
                members[a.target] = a
            elif a.entry_uuid and a.entry_uuid in submitted:
                pass  # checked in _submitted_associations
            else:
                self._error(
                    _OPERATION,
                    name,
                    "associationType",
                    f"a {_short(a)} {a.source} -> {a.target} is no Metadata Update operation (ITI-57 "
                    "carries new versions, UpdateAvailabilityStatus and SubmitAssociation only)",
                )
        return members

    # -- 1. new versions -----------------------------------------------------------------------------
    def _versions(self, members: Mapping[str, Association], latest: Mapping[str, ObjectSummary]) -> None:
        objects: list[DocumentEntry | Folder] = [*self.sub.documents, *self.sub.folders]
        seen: dict[str, str] = {}
        for obj in objects:
            member = members.get(obj.entry_uuid)
            if member is None:
                continue  # validation reported the missing membership
            slots_ok, previous_version, propagate = self._version_slots(obj.entry_uuid, member)
            lid = obj.logical_id
            if not lid or lid == obj.entry_uuid:
                self._error(
                    _UPDATE,
                    obj.entry_uuid,
                    "lid",
                    "ITI-57 submits new versions of existing objects (lid = their logical id); a first "
                    "version is registered with ITI-42",
                )
                continue
            if lid in seen:
                self._error(
                    _OPERATION,
                    obj.entry_uuid,
                    "lid",
                    f"{seen[lid]} already updates logical id {lid} in this request",
                )
                continue
            seen[lid] = obj.entry_uuid
            previous = latest.get(lid)
            if previous is None:
                self.issues.append(unknown_logical_id(obj.entry_uuid, lid))
                continue
            if not self._same_identity(obj, previous):
                continue
            if slots_ok and previous_version != previous.version:
                self._error(
                    _VERSION,
                    obj.entry_uuid,
                    SlotName.PREVIOUS_VERSION,
                    f"PreviousVersion {previous_version} is not the latest version "
                    f"({previous.version}) of {lid}",
                )
            self._new_version(obj, previous, propagate=propagate)

    def _version_slots(self, object_id: str, member: Association) -> tuple[bool, int, bool]:
        ok = True
        for slot in member.slots:
            if slot.name in _STATUS_SLOTS:
                self._error(
                    _OPERATION, object_id, slot.name, f"{slot.name} belongs on an UpdateAvailabilityStatus"
                )
                ok = False
        values = member.slot_values(SlotName.PREVIOUS_VERSION)
        previous = -1
        if len(values) != 1:
            self._error(
                _OPERATION,
                object_id,
                SlotName.PREVIOUS_VERSION,
                "PreviousVersion (one value) is required on an update",
            )
            ok = False
        elif not (values[0].strip().isascii() and values[0].strip().isdigit()) or int(values[0]) < 1:
            self._error(
                _OPERATION,
                object_id,
                SlotName.PREVIOUS_VERSION,
                f"PreviousVersion {values[0]!r} is not a version number",
            )
            ok = False
        else:
            previous = int(values[0])
        propagation = member.slot_values(SlotName.ASSOCIATION_PROPAGATION)
        if len(propagation) > 1 or (propagation and propagation[0].strip().lower() not in ("yes", "no")):
            self._error(
                _OPERATION,
                object_id,
                SlotName.ASSOCIATION_PROPAGATION,
                f"AssociationPropagation must be yes or no, not {', '.join(propagation)!r}",
            )
            ok = False
        propagate = not propagation or propagation[0].strip().lower() != "no"
        return ok, previous, propagate

    def _same_identity(self, obj: DocumentEntry | Folder, previous: ObjectSummary) -> bool:
        kind = type(obj).__name__
        if previous.kind != kind:
            self._error(
                _UPDATE,
                obj.entry_uuid,
                "lid",
                f"logical id {obj.logical_id} is a {previous.kind}, not a {kind}",
            )
            return False
        same = True
        if obj.unique_id != previous.unique_id:
            self._error(
                _UPDATE,
                obj.entry_uuid,
                "uniqueId",
                f"uniqueId {obj.unique_id} differs from {previous.unique_id} of the previous version: "
                "an update cannot change it",
            )
            same = False
        if (
            isinstance(obj, DocumentEntry)
            and previous.object_type
            and obj.object_type != previous.object_type
        ):
            self._error(
                _UPDATE,
                obj.entry_uuid,
                "objectType",
                "an update cannot change the objectType of a DocumentEntry",
            )
            same = False
        return same

    def _new_version(self, obj: DocumentEntry | Folder, previous: ObjectSummary, *, propagate: bool) -> None:
        final = self._final(obj.entry_uuid)
        memberships = self._memberships(previous)
        if previous.patient_id != self.patient:
            self._patient_change(obj, previous, memberships)
        new: DocumentEntry | Folder = dataclasses.replace(
            obj,
            entry_uuid=final,
            logical_id=previous.logical_id,
            version=str(previous.version + 1),
            status=previous.status,
            patient_id=self.patient,
        )
        if isinstance(new, Folder):
            new = dataclasses.replace(new, last_update_time=self.now)
        self.new_versions[obj.entry_uuid] = new
        self.ends[obj.entry_uuid] = _End(
            final, previous.kind, previous.status, self.patient, False, previous.logical_id, propagate
        )
        if previous.status != _DEPRECATED:
            self.status_changes[previous.entry_uuid] = _DEPRECATED
        if propagate:
            for m in memberships:
                if isinstance(new, Folder):
                    self.extra.append(self._membership(final, m.target or ""))
                else:
                    self.extra.append(self._membership(m.source or "", final))
                    self.touch.append(m.source or "")

    def _memberships(self, previous: ObjectSummary) -> list[ObjectSummary]:
        """Approved Folder memberships of the previous version (Folder -> it, or it -> entries)."""
        links = self.reader.associations_touching([previous.entry_uuid], [_HAS_MEMBER])
        if previous.kind == "Folder":
            return [m for m in links if m.source == previous.entry_uuid and m.status == _APPROVED]
        holders = [m for m in links if m.target == previous.entry_uuid and m.status == _APPROVED]
        kinds = self.reader.summaries([m.source for m in holders if m.source])
        return [
            m
            for m in holders
            if m.source in kinds and kinds[m.source].kind == "Folder" and kinds[m.source].status == _APPROVED
        ]

    def _patient_change(
        self, obj: DocumentEntry | Folder, previous: ObjectSummary, memberships: list[ObjectSummary]
    ) -> None:
        linked = bool(memberships)
        if isinstance(obj, DocumentEntry):
            relations = self.reader.associations_touching([previous.entry_uuid], _RELATIONSHIPS)
            linked = linked or any(r.status == _APPROVED for r in relations)
        if linked:
            self._error(
                ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                obj.entry_uuid,
                "patientId",
                f"the patient id of {previous.logical_id} cannot change from {previous.patient_id} to "
                f"{self.patient}: it is linked to other objects (Folder membership or document relationship)",
            )

    def _membership(self, source: str, target: str) -> Association:
        return new_membership(self.ids, source, target)

    # -- 3. submitted associations -------------------------------------------------------------------
    def _submitted_associations(self) -> dict[str, Association]:
        targets = {a.target for a in self.sub.associations if a.association_type == _SUBMIT}
        submitted = {a.entry_uuid: a for a in self.sub.associations if a.entry_uuid in targets}
        if not submitted:
            return submitted
        ends = self._resolve({r for a in submitted.values() for r in (a.source, a.target)})
        existing_memberships = self.reader.associations_touching(
            [e.entry_uuid for e in ends.values() if e.stored], [_HAS_MEMBER]
        )
        for name, a in submitted.items():
            if a.association_type != _HAS_MEMBER and a.association_type not in _RELATIONSHIPS:
                self._error(
                    ErrorCode.REGISTRY_METADATA_ERROR,
                    name,
                    "associationType",
                    "a SubmitAssociation may submit a HasMember or a document relationship, "
                    f"not {a.association_type!r}",
                )
                continue
            source, target = ends.get(a.source), ends.get(a.target)
            if source is None or target is None:
                for end, ref, found in (
                    ("sourceObject", a.source, source),
                    ("targetObject", a.target, target),
                ):
                    if found is None:
                        self._error(
                            ErrorCode.REGISTRY_METADATA_ERROR,
                            name,
                            end,
                            f"{end} {ref} is not in the registry",
                        )
                continue
            self._check_submitted(name, a, source, target, existing_memberships)
            if a.association_type == _HAS_MEMBER and source.stored:
                self.touch.append(source.entry_uuid)
            self.ends[name] = _End(self._final(name), "Association", _APPROVED, None, False)
        return submitted

    def _resolve(self, refs: Iterable[str]) -> dict[str, _End]:
        found = {r: self.ends[r] for r in refs if r in self.ends}
        stored = self.reader.summaries([r for r in refs if r not in found])
        for ref, summary in stored.items():
            found[ref] = _End(ref, summary.kind, summary.status, summary.patient_id, True, summary.logical_id)
        return found

    def _check_submitted(
        self, name: str, a: Association, source: _End, target: _End, memberships: list[ObjectSummary]
    ) -> None:
        wanted = ("Folder", "DocumentEntry") if a.association_type == _HAS_MEMBER else ("DocumentEntry",) * 2
        for end, resolved, kind in (("sourceObject", source, wanted[0]), ("targetObject", target, wanted[1])):
            if resolved.kind != kind:
                self._error(
                    ErrorCode.REGISTRY_METADATA_ERROR,
                    name,
                    end,
                    f"the {end} of a submitted {_short(a)} must be a {kind}, not a {resolved.kind}",
                )
            elif resolved.propagating:
                self._error(
                    _OPERATION,
                    name,
                    end,
                    f"{resolved.entry_uuid} is updated with association propagation in this request; "
                    "a submitted association cannot also link it (AssociationPropagation=no)",
                )
            elif resolved.status != _APPROVED:
                self._error(
                    ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR,
                    name,
                    end,
                    f"{resolved.entry_uuid} is Deprecated: a submitted association links Approved "
                    "objects only",
                )
            elif resolved.patient_id != self.patient:
                self._error(
                    ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                    name,
                    end,
                    f"{resolved.entry_uuid} belongs to patient {resolved.patient_id}, the SubmissionSet to "
                    f"{self.patient}",
                )
        duplicate = any(
            m.source == source.entry_uuid and m.target == target.entry_uuid and m.status == _APPROVED
            for m in memberships
        )
        if a.association_type == _HAS_MEMBER and duplicate:
            self._error(
                _UPDATE,
                name,
                "targetObject",
                f"{target.entry_uuid} is already a member of Folder {source.entry_uuid}",
            )

    # -- 2. availability status ----------------------------------------------------------------------
    def _availability_updates(self) -> None:
        operations = [a for a in self.sub.associations if a.association_type == _UAS]
        targets = self._resolve({a.target for a in operations})
        stored_lids = {e.logical_id for e in targets.values() if e.stored and e.logical_id}
        latest = self.reader.latest_versions(stored_lids) if stored_lids else {}
        updated_lids = {v.logical_id for v in self.new_versions.values()}
        done: set[str] = set()
        for index, a in enumerate(operations, start=1):
            name = status_operation_name(a, index)
            statuses = self._status_slots(name, a)
            target = targets.get(a.target)
            if target is None:
                self.issues.append(unknown_status_target(a, index))
                continue
            if target.entry_uuid in done:
                self._error(_OPERATION, name, "targetObject", f"two status updates of {target.entry_uuid}")
                continue
            done.add(target.entry_uuid)
            if not self._status_target(name, target, latest, updated_lids) or statuses is None:
                continue
            original, new = statuses
            current = self._current_status(a.target, target)
            if original != current:
                self._error(
                    _UPDATE,
                    name,
                    SlotName.ORIGINAL_STATUS,
                    f"OriginalStatus {_short_status(original)} is not the status of {target.entry_uuid} "
                    f"({_short_status(current)})",
                )
                continue
            self._set_status(a.target, target, new)

    def _status_slots(self, name: str, a: Association) -> tuple[str, str] | None:
        ok = True
        for slot in a.slots:
            if slot.name in _VERSION_SLOTS:
                self._error(
                    _OPERATION, name, slot.name, f"{slot.name} does not belong on an UpdateAvailabilityStatus"
                )
                ok = False
        values: list[str] = []
        for slot_name in (SlotName.ORIGINAL_STATUS, SlotName.NEW_STATUS):
            given = a.slot_values(slot_name)
            if len(given) != 1 or given[0].strip() not in _STATUSES:
                self._error(
                    _OPERATION,
                    name,
                    slot_name,
                    f"{slot_name} must be one status URN, Approved or Deprecated "
                    f"(given: {', '.join(given) or 'none'})",
                )
                ok = False
            else:
                values.append(given[0].strip())
        if ok and values[0] == values[1]:
            self._error(_OPERATION, name, SlotName.NEW_STATUS, "NewStatus equals OriginalStatus")
            ok = False
        return (values[0], values[1]) if ok else None

    def _status_target(
        self, name: str, target: _End, latest: Mapping[str, ObjectSummary], updated_lids: set[str | None]
    ) -> bool:
        if target.kind == "SubmissionSet":
            self._error(_UPDATE, name, "targetObject", "the status of a SubmissionSet cannot be updated")
            return False
        if not target.stored or target.kind == "Association":
            return True
        newest = latest.get(target.logical_id or "")
        if newest is None or newest.entry_uuid != target.entry_uuid:
            self._error(
                _UPDATE,
                name,
                "targetObject",
                f"{target.entry_uuid} is not the latest version of {target.logical_id}: only the latest "
                "version's status can change",
            )
            return False
        if target.logical_id in updated_lids:
            self._error(
                _OPERATION, name, "targetObject", f"{target.logical_id} is also updated by a new version here"
            )
            return False
        if target.patient_id != self.patient:
            self._error(
                ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
                name,
                "targetObject",
                f"{target.entry_uuid} belongs to patient {target.patient_id}, "
                f"the SubmissionSet to {self.patient}",
            )
            return False
        return True

    def _current_status(self, ref: str, target: _End) -> str:
        if target.stored:
            return self.status_changes.get(target.entry_uuid, target.status)
        version = self.new_versions.get(ref)
        return (version.status if version is not None else None) or target.status

    def _set_status(self, ref: str, target: _End, status: str) -> None:
        if target.stored:
            self.status_changes[target.entry_uuid] = status
        elif ref in self.new_versions:
            self.new_versions[ref] = dataclasses.replace(self.new_versions[ref], status=status)
        else:
            self.ends[ref] = dataclasses.replace(target, status=status)  # a submitted association

    # -- final objects -------------------------------------------------------------------------------
    def _new_versions(self) -> list[DocumentEntry | Folder]:
        return list(self.new_versions.values())

    def _associations(self, submitted: Mapping[str, Association]) -> list[Association]:
        result = []
        for a in self.sub.associations:
            final = self._final(a.entry_uuid) if a.entry_uuid else self.ids.new_uuid()
            status = self.ends[a.entry_uuid].status if a.entry_uuid in submitted else _APPROVED
            result.append(
                dataclasses.replace(
                    a,
                    entry_uuid=final,
                    logical_id=final,
                    version="1",
                    status=status,
                    source=self._final(a.source),
                    target=self._final(a.target),
                )
            )
        return result


# ---- ITI-62 -------------------------------------------------------------------------------------------


def check_removal(entry_uuids: Collection[str], reader: RegistryReader) -> tuple[str, ...]:
    """The ids to remove, in request order and once each; raise XdsError naming every broken rule."""
    wanted = tuple(dict.fromkeys(entry_uuids))
    if not wanted:
        raise XdsError.single(ErrorCode.REGISTRY_METADATA_ERROR, "the RemoveObjectsRequest lists no object")
    found = reader.summaries(wanted)
    issues = [unknown_object(i) for i in wanted if i not in found]
    if issues:
        raise XdsError(issues)
    removed = set(wanted)
    links = reader.associations_touching(wanted)
    for object_id in wanted:
        staying = [
            link.entry_uuid for link in links if _touches(link, object_id) and link.entry_uuid not in removed
        ]
        if staying:
            summary = found[object_id]
            issues.append(
                Issue(
                    ErrorCode.REFERENCES_EXIST,
                    f"{summary.kind} {object_id} is still referenced by {len(staying)} Association(s) "
                    f"that are not removed: {', '.join(staying)}",
                    object_id,
                )
            )
    ends = {
        end
        for summary in found.values()
        if summary.kind == "Association"
        for end in (summary.source, summary.target)
        if end and end not in removed
    }
    if ends:
        remaining = reader.associations_touching(ends)
        for end in sorted(ends):
            if not any(_touches(link, end) and link.entry_uuid not in removed for link in remaining):
                issues.append(
                    Issue(
                        ErrorCode.UNREFERENCED_OBJECT,
                        f"{end} would be left without any Association referencing it",
                        end,
                    )
                )
    if issues:
        raise XdsError(issues)
    return wanted


def _touches(link: ObjectSummary, object_id: str) -> bool:
    return link.source == object_id or link.target == object_id


def _short(a: Association) -> str:
    return a.association_type.rsplit(":", 1)[-1]


def _short_status(status: str) -> str:
    return status.rsplit(":", 1)[-1]
