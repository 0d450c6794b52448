"""ITI-66 Find Document Lists: List search -> ITI-18 FindSubmissionSets (``code=submissionset``) and
FindFolders (``code=folder``), and List read.

As for ITI-67 (document_search.py): the criteria are the engine's own (``SubmissionSetCriteria``,
``FolderCriteria``), read through its ``Fetcher`` (result cap, Metadata Update level 1) in the scope
``wiring.access.query_scope`` gives for the patient Slot the stored query would carry. Parameter mapping
(MHD ITI-66 §2:3.66.4.1.2.1): ``date`` -> submissionTime / lastUpdateTime; ``source.given/family`` ->
SubmissionSetAuthorPerson (ignored for folders, as MHD says); ``designationType`` -> contentTypeCode /
codeList; ``sourceId`` -> sourceId (ignored for folders); ``identifier`` / ``_id`` -> uniqueId / entryUUID;
``status`` current -> Approved, retired (or superseded) -> Deprecated. Both codes together run both
queries (SubmissionSets first). ``entry.item`` lists the members the actor may see (the scope hides the
others and the Associations reaching them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

from fhir_api.dates import intersect
from fhir_api.mapping.document_reference import ARCHIVED_SLOT, entry_uuid_of, resource_id
from fhir_api.mapping.lists import (
    FOLDER_CODE,
    LIST_TYPES,
    SUBMISSION_SET_CODE,
    Member,
    folder_list,
    submission_set_list,
)
from fhir_api.outcome import FhirError
from fhir_api.paging import Page, cursor, resume
from fhir_api.query import (
    author_patterns,
    check_modifiers,
    code_keys,
    dates,
    fetcher,
    identifiers,
    logical_ids,
    one_patient,
    patients,
    statuses,
    uri_values,
)
from fhir_api.search import SearchRequest, Token, or_values
from xds_server.core.metadata import Folder, Slot, SubmissionSet
from xds_server.core.policy import AccessContext
from xds_server.core.profile import DomainProfile
from xds_server.core.query import (
    AssociationCriteria,
    DocumentCriteria,
    FolderCriteria,
    ObjectRow,
    SubmissionSetCriteria,
)
from xds_server.core.query.fetch import Fetcher
from xds_server.core.vocabulary import AssociationType, ObjectType, Status
from xds_server.wiring import Services
from xds_server.wiring.access import query_scope
from xds_server.wiring.reads import decoded

PARAMETERS: Final = (
    "code",
    "patient",
    "patient.identifier",
    "status",
    "date",
    "source.given",
    "source.family",
    "designationType",
    "sourceId",
    "identifier",
    "_id",
    "_lastUpdated",
    "_lastupdated",
    "isArchived",
)
STATUS_FROM_FHIR: Final = {
    "current": Status.APPROVED.value,
    "retired": Status.DEPRECATED.value,
    "superseded": Status.DEPRECATED.value,
}
HAS_MEMBER: Final = frozenset({AssociationType.HAS_MEMBER.value})
_ALL_TYPES: Final = frozenset({ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value})


@dataclass(frozen=True, slots=True)
class ListSearch:
    patient_id: str | None
    kinds: tuple[str, ...]  # SUBMISSION_SET_CODE and/or FOLDER_CODE, in this order
    submission_sets: SubmissionSetCriteria
    folders: FolderCriteria
    identifiers: tuple[frozenset[str], ...] = ()
    archived: bool | None = None

    @property
    def slots(self) -> tuple[Slot, ...]:
        name = "$XDSSubmissionSetPatientId" if SUBMISSION_SET_CODE in self.kinds else "$XDSFolderPatientId"
        return (Slot(name, (f"'{self.patient_id}'",)),) if self.patient_id else ()


def _kinds(search: SearchRequest) -> tuple[str, ...]:
    check_modifiers(search, "code", frozenset({None}))
    found = search.values("code")
    if not found:
        raise FhirError.invalid("ITI-66 needs code: submissionset or folder (IHE MHD)")
    selected: set[str] | None = None
    for _, value in found:
        names = set()
        for alternative in or_values(value):
            token = Token.parse(alternative)
            if token.system not in (None, LIST_TYPES) or token.code not in (SUBMISSION_SET_CODE, FOLDER_CODE):
                raise FhirError.invalid(f"code {alternative!r}: {LIST_TYPES}|submissionset or |folder")
            names.add(token.code)
        selected = names if selected is None else selected & names
    return tuple(k for k in (SUBMISSION_SET_CODE, FOLDER_CODE) if selected and k in selected)


def _archived(search: SearchRequest) -> bool | None:
    check_modifiers(search, "isArchived", frozenset({None}))
    values = {Token.parse(a).code.lower() for _, v in search.values("isArchived") for a in or_values(v)}
    if not values or values == {"true", "false"}:
        return None
    if not values <= {"true", "false"}:
        raise FhirError.invalid("isArchived: true or false")
    return values == {"true"}


def compile_search(search: SearchRequest, profile: DomainProfile) -> ListSearch:
    search.only_known(PARAMETERS)
    kinds = _kinds(search)
    patient = one_patient(patients(search, profile, "patient", "patient.identifier"), "ITI-66")
    wanted = statuses(search, STATUS_FROM_FHIR, "ITI-66")
    when = intersect(
        intersect(dates(search, "date"), dates(search, "_lastUpdated")), dates(search, "_lastupdated")
    )
    check_modifiers(search, "designationType", frozenset({None}))
    designations = tuple(code_keys(value) for _, value in search.values("designationType"))
    check_modifiers(search, "sourceId", frozenset({None}))
    source_ids: frozenset[str] | None = None
    for _, value in search.values("sourceId"):
        names = frozenset(uri_values(value))
        source_ids = names if source_ids is None else source_ids & names
    content_types: frozenset[str] | None = None
    for group in designations:
        content_types = group if content_types is None else content_types & group
    entry_uuids = logical_ids(search)
    wanted_ids = identifiers(search)
    patient_ids = frozenset({patient}) if patient else frozenset()
    submission_sets = SubmissionSetCriteria(
        patient_ids=patient_ids,
        entry_uuids=entry_uuids,
        statuses=wanted,
        source_ids=source_ids,
        content_type_codes=content_types,
        author_persons=author_patterns(search, "source.given", "source.family"),
        submission_time=when,
    )
    folders = FolderCriteria(
        patient_ids=patient_ids,
        entry_uuids=entry_uuids,
        statuses=wanted,
        codes=designations,
        last_update_time=when,
    )
    return ListSearch(patient, kinds, submission_sets, folders, wanted_ids, _archived(search))


def _narrow_ids(fetch: Fetcher, plan: ListSearch, kind: str) -> frozenset[str] | None:
    """The ``identifier`` filter as entryUUIDs of this kind (None: no filter)."""
    selected: frozenset[str] | None = None
    for group in plan.identifiers:
        uuids = {v for v in group if v.startswith("urn:uuid:")}
        unique_ids = frozenset(v for v in group if not v.startswith("urn:uuid:"))
        if unique_ids:
            patient = frozenset({plan.patient_id}) if plan.patient_id else None
            rows = (
                fetch.submission_sets(SubmissionSetCriteria(patient_ids=patient, unique_ids=unique_ids))
                if kind == SUBMISSION_SET_CODE
                else fetch.folders(FolderCriteria(patient_ids=patient, unique_ids=unique_ids))
            )
            uuids.update(r.entry_uuid for r in rows)
        selected = frozenset(uuids) if selected is None else selected & uuids
    return selected


def _rows(fetch: Fetcher, plan: ListSearch) -> list[ObjectRow]:
    rows: list[ObjectRow] = []
    for kind in plan.kinds:
        narrowed = _narrow_ids(fetch, plan, kind)
        if kind == SUBMISSION_SET_CODE:
            criteria = plan.submission_sets
            if narrowed is not None:
                ids = narrowed if criteria.entry_uuids is None else narrowed & criteria.entry_uuids
                criteria = replace(criteria, entry_uuids=ids)
            rows.extend(fetch.submission_sets(criteria))
        else:
            folder_criteria = plan.folders
            if narrowed is not None:
                ids = (
                    narrowed
                    if folder_criteria.entry_uuids is None
                    else narrowed & folder_criteria.entry_uuids
                )
                folder_criteria = replace(folder_criteria, entry_uuids=ids)
            rows.extend(fetch.folders(folder_criteria))
    return rows


def _archived_of(obj: Any) -> bool:
    for slot in getattr(obj, "extra_slots", ()):
        if slot.name == ARCHIVED_SLOT and slot.values:
            return bool(slot.values[0].strip().lower() == "true")
    return False


def load_lists(fetch: Fetcher, rows: list[ObjectRow]) -> list[dict[str, Any]]:
    """The Lists of these rows (read with their XML), with the members the scope shows."""
    if not rows:
        return []
    ids = frozenset(r.entry_uuid for r in rows)
    links = fetch.associations(AssociationCriteria(sources=ids, types=HAS_MEMBER))
    targets = frozenset(r.target for r in links if r.target)
    kinds: dict[str, str] = {}
    if targets:
        documents = fetch.port.find_documents(
            DocumentCriteria(entry_uuids=targets, object_types=_ALL_TYPES),
            scope=fetch.scope,
            limit=len(targets) + 1,
            with_xml=False,
        )
        kinds.update((r.entry_uuid, "DocumentReference") for r in documents)
        folders = fetch.port.find_folders(
            FolderCriteria(entry_uuids=targets), scope=fetch.scope, limit=len(targets) + 1, with_xml=False
        )
        kinds.update((r.entry_uuid, "List") for r in folders)
    members: dict[str, list[Member]] = {}
    for link in links:
        if link.source and link.target in kinds:
            members.setdefault(link.source, []).append(Member(link.target, kinds[link.target]))
    resources = []
    for row in rows:
        obj = decoded(row)
        if isinstance(obj, SubmissionSet):
            resources.append(
                submission_set_list(obj, status=row.status, members=members.get(row.entry_uuid, ()))
            )
        elif isinstance(obj, Folder):
            resources.append(
                folder_list(
                    obj,
                    status=row.status,
                    last_update_time=row.last_update_time,
                    members=members.get(row.entry_uuid, ()),
                )
            )
    return resources


def find_page(
    services: Services, actor: AccessContext | None, plan: ListSearch, *, page: str | None, count: int
) -> Page:
    with services.for_reading().transaction() as work:
        scope = query_scope(services, actor, work, plan.slots)
        if plan.patient_id is None or not plan.kinds or not plan.submission_sets.statuses:
            return Page(0, [], None)
        fetch = fetcher(services, work, scope, with_xml=plan.archived is not None)
        rows = _rows(fetch, plan)
        if plan.archived is not None:
            rows = [r for r in rows if _archived_of(decoded(r)) is plan.archived]
        ids = [resource_id(r.entry_uuid) for r in rows]
        start = resume(ids, page)
        chosen = rows[start : start + count]
        loaded = fetcher(services, work, scope, with_xml=True)
        full = _reload(loaded, chosen)
        resources = load_lists(loaded, full)
    end = start + len(chosen)
    next_cursor = cursor(end, ids[end - 1]) if chosen and end < len(ids) else None
    return Page(len(rows), resources, next_cursor)


def _reload(fetch: Fetcher, rows: list[ObjectRow]) -> list[ObjectRow]:
    """These rows again, with their XML, in the same order."""
    wanted = {r.entry_uuid for r in rows}
    if not wanted:
        return []
    found: dict[str, ObjectRow] = {}
    ids = frozenset(wanted)
    for row in fetch.port.find_submission_sets(
        SubmissionSetCriteria(entry_uuids=ids), scope=fetch.scope, limit=len(ids) + 1, with_xml=True
    ):
        found[row.entry_uuid] = row
    for row in fetch.port.find_folders(
        FolderCriteria(entry_uuids=ids), scope=fetch.scope, limit=len(ids) + 1, with_xml=True
    ):
        found[row.entry_uuid] = row
    return [found[r.entry_uuid] for r in rows if r.entry_uuid in found]


def read_list(services: Services, actor: AccessContext | None, logical_id: str) -> dict[str, Any] | None:
    """``GET List/{id}``: a SubmissionSet or Folder the actor may see (scope of his token's record)."""
    with services.for_reading().transaction() as work:
        scope = query_scope(services, actor, work, ())
        fetch = fetcher(services, work, scope, with_xml=True)
        rows = _reload(fetch, [ObjectRow(entry_uuid_of(logical_id), "SubmissionSet", "")])
        found = load_lists(fetch, rows)
    return found[0] if found else None


__all__ = ["PARAMETERS", "ListSearch", "compile_search", "find_page", "read_list"]
