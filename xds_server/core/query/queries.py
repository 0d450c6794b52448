"""One class per stored query (ITI TF-2a 3.18.4.1.2.3.7, ITI TF-2b 3.51) and the ``{uuid: class}`` tables.

Each class declares its parameters and mutual exclusions (parameters.py checks them) and assembles its
result from port reads: which objects, then which Associations to add. Filtering happens in the port
(SQL); what is assembled here are id sets of objects already selected, never a patient's whole record.

Find* queries filter on status; Get* queries do not, and their LeafClass answer must stay within one
patient (``single_patient``, checked by the engine). Adding a query is one class and one table line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import ClassVar, Final

from xds_server.core.errors import ErrorCode, Issue
from xds_server.core.query.criteria import (
    AssociationCriteria,
    DocumentCriteria,
    FolderCriteria,
    SubmissionSetCriteria,
    TimeRange,
)
from xds_server.core.query.fetch import Fetcher, ResultSet
from xds_server.core.query.parameters import Kind, Param, ParsedParams
from xds_server.core.query.port import ObjectRow
from xds_server.core.vocabulary import AssociationType, ObjectType

__all__ = [
    "MULTI_PATIENT_QUERIES",
    "STORED_QUERIES",
    "FindDocuments",
    "FindDocumentsByReferenceId",
    "FindDocumentsForMultiplePatients",
    "FindFolders",
    "FindFoldersForMultiplePatients",
    "FindSubmissionSets",
    "GetAll",
    "GetAssociations",
    "GetDocuments",
    "GetDocumentsAndAssociations",
    "GetFolderAndContents",
    "GetFolders",
    "GetFoldersForDocument",
    "GetRelatedDocuments",
    "GetSubmissionSetAndContents",
    "GetSubmissionSets",
    "StoredQuery",
]

HAS_MEMBER: Final = frozenset({AssociationType.HAS_MEMBER.value})
STABLE_ONLY: Final = frozenset({ObjectType.STABLE_DOCUMENT.value})

S, PID, P, C, T, ST, OT, LV = (
    Kind.STRING,
    Kind.PATIENT_ID,
    Kind.PATTERN,
    Kind.CODE,
    Kind.TIME,
    Kind.STATUS,
    Kind.OBJECT_TYPE,
    Kind.LEVEL,
)

#: Accepted by every query: XCA home community, Metadata Update level.
COMMON: Final = (Param("$homeCommunityId", S), Param("$MetadataLevel", LV))

DE_STATUS = "$XDSDocumentEntryStatus"
DE_TYPE = "$XDSDocumentEntryType"
DE_UUID = "$XDSDocumentEntryEntryUUID"
DE_UID = "$XDSDocumentEntryUniqueId"
DE_FORMAT = "$XDSDocumentEntryFormatCode"
DE_CONF = "$XDSDocumentEntryConfidentialityCode"
DE_EVENT = "$XDSDocumentEntryEventCodeList"
DE_CLASS = "$XDSDocumentEntryClassCode"
DE_HCFT = "$XDSDocumentEntryHealthcareFacilityTypeCode"

#: FindDocuments' optional filters (shared by FindDocumentsByReferenceId and the ITI-51 variant).
DOCUMENT_FILTERS: Final = (
    Param(DE_CLASS, C, multi=True),
    Param("$XDSDocumentEntryTypeCode", C, multi=True),
    Param("$XDSDocumentEntryPracticeSettingCode", C, multi=True),
    Param(DE_HCFT, C, multi=True),
    Param(DE_FORMAT, C, multi=True),
    Param(DE_EVENT, C, multi=True, and_or=True),
    Param(DE_CONF, C, multi=True, and_or=True),
    Param("$XDSDocumentEntryAuthorPerson", P, multi=True),
    Param("$XDSDocumentEntryCreationTimeFrom", T),
    Param("$XDSDocumentEntryCreationTimeTo", T),
    Param("$XDSDocumentEntryServiceStartTimeFrom", T),
    Param("$XDSDocumentEntryServiceStartTimeTo", T),
    Param("$XDSDocumentEntryServiceStopTimeFrom", T),
    Param("$XDSDocumentEntryServiceStopTimeTo", T),
    Param(DE_TYPE, OT, multi=True),
)
#: The content filters of GetAll / Get*AndContents.
CONTENT_FILTERS: Final = (
    Param(DE_FORMAT, C, multi=True),
    Param(DE_CONF, C, multi=True, and_or=True),
    Param(DE_TYPE, OT, multi=True),
)


def _range(p: ParsedParams, prefix: str) -> TimeRange:
    return TimeRange(p.one(prefix + "From"), p.one(prefix + "To"))


def _object_types(p: ParsedParams) -> frozenset[str]:
    return p.values(DE_TYPE) or STABLE_ONLY


def document_filters(p: ParsedParams) -> DocumentCriteria:
    """FindDocuments' filters, without patient and status."""
    return DocumentCriteria(
        object_types=_object_types(p),
        class_codes=p.values(DE_CLASS),
        type_codes=p.values("$XDSDocumentEntryTypeCode"),
        practice_setting_codes=p.values("$XDSDocumentEntryPracticeSettingCode"),
        healthcare_facility_type_codes=p.values(DE_HCFT),
        format_codes=p.values(DE_FORMAT),
        event_codes=p.groups(DE_EVENT),
        confidentiality_codes=p.groups(DE_CONF),
        author_persons=p.values("$XDSDocumentEntryAuthorPerson"),
        creation_time=_range(p, "$XDSDocumentEntryCreationTime"),
        service_start_time=_range(p, "$XDSDocumentEntryServiceStartTime"),
        service_stop_time=_range(p, "$XDSDocumentEntryServiceStopTime"),
    )


def content_filters(p: ParsedParams) -> DocumentCriteria:
    return DocumentCriteria(
        object_types=_object_types(p),
        format_codes=p.values(DE_FORMAT),
        confidentiality_codes=p.groups(DE_CONF),
    )


def _ids(rows: Iterable[ObjectRow]) -> frozenset[str]:
    return frozenset(row.entry_uuid for row in rows)


def _only(value: str | None) -> frozenset[str] | None:
    return None if value is None else frozenset({value})


class StoredQuery:
    """A stored query: declared parameters, and ``run`` assembling the result from port reads."""

    name: ClassVar[str]
    query_id: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    exactly_one_of: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: Get* queries: a LeafClass answer spanning patients is XDSResultNotSinglePatient.
    single_patient: ClassVar[bool] = False

    def extra_checks(self, p: ParsedParams) -> list[Issue]:
        """Rules beyond counts and formats (ITI-51's "at least one of")."""
        return []

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        raise NotImplementedError


# --- Find* ------------------------------------------------------------------------------------------------


class FindDocuments(StoredQuery):
    name = "FindDocuments"
    query_id = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
    patient_param: ClassVar[Param] = Param("$XDSDocumentEntryPatientId", PID, required=True)
    params: ClassVar[tuple[Param, ...]] = (
        patient_param,
        Param(DE_STATUS, ST, required=True, multi=True),
        *DOCUMENT_FILTERS,
        *COMMON,
    )

    def criteria(self, p: ParsedParams) -> DocumentCriteria:
        base = document_filters(p)
        name = self.patient_param.name
        patients = p.values(name) if self.patient_param.multi else _only(p.one(name))
        return replace(base, patient_ids=patients, statuses=p.values(DE_STATUS))

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        return tuple(fetch.documents(self.criteria(p)))


class FindDocumentsByReferenceId(FindDocuments):
    name = "FindDocumentsByReferenceId"
    query_id = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"
    params = (
        *FindDocuments.params,
        Param("$XDSDocumentEntryReferenceIdList", S, required=True, multi=True, and_or=True),
    )

    def criteria(self, p: ParsedParams) -> DocumentCriteria:
        return replace(super().criteria(p), reference_ids=p.groups("$XDSDocumentEntryReferenceIdList"))


class FindDocumentsForMultiplePatients(FindDocuments):
    """ITI-51: patient optional and multi-valued; one of class, event or facility type code is required."""

    name = "FindDocumentsForMultiplePatients"
    query_id = "urn:uuid:3d1bdb10-39a2-11de-89c2-2f44d94eaa9f"
    patient_param = Param("$XDSDocumentEntryPatientId", PID, multi=True)
    params = (patient_param, *FindDocuments.params[1:])

    def extra_checks(self, p: ParsedParams) -> list[Issue]:
        if any(p.has(name) for name in (DE_CLASS, DE_EVENT, DE_HCFT)):
            return []
        return [
            Issue(
                ErrorCode.STORED_QUERY_MISSING_PARAM,
                f"one of {DE_CLASS}, {DE_EVENT}, {DE_HCFT} is required",
            )
        ]


class FindSubmissionSets(StoredQuery):
    name = "FindSubmissionSets"
    query_id = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
    params = (
        Param("$XDSSubmissionSetPatientId", PID, required=True),
        Param("$XDSSubmissionSetStatus", ST, required=True, multi=True),
        Param("$XDSSubmissionSetSourceId", S, multi=True),
        Param("$XDSSubmissionSetSubmissionTimeFrom", T),
        Param("$XDSSubmissionSetSubmissionTimeTo", T),
        Param("$XDSSubmissionSetAuthorPerson", P),
        Param("$XDSSubmissionSetContentType", C, multi=True),
        *COMMON,
    )

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        criteria = SubmissionSetCriteria(
            patient_ids=_only(p.one("$XDSSubmissionSetPatientId")),
            statuses=p.values("$XDSSubmissionSetStatus"),
            source_ids=p.values("$XDSSubmissionSetSourceId"),
            submission_time=_range(p, "$XDSSubmissionSetSubmissionTime"),
            author_persons=_only(p.one("$XDSSubmissionSetAuthorPerson")),
            content_type_codes=p.values("$XDSSubmissionSetContentType"),
        )
        return tuple(fetch.submission_sets(criteria))


class FindFolders(StoredQuery):
    name = "FindFolders"
    query_id = "urn:uuid:958f3006-baad-4929-a4de-ff1114824431"
    patient_param: ClassVar[Param] = Param("$XDSFolderPatientId", PID, required=True)
    params = (
        patient_param,
        Param("$XDSFolderStatus", ST, required=True, multi=True),
        Param("$XDSFolderLastUpdateTimeFrom", T),
        Param("$XDSFolderLastUpdateTimeTo", T),
        Param("$XDSFolderCodeList", C, multi=True, and_or=True),
        *COMMON,
    )

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        name = self.patient_param.name
        criteria = FolderCriteria(
            patient_ids=p.values(name) if self.patient_param.multi else _only(p.one(name)),
            statuses=p.values("$XDSFolderStatus"),
            last_update_time=_range(p, "$XDSFolderLastUpdateTime"),
            codes=p.groups("$XDSFolderCodeList"),
        )
        return tuple(fetch.folders(criteria))


class FindFoldersForMultiplePatients(FindFolders):
    name = "FindFoldersForMultiplePatients"
    query_id = "urn:uuid:50d3f5ac-39a2-11de-a1ca-b366239e58df"
    patient_param = Param("$XDSFolderPatientId", PID, multi=True)
    params = (patient_param, *FindFolders.params[1:])


# --- Get* -------------------------------------------------------------------------------------------------


class GetAll(StoredQuery):
    """Every SubmissionSet, DocumentEntry and Folder of the patient, and the Associations among them."""

    name = "GetAll"
    query_id = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"
    params = (
        Param("$patientId", PID, required=True),
        Param(DE_STATUS, ST, required=True, multi=True),
        Param("$XDSSubmissionSetStatus", ST, required=True, multi=True),
        Param("$XDSFolderStatus", ST, required=True, multi=True),
        *CONTENT_FILTERS,
        *COMMON,
    )

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        patient = _only(p.one("$patientId"))
        result = ResultSet()
        sets = fetch.submission_sets(
            SubmissionSetCriteria(patient_ids=patient, statuses=p.values("$XDSSubmissionSetStatus"))
        )
        result.add(sets)
        result.add(
            fetch.documents(replace(content_filters(p), patient_ids=patient, statuses=p.values(DE_STATUS)))
        )
        result.add(fetch.folders(FolderCriteria(patient_ids=patient, statuses=p.values("$XDSFolderStatus"))))
        _add_associations_among(result, fetch, extra_sources=_ids(sets))
        return result.rows()


def _add_associations_among(result: ResultSet, fetch: Fetcher, *, extra_sources: frozenset[str]) -> None:
    """Associations whose two ends are returned, then SubmissionSet HasMembers to those Associations
    (how a submission records the Folder memberships it created)."""
    ids = result.ids()
    among = fetch.associations(AssociationCriteria(sources=ids, targets=ids))
    result.add(among)
    if extra_sources and among:
        result.add(
            fetch.associations(
                AssociationCriteria(sources=extra_sources, targets=_ids(among), types=HAS_MEMBER)
            )
        )


class GetDocuments(StoredQuery):
    name = "GetDocuments"
    query_id = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
    params = (
        Param(DE_UUID, S, multi=True),
        Param(DE_UID, S, multi=True),
        Param("$XDSDocumentEntryLogicalID", S, multi=True),
        *COMMON,
    )
    exactly_one_of = ((DE_UUID, DE_UID, "$XDSDocumentEntryLogicalID"),)
    single_patient = True

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        return tuple(
            fetch.documents(
                DocumentCriteria(
                    entry_uuids=p.values(DE_UUID),
                    unique_ids=p.values(DE_UID),
                    logical_ids=p.values("$XDSDocumentEntryLogicalID"),
                )
            )
        )


class GetFolders(StoredQuery):
    name = "GetFolders"
    query_id = "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4"
    params = (
        Param("$XDSFolderEntryUUID", S, multi=True),
        Param("$XDSFolderUniqueId", S, multi=True),
        Param("$XDSFolderLogicalID", S, multi=True),
        *COMMON,
    )
    exactly_one_of = (("$XDSFolderEntryUUID", "$XDSFolderUniqueId", "$XDSFolderLogicalID"),)
    single_patient = True

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        return tuple(
            fetch.folders(
                FolderCriteria(
                    entry_uuids=p.values("$XDSFolderEntryUUID"),
                    unique_ids=p.values("$XDSFolderUniqueId"),
                    logical_ids=p.values("$XDSFolderLogicalID"),
                )
            )
        )


class GetAssociations(StoredQuery):
    name = "GetAssociations"
    query_id = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
    params = (Param("$uuid", S, required=True, multi=True), *COMMON)
    single_patient = True

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        return tuple(fetch.associations(AssociationCriteria(touching=p.values("$uuid"))))


class GetDocumentsAndAssociations(StoredQuery):
    name = "GetDocumentsAndAssociations"
    query_id = "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a"
    params = (Param(DE_UUID, S, multi=True), Param(DE_UID, S, multi=True), *COMMON)
    exactly_one_of = ((DE_UUID, DE_UID),)
    single_patient = True

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        result = ResultSet()
        documents = fetch.documents(
            DocumentCriteria(entry_uuids=p.values(DE_UUID), unique_ids=p.values(DE_UID))
        )
        result.add(documents)
        if documents:
            result.add(fetch.associations(AssociationCriteria(touching=_ids(documents))))
        return result.rows()


class GetSubmissionSets(StoredQuery):
    """The SubmissionSets holding the given objects, and those HasMember Associations."""

    name = "GetSubmissionSets"
    query_id = "urn:uuid:51224314-5390-4169-9b91-b1980040715a"
    params = (Param("$uuid", S, required=True, multi=True), *COMMON)
    single_patient = True

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        members = fetch.associations(AssociationCriteria(targets=p.values("$uuid"), types=HAS_MEMBER))
        if not members:
            return ()
        sets = fetch.submission_sets(
            SubmissionSetCriteria(entry_uuids=frozenset(a.source or "" for a in members))
        )
        set_ids = _ids(sets)
        result = ResultSet()
        result.add(sets)
        result.add([a for a in members if a.source in set_ids])
        return result.rows()


class GetSubmissionSetAndContents(StoredQuery):
    name = "GetSubmissionSetAndContents"
    query_id = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"
    params = (
        Param("$XDSSubmissionSetEntryUUID", S),
        Param("$XDSSubmissionSetUniqueId", S),
        *CONTENT_FILTERS,
        *COMMON,
    )
    exactly_one_of = (("$XDSSubmissionSetEntryUUID", "$XDSSubmissionSetUniqueId"),)
    single_patient = True

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        sets = fetch.submission_sets(
            SubmissionSetCriteria(
                entry_uuids=_only(p.one("$XDSSubmissionSetEntryUUID")),
                unique_ids=_only(p.one("$XDSSubmissionSetUniqueId")),
            )
        )
        if not sets:
            return ()
        set_ids = _ids(sets)
        has_members = fetch.associations(AssociationCriteria(sources=set_ids, types=HAS_MEMBER))
        targets = frozenset(a.target or "" for a in has_members)
        documents = fetch.documents(replace(content_filters(p), entry_uuids=targets))
        folders = fetch.folders(FolderCriteria(entry_uuids=targets))
        contents = ResultSet()
        contents.add(documents)
        contents.add(folders)
        among = (
            fetch.associations(AssociationCriteria(sources=contents.ids(), targets=contents.ids()))
            if contents.ids()
            else []
        )
        kept = contents.ids() | _ids(among)
        result = ResultSet()
        result.add(sets)
        result.add(documents)
        result.add(folders)
        result.add([a for a in has_members if a.target in kept])
        result.add(among)
        return result.rows()


class GetFolderAndContents(StoredQuery):
    name = "GetFolderAndContents"
    query_id = "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7"
    params = (Param("$XDSFolderEntryUUID", S), Param("$XDSFolderUniqueId", S), *CONTENT_FILTERS, *COMMON)
    exactly_one_of = (("$XDSFolderEntryUUID", "$XDSFolderUniqueId"),)
    single_patient = True

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        folders = fetch.folders(
            FolderCriteria(
                entry_uuids=_only(p.one("$XDSFolderEntryUUID")), unique_ids=_only(p.one("$XDSFolderUniqueId"))
            )
        )
        if not folders:
            return ()
        has_members = fetch.associations(AssociationCriteria(sources=_ids(folders), types=HAS_MEMBER))
        documents = fetch.documents(
            replace(content_filters(p), entry_uuids=frozenset(a.target or "" for a in has_members))
        )
        document_ids = _ids(documents)
        result = ResultSet()
        result.add(folders)
        result.add(documents)
        result.add([a for a in has_members if a.target in document_ids])
        return result.rows()


class GetFoldersForDocument(StoredQuery):
    name = "GetFoldersForDocument"
    query_id = "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578"
    params = (Param(DE_UUID, S), Param(DE_UID, S), *COMMON)
    exactly_one_of = ((DE_UUID, DE_UID),)
    single_patient = True

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        documents = fetch.documents(
            DocumentCriteria(entry_uuids=_only(p.one(DE_UUID)), unique_ids=_only(p.one(DE_UID)))
        )
        if not documents:
            return ()
        has_members = fetch.associations(AssociationCriteria(targets=_ids(documents), types=HAS_MEMBER))
        if not has_members:
            return ()
        return tuple(
            fetch.folders(FolderCriteria(entry_uuids=frozenset(a.source or "" for a in has_members)))
        )


class GetRelatedDocuments(StoredQuery):
    """The DocumentEntry, the DocumentEntries related to it by the given association types (either
    direction), and those Associations; nothing at all when nothing is related. ``$XDSDocumentEntryType``
    filters the related entries."""

    name = "GetRelatedDocuments"
    query_id = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6"
    params = (
        Param(DE_UUID, S),
        Param(DE_UID, S),
        Param("$AssociationTypes", S, required=True, multi=True),
        Param(DE_TYPE, OT, multi=True),
        *COMMON,
    )
    exactly_one_of = ((DE_UUID, DE_UID),)
    single_patient = True

    def run(self, p: ParsedParams, fetch: Fetcher) -> tuple[ObjectRow, ...]:
        originals = fetch.documents(
            DocumentCriteria(entry_uuids=_only(p.one(DE_UUID)), unique_ids=_only(p.one(DE_UID)))
        )
        if not originals:
            return ()
        original_ids = _ids(originals)
        links = fetch.associations(
            AssociationCriteria(touching=original_ids, types=p.values("$AssociationTypes"))
        )
        other_ends = frozenset(
            end for a in links for end in (a.source or "", a.target or "") if end not in original_ids
        )
        related = fetch.documents(DocumentCriteria(entry_uuids=other_ends, object_types=_object_types(p)))
        related_ids = _ids(related)
        kept = [a for a in links if a.source in related_ids or a.target in related_ids]
        if not kept:
            return ()
        result = ResultSet()
        result.add(originals)
        result.add(related)
        result.add(kept)
        return result.rows()


def _table(*classes: type[StoredQuery]) -> dict[str, type[StoredQuery]]:
    return {cls.query_id: cls for cls in classes}


#: ITI-18 Registry Stored Query.
STORED_QUERIES: Final = _table(
    FindDocuments,
    FindDocumentsByReferenceId,
    FindSubmissionSets,
    FindFolders,
    GetAll,
    GetDocuments,
    GetFolders,
    GetAssociations,
    GetDocumentsAndAssociations,
    GetSubmissionSets,
    GetSubmissionSetAndContents,
    GetFolderAndContents,
    GetFoldersForDocument,
    GetRelatedDocuments,
)
#: ITI-51 Multi-Patient Stored Query (enabled by a setting).
MULTI_PATIENT_QUERIES: Final = _table(FindDocumentsForMultiplePatients, FindFoldersForMultiplePatients)
