"""An in-memory ``QueryPort`` over model objects: the rules read straight off the rule book, object by object,
with no SQL. Tests run the engine on it (pure core tests) and compare it with ``SqlQueryPort``.

Objects are given in registration order (``seq``); their ``status``, ``logical_id`` and ``version`` are
taken as stored. Visibility uses ``VisibilityScope.admits`` (the policy's own predicate).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from xds_server.core.dtm import normalise_dtm
from xds_server.core.metadata import AnyObject, Association, DocumentEntry, Folder, SubmissionSet
from xds_server.core.policy.record import facts_from_entry
from xds_server.core.query import (
    AssociationCriteria,
    DocumentCriteria,
    FolderCriteria,
    ObjectRow,
    SubmissionSetCriteria,
    TimeRange,
    Visibility,
)
from xds_server.core.query.criteria import sees_everything
from xds_server.core.vocabulary import AssociationType, Status

APPROVED = Status.APPROVED.value
HAS_MEMBER = AssociationType.HAS_MEMBER.value


def like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


def in_set(value: str | None, allowed: frozenset[str] | None) -> bool:
    return allowed is None or (value is not None and value in allowed)


def in_range(value: str | None, bounds: TimeRange) -> bool:
    return bounds.contains(normalise_dtm(value))


def all_groups(keys: Iterable[str], groups: tuple[frozenset[str], ...]) -> bool:
    have = set(keys)
    return all(have & group for group in groups)


class FakeQueryPort:
    def __init__(self, objects: Sequence[AnyObject]) -> None:
        self.objects = list(objects)
        self.by_id = {o.entry_uuid: o for o in self.objects}

    # ---- helpers -----------------------------------------------------------------------------------------

    def _latest(self, obj: AnyObject) -> bool:
        lid, version = obj.logical_id or obj.entry_uuid, int(obj.version or 1)
        return not any(
            (o.logical_id or o.entry_uuid) == lid and int(o.version or 1) > version for o in self.objects
        )

    def document_visible(self, d: DocumentEntry, scope: Visibility) -> bool:
        if sees_everything(scope):
            return True
        if not scope.record_allowed:
            return False
        if scope.patient_id is not None and d.patient_id != scope.patient_id:
            return False
        return scope.admits(dataclasses.replace(facts_from_entry(d), status=d.status or APPROVED))

    def _package_visible(self, package: AnyObject, scope: Visibility) -> bool:
        if sees_everything(scope):
            return True
        if not scope.record_allowed:
            return False
        if scope.patient_id is not None and package.patient_id != scope.patient_id:
            return False
        members = self._document_members(package.entry_uuid)
        return not members or any(self.document_visible(d, scope) for d in members)

    def _document_members(self, package: str) -> list[DocumentEntry]:
        """DocumentEntries the package holds: HasMember targets, and ends of its member Associations."""
        found: list[DocumentEntry] = []
        for a in self.objects:
            if not (isinstance(a, Association) and a.source == package and a.association_type == HAS_MEMBER):
                continue
            target = self.by_id.get(a.target)
            ends = (
                [target]
                if not isinstance(target, Association)
                else [
                    self.by_id.get(target.source),
                    self.by_id.get(target.target),
                ]
            )
            found.extend(e for e in ends if isinstance(e, DocumentEntry))
        return found

    def _end_visible(self, end: str, scope: Visibility) -> bool:
        if sees_everything(scope):
            return True
        if not scope.record_allowed:
            return False
        obj = self.by_id.get(end)
        if isinstance(obj, DocumentEntry) and not self.document_visible(obj, scope):
            return False
        if isinstance(obj, Association):
            for inner in (obj.source, obj.target):
                inner_obj = self.by_id.get(inner)
                if isinstance(inner_obj, DocumentEntry) and not self.document_visible(inner_obj, scope):
                    return False
        if isinstance(obj, SubmissionSet | Folder) and not self._package_visible(obj, scope):
            return False
        patient = getattr(obj, "patient_id", None)
        return not (scope.patient_id is not None and patient is not None and patient != scope.patient_id)

    @staticmethod
    def _row(obj: AnyObject, with_xml: bool) -> ObjectRow:
        xml = f'<X id="{obj.entry_uuid}"/>' if with_xml else None
        if isinstance(obj, Association):
            return ObjectRow(
                obj.entry_uuid,
                "Association",
                obj.status or APPROVED,
                xml=xml,
                association_type=obj.association_type,
                source=obj.source,
                target=obj.target,
            )
        kind = "DocumentEntry" if isinstance(obj, DocumentEntry) else type(obj).__name__
        last_update = normalise_dtm(obj.last_update_time) if isinstance(obj, Folder) else None
        return ObjectRow(
            obj.entry_uuid,
            kind,  # type: ignore[arg-type]
            obj.status or APPROVED,
            patient_id=obj.patient_id,
            xml=xml,
            last_update_time=last_update,
        )

    # ---- QueryPort ---------------------------------------------------------------------------------------

    def find_documents(
        self, criteria: DocumentCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]:
        c = criteria
        out = []
        for d in self.objects:
            if not isinstance(d, DocumentEntry):
                continue

            def key(code: object) -> str | None:
                return None if code is None else code.key()  # type: ignore[attr-defined]

            ok = (
                in_set(d.patient_id, c.patient_ids)
                and in_set(d.entry_uuid, c.entry_uuids)
                and in_set(d.unique_id, c.unique_ids)
                and in_set(d.logical_id or d.entry_uuid, c.logical_ids)
                and in_set(d.status or APPROVED, c.statuses)
                and in_set(d.object_type, c.object_types)
                and in_set(key(d.class_code), c.class_codes)
                and in_set(key(d.type_code), c.type_codes)
                and in_set(key(d.practice_setting_code), c.practice_setting_codes)
                and in_set(key(d.healthcare_facility_type_code), c.healthcare_facility_type_codes)
                and in_set(key(d.format_code), c.format_codes)
                and all_groups((x.key() for x in d.event_codes), c.event_codes)
                and all_groups((x.key() for x in d.confidentiality_codes), c.confidentiality_codes)
                and all_groups(d.reference_ids, c.reference_ids)
                and (
                    c.author_persons is None
                    or any(a.person and like(p, a.person) for a in d.authors for p in c.author_persons)
                )
                and in_range(d.creation_time, c.creation_time)
                and in_range(d.service_start_time, c.service_start_time)
                and in_range(d.service_stop_time, c.service_stop_time)
                and (not c.latest_only or self._latest(d))
                and self.document_visible(d, scope)
            )
            if ok:
                out.append(self._row(d, with_xml))
        return out[:limit]

    def find_submission_sets(
        self, criteria: SubmissionSetCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]:
        c = criteria
        out = []
        for ss in self.objects:
            if not isinstance(ss, SubmissionSet):
                continue
            ok = (
                in_set(ss.patient_id, c.patient_ids)
                and in_set(ss.entry_uuid, c.entry_uuids)
                and in_set(ss.unique_id, c.unique_ids)
                and in_set(ss.status or APPROVED, c.statuses)
                and in_set(ss.source_id, c.source_ids)
                and in_set(ss.content_type_code.key() if ss.content_type_code else None, c.content_type_codes)
                and (
                    c.author_persons is None
                    or any(a.person and like(p, a.person) for a in ss.authors for p in c.author_persons)
                )
                and in_range(ss.submission_time, c.submission_time)
                and self._package_visible(ss, scope)
            )
            if ok:
                out.append(self._row(ss, with_xml))
        return out[:limit]

    def find_folders(
        self, criteria: FolderCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]:
        c = criteria
        out = []
        for f in self.objects:
            if not isinstance(f, Folder):
                continue
            ok = (
                in_set(f.patient_id, c.patient_ids)
                and in_set(f.entry_uuid, c.entry_uuids)
                and in_set(f.unique_id, c.unique_ids)
                and in_set(f.logical_id or f.entry_uuid, c.logical_ids)
                and in_set(f.status or APPROVED, c.statuses)
                and all_groups((x.key() for x in f.codes), c.codes)
                and in_range(f.last_update_time, c.last_update_time)
                and (not c.latest_only or self._latest(f))
                and self._package_visible(f, scope)
            )
            if ok:
                out.append(self._row(f, with_xml))
        return out[:limit]

    def find_associations(
        self, criteria: AssociationCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]:
        c = criteria
        out = []
        for a in self.objects:
            if not isinstance(a, Association):
                continue
            ok = (
                in_set(a.source, c.sources)
                and in_set(a.target, c.targets)
                and in_set(a.association_type, c.types)
                and in_set(a.status or APPROVED, c.statuses)
                and (c.touching is None or a.source in c.touching or a.target in c.touching)
                and self._end_visible(a.source, scope)
                and self._end_visible(a.target, scope)
            )
            if ok:
                out.append(self._row(a, with_xml))
        return out[:limit]

    def find_registrations(
        self,
        entry_uuids: frozenset[str],
        *,
        scope: Visibility,
        statuses: frozenset[str] | None,
        with_xml: bool,
    ) -> list[tuple[str, ObjectRow]]:
        out = []
        for a in self.objects:
            if not isinstance(a, Association) or a.association_type != HAS_MEMBER:
                continue
            entry, package = self.by_id.get(a.target), self.by_id.get(a.source)
            if not (isinstance(entry, DocumentEntry) and isinstance(package, SubmissionSet)):
                continue
            # the package test too, which the SQL leaves out (a visible member implies it): the
            # differential test then shows the two readings agree
            ok = (
                a.target in entry_uuids
                and in_set(a.status or APPROVED, statuses)
                and self.document_visible(entry, scope)
                and self._package_visible(package, scope)
            )
            if ok:
                out.append((a.target, self._row(package, with_xml)))
        return out
