"""ITI-67 Find Document References: the search parameters of mhd-fhir.md §2 -> ITI-18 FindDocuments.

Theory of operation. ``compile_search`` turns the FHIR parameters into the ``DocumentCriteria`` ITI-18's
FindDocuments builds (FindDocumentsByReferenceId's ``reference_ids`` when ``related`` is used), plus the few
FHIR-only filters XDS has no stored-query parameter for. ``find_page`` then runs it exactly as ITI-18 does:

1. the visibility scope comes from ``wiring.access.query_scope`` given the same patient Slot an ITI-18
   FindDocuments carries (binding, record access, masking: the DMP rules, in SQL);
2. the documents are read through the engine's ``Fetcher``: Metadata Update level 1 (latest versions) and
   the registry's result cap (XDSTooManyResults -> OperationOutcome 422, the same limit as ITI-18);
3. FHIR-only filters narrow the entry set by entryUUID before that read, each through the same port and
   scope: ``_id`` / ``identifier`` (entryUUID, uniqueId or DMP logicalId), ``date`` / ``_lastUpdated``
   (the submissionTime of the SubmissionSet that registered the entry, the only registration time XDS
   keeps); ``isArchived`` (PDSm) is read from the entries themselves;
4. the page is cut from the ordered match (paging.py: a stateless cursor), then only its entries are
   loaded with their XML, relationship Associations (relatesTo) and registering SubmissionSets (date).

Differences from ITI-18 where MHD leaves room: both stable and on-demand entries are returned (FHIR has no
objectType parameter); ``creation``/``period`` take the FHIR prefixes (dates.py); ``period`` is an overlap
(lower bounds on serviceStopTime, upper bounds on serviceStartTime, as MHD maps it), ``period-start`` and
``period-end`` (PDSm) bound serviceStartTime and serviceStopTime themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

from fhir_api.dates import intersect
from fhir_api.mapping.codes import from_oid_uri
from fhir_api.mapping.document_reference import (
    RELATES_TO,
    STATUS_FROM_FHIR,
    Relation,
    document_reference,
    entry_uuid_of,
    is_archived,
    resource_id,
)
from fhir_api.outcome import FhirError
from fhir_api.paging import Page, cursor, resume
from fhir_api.query import (
    author_patterns,
    check_modifiers,
    dates,
    fetcher,
    grouped_codes,
    identifiers,
    logical_ids,
    one_patient,
    patients,
    single_codes,
    statuses,
)
from fhir_api.search import SearchRequest, Token, or_values
from xds_server.core.metadata import DocumentEntry, Slot, SubmissionSet
from xds_server.core.policy import AccessContext
from xds_server.core.profile import DomainProfile
from xds_server.core.query import (
    AssociationCriteria,
    DocumentCriteria,
    SubmissionSetCriteria,
    TimeRange,
)
from xds_server.core.query.fetch import Fetcher
from xds_server.core.vocabulary import AssociationType, ObjectType
from xds_server.wiring import Services
from xds_server.wiring.access import query_scope
from xds_server.wiring.reads import decoded

PATIENT_SLOT: Final = "$XDSDocumentEntryPatientId"
BOTH_TYPES: Final = frozenset({ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value})
HAS_MEMBER: Final = frozenset({AssociationType.HAS_MEMBER.value})
RELATIONSHIPS: Final = frozenset(RELATES_TO)
#: Known CXi identifier types (ITI TF-3 4.2.3.2.28): ``related=system|value`` matches a referenceIdList
#: value with any of them or with none (the registry compares whole CXi strings).
CXI_TYPES: Final = (
    "urn:ihe:iti:xds:2013:uniqueId",
    "urn:ihe:iti:xds:2013:accession",
    "urn:ihe:iti:xds:2013:referral",
    "urn:ihe:iti:xds:2013:order",
    "urn:ihe:iti:xdw:2013:workflowInstanceId",
    "urn:ihe:iti:xds:2015:encounterId",
)

#: Every parameter ITI-67 understands (mhd-fhir.md §2 and PDSm).
PARAMETERS: Final = (
    "patient",
    "patient.identifier",
    "status",
    "creation",
    "date",
    "author.given",
    "author.family",
    "category",
    "type",
    "setting",
    "facility",
    "event",
    "security-label",
    "format",
    "period",
    "related",
    "identifier",
    "_id",
    "_lastUpdated",
    "_lastupdated",
    "isArchived",
    "period-start",
    "period-end",
)


@dataclass(frozen=True, slots=True)
class DocumentSearch:
    """A compiled ITI-67 search."""

    #: the canonical patient; None when the parameters name contradictory patients (nothing matches)
    patient_id: str | None
    criteria: DocumentCriteria
    #: ``_id`` values as entryUUIDs (None: no filter)
    entry_uuids: frozenset[str] | None = None
    #: ``identifier`` occurrences (AND), each an OR of registry ids (entryUUID, logicalId or uniqueId)
    identifiers: tuple[frozenset[str], ...] = ()
    registered: TimeRange = field(default_factory=TimeRange)
    archived: bool | None = None

    @property
    def slots(self) -> tuple[Slot, ...]:
        """The patient Slot an ITI-18 FindDocuments would carry (for ``query_scope``)."""
        return (Slot(PATIENT_SLOT, (f"'{self.patient_id}'",)),) if self.patient_id else ()


def _related(search: SearchRequest) -> tuple[frozenset[str], ...]:
    check_modifiers(search, "related", frozenset({None, "identifier"}))
    groups = []
    for _, value in search.values("related"):
        names: set[str] = set()
        for alternative in or_values(value):
            token = Token.parse(alternative)
            if token.system is None:
                names.add(token.code)  # a whole CXi, as the registry keeps it
                continue
            authority = from_oid_uri(token.system)
            base = f"{token.code}^^^&{authority}&ISO"
            names.add(base)
            names.update(f"{base}^{kind}" for kind in CXI_TYPES)
        groups.append(frozenset(names))
    return tuple(groups)


def _archived(search: SearchRequest) -> bool | None:
    check_modifiers(search, "isArchived", frozenset({None}))
    wanted: set[bool] | None = None
    for _, value in search.values("isArchived"):
        names = set()
        for alternative in or_values(value):
            code = Token.parse(alternative).code.lower()
            if code not in ("true", "false"):
                raise FhirError.invalid(f"isArchived {alternative!r}: true or false")
            names.add(code == "true")
        wanted = names if wanted is None else wanted & names
    if wanted is None or len(wanted) == 2:
        return None
    if not wanted:
        raise FhirError.invalid("isArchived: contradictory values")
    return next(iter(wanted))


def compile_search(search: SearchRequest, profile: DomainProfile) -> DocumentSearch:
    """The ITI-67 search as FindDocuments criteria (400 for a missing patient or status, bad values)."""
    search.only_known(PARAMETERS)
    patient = one_patient(patients(search, profile, "patient", "patient.identifier"), "ITI-67")
    wanted_statuses = statuses(search, STATUS_FROM_FHIR, "ITI-67")
    period = dates(search, "period")
    criteria = DocumentCriteria(
        patient_ids=frozenset({patient}) if patient else frozenset(),
        statuses=wanted_statuses,
        object_types=BOTH_TYPES,
        class_codes=single_codes(search, "category"),
        type_codes=single_codes(search, "type"),
        practice_setting_codes=single_codes(search, "setting"),
        healthcare_facility_type_codes=single_codes(search, "facility"),
        format_codes=single_codes(search, "format"),
        event_codes=grouped_codes(search, "event"),
        confidentiality_codes=grouped_codes(search, "security-label"),
        reference_ids=_related(search),
        author_persons=author_patterns(search, "author.given", "author.family"),
        creation_time=dates(search, "creation"),
        service_start_time=intersect(TimeRange(None, period.high), dates(search, "period-start")),
        service_stop_time=intersect(TimeRange(period.low, None), dates(search, "period-end")),
    )
    entry_uuids = logical_ids(search)
    wanted_ids = identifiers(search)
    # "_lastupdated": the spelling of the MHD Document Responder CapabilityStatement
    registered = intersect(
        intersect(dates(search, "date"), dates(search, "_lastUpdated")), dates(search, "_lastupdated")
    )
    return DocumentSearch(patient, criteria, entry_uuids, wanted_ids, registered, _archived(search))


def _registered_entries(fetch: Fetcher, patient: str, registered: TimeRange) -> frozenset[str]:
    """Entries registered by a SubmissionSet of ``patient`` submitted within ``registered``."""
    sets = fetch.submission_sets(
        SubmissionSetCriteria(patient_ids=frozenset({patient}), submission_time=registered)
    )
    if not sets:
        return frozenset()
    members = fetch.associations(
        AssociationCriteria(sources=frozenset(r.entry_uuid for r in sets), types=HAS_MEMBER)
    )
    return frozenset(r.target for r in members if r.target)


def _narrowed(fetch: Fetcher, plan: DocumentSearch) -> DocumentCriteria | None:
    """The criteria with the FHIR-only id filters applied (None: nothing can match)."""
    assert plan.patient_id is not None
    base = DocumentCriteria(patient_ids=frozenset({plan.patient_id}), object_types=BOTH_TYPES)
    selected = plan.entry_uuids
    for group in plan.identifiers:
        uuids = frozenset(v for v in group if v.startswith("urn:uuid:"))
        others = frozenset(v for v in group if not v.startswith("urn:uuid:"))
        found = set(uuids)
        if uuids:
            found.update(r.entry_uuid for r in fetch.documents(replace(base, logical_ids=uuids)))
        if others:
            found.update(r.entry_uuid for r in fetch.documents(replace(base, unique_ids=others)))
        selected = frozenset(found) if selected is None else selected & found
    if not plan.registered.is_open:
        found_registered = _registered_entries(fetch, plan.patient_id, plan.registered)
        selected = found_registered if selected is None else selected & found_registered
    if selected is not None and not selected:
        return None
    return plan.criteria if selected is None else replace(plan.criteria, entry_uuids=selected)


def _registration_times(fetch: Fetcher, entry_uuids: frozenset[str]) -> dict[str, str]:
    """entryUUID -> the submissionTime of the SubmissionSet that registered it."""
    times: dict[str, str] = {}
    for entry_uuid, row in fetch.registrations(entry_uuids):
        package = decoded(row)
        if isinstance(package, SubmissionSet) and package.submission_time:
            times[entry_uuid] = package.submission_time
    return times


def load_resources(
    fetch: Fetcher, entry_uuids: list[str], base: str, profiles: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The DocumentReferences of these (visible) entries, in this order."""
    if not entry_uuids:
        return []
    wanted = frozenset(entry_uuids)
    rows = fetch.port.find_documents(
        DocumentCriteria(entry_uuids=wanted), scope=fetch.scope, limit=len(wanted) + 1, with_xml=True
    )
    entries = {row.entry_uuid: decoded(row) for row in rows}
    # two reads, by one end each: a "touching" read ORs both ends, and PostgreSQL then tends to walk the
    # seq index under the LIMIT (bench/mhd_query.py showed p90 x10)
    relations: dict[str, list[Relation]] = {}
    for row in fetch.associations(AssociationCriteria(sources=wanted, types=RELATIONSHIPS)):
        if row.source and row.target and row.association_type:
            relations.setdefault(row.source, []).append(Relation(row.association_type, row.target))
    registered = _registration_times(fetch, wanted)
    resources = []
    for entry_uuid in entry_uuids:
        entry = entries.get(entry_uuid)
        if isinstance(entry, DocumentEntry):
            resources.append(
                document_reference(
                    entry,
                    base=base,
                    relations=relations.get(entry_uuid, ()),
                    registered=registered.get(entry_uuid),
                    profiles=profiles,
                )
            )
    return resources


def find_page(
    services: Services,
    actor: AccessContext | None,
    plan: DocumentSearch,
    *,
    base: str,
    page: str | None,
    count: int,
    profiles: tuple[str, ...] = (),
) -> Page:
    """Run the compiled search in the actor's scope; the page starting at ``page`` (a cursor)."""
    with services.for_reading().transaction() as work:
        scope = query_scope(services, actor, work, plan.slots)
        if plan.patient_id is None or not plan.criteria.statuses:
            return Page(0, [], None)
        fetch = fetcher(services, work, scope, with_xml=plan.archived is not None)
        criteria = _narrowed(fetch, plan)
        rows = fetch.documents(criteria) if criteria is not None else []
        if plan.archived is not None:
            rows = [r for r in rows if (is_archived(_entry(r)) or False) is plan.archived]
        ids = [resource_id(r.entry_uuid) for r in rows]
        start = resume(ids, page)
        chosen = rows[start : start + count]
        resources = load_resources(fetch, [r.entry_uuid for r in chosen], base, profiles)
    end = start + len(chosen)
    next_cursor = cursor(end, ids[end - 1]) if chosen and end < len(ids) else None
    return Page(len(rows), resources, next_cursor)


def _entry(row: Any) -> DocumentEntry:
    entry = decoded(row)
    assert isinstance(entry, DocumentEntry)
    return entry


def read_document(
    services: Services, actor: AccessContext | None, resource_id_: str, base: str
) -> dict[str, Any] | None:
    """``GET DocumentReference/{id}``: the entry if it exists and the actor may see it, else None (the
    same answer for both). The scope is a Get* query's: the record of the actor's token."""
    entry_uuid = entry_uuid_of(resource_id_)
    with services.for_reading().transaction() as work:
        scope = query_scope(services, actor, work, ())
        fetch = fetcher(services, work, scope, with_xml=True)
        found = load_resources(fetch, [entry_uuid], base)
    return found[0] if found else None


__all__ = [
    "PARAMETERS",
    "DocumentSearch",
    "compile_search",
    "find_page",
    "load_resources",
    "read_document",
]
