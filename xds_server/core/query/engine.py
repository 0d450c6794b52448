"""Run one stored query: look the query up, check its parameters, read through the port, apply the
result rules (ITI TF-2a 3.18.4.1.2.3 / 3.18.4.1.3):

1. unknown query id -> XDSUnknownStoredQuery (ITI-51 queries are unknown to ITI-18 and vice versa; ITI-51
   is off unless ``QuerySettings.multi_patient_enabled``);
2. parameter counts and formats -> XDSStoredQueryMissingParam / XDSStoredQueryParamNumber / invalid value;
3. the query's reads, each capped -> XDSTooManyResults past ``max_results`` objects (no objects returned);
4. Get* queries answering LeafClass across several patients -> XDSResultNotSinglePatient (ObjectRef is
   allowed: references disclose no patient data).

Everything below goes through the caller's ``Visibility``, so hidden entries are neither returned nor
counted. ``scope`` is a required argument with no default: a caller that forgot to pass the actor's scope
must fail to type-check and to run, not silently read everything (``EVERYTHING`` is said out loud where it
is meant: the ``ihe`` profile, tests, the bench).

``returnComposedObjects`` is accepted and not acted on: LeafClass objects are the stored canonical XML,
which always carries its composed Classifications, ExternalIdentifiers and Slots (XDS consumers send
``true``; ITI TF-2a 3.18.4.1.2.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.metadata import Slot
from xds_server.core.profile import IHE_DEFAULT, DomainProfile
from xds_server.core.query.criteria import Visibility
from xds_server.core.query.fetch import Fetcher, too_many
from xds_server.core.query.parameters import INVALID_VALUE, parse_parameters
from xds_server.core.query.port import ObjectRow, QueryPort
from xds_server.core.query.queries import MULTI_PATIENT_QUERIES, STORED_QUERIES, StoredQuery

__all__ = [
    "QueryResult",
    "QuerySettings",
    "ReturnType",
    "StoredQueryRequest",
    "Transaction",
    "parse_return_type",
    "run_stored_query",
]


class ReturnType(StrEnum):
    OBJECT_REF = "ObjectRef"
    LEAF_CLASS = "LeafClass"


class Transaction(StrEnum):
    STORED_QUERY = "ITI-18"
    MULTI_PATIENT_QUERY = "ITI-51"


@dataclass(frozen=True, slots=True)
class QuerySettings:
    #: XDSTooManyResults past this many objects (Associations included).
    max_results: int = 10_000
    #: ITI-51 Multi-Patient Stored Query: off by default (it lets one request read many records).
    multi_patient_enabled: bool = False
    #: The affinity domain: patient-id parameters are read in its canonical form (parameters.py), the one
    #: the submission path stores.
    profile: DomainProfile = IHE_DEFAULT


@dataclass(frozen=True, slots=True)
class StoredQueryRequest:
    """The content of an AdhocQueryRequest, as the ebxml codec decodes it (raw ``rim:Value`` texts)."""

    query_id: str
    return_type: str = ReturnType.OBJECT_REF.value
    return_composed_objects: bool = True
    slots: tuple[Slot, ...] = ()
    home: str | None = None


@dataclass(frozen=True, slots=True)
class QueryResult:
    query: str
    return_type: ReturnType
    objects: tuple[ObjectRow, ...] = ()
    warnings: tuple[Issue, ...] = field(default=())

    @property
    def object_refs(self) -> tuple[str, ...]:
        return tuple(row.entry_uuid for row in self.objects)

    @property
    def leaf_xml(self) -> tuple[str, ...]:
        return tuple(row.xml or "" for row in self.objects)

    @property
    def status_overrides(self) -> Mapping[str, str]:
        """The authoritative status of each object (the XML keeps the one at registration)."""
        return {row.entry_uuid: row.status for row in self.objects}

    @property
    def folder_last_update(self) -> Mapping[str, str]:
        return {row.entry_uuid: row.last_update_time for row in self.objects if row.last_update_time}


#: ebRS 3.0 return types XDS does not define, answered as their closest XDS form: ``RegistryObject`` is the
#: ebRS default when ``returnType`` is absent; ``LeafClassWithRepositoryItem`` has no repository items here.
_RETURN_TYPE_ALIASES = {
    "RegistryObject": ReturnType.LEAF_CLASS,
    "LeafClassWithRepositoryItem": ReturnType.LEAF_CLASS,
}


def parse_return_type(value: str | None) -> ReturnType:
    text = (value or ReturnType.OBJECT_REF.value).strip()
    if text in _RETURN_TYPE_ALIASES:
        return _RETURN_TYPE_ALIASES[text]
    try:
        return ReturnType(text)
    except ValueError:
        raise XdsError.single(
            INVALID_VALUE, f"returnType {value!r} is not supported (ObjectRef or LeafClass)", "returnType"
        ) from None


def lookup(query_id: str, transaction: Transaction, settings: QuerySettings) -> StoredQuery:
    if transaction is Transaction.MULTI_PATIENT_QUERY:
        if not settings.multi_patient_enabled:
            raise XdsError.single(
                ErrorCode.UNKNOWN_STORED_QUERY, "Multi-Patient Stored Query (ITI-51) is not enabled", query_id
            )
        table = MULTI_PATIENT_QUERIES
    else:
        table = STORED_QUERIES
    cls = table.get(query_id.strip())
    if cls is None:
        raise XdsError.single(
            ErrorCode.UNKNOWN_STORED_QUERY, f"unknown stored query id {query_id!r}", query_id
        )
    return cls()


def run_stored_query(
    request: StoredQueryRequest,
    port: QueryPort,
    *,
    scope: Visibility,
    settings: QuerySettings = QuerySettings(),
    transaction: Transaction = Transaction.STORED_QUERY,
) -> QueryResult:
    query = lookup(request.query_id, transaction, settings)
    return_type = parse_return_type(request.return_type)
    params = parse_parameters(request.slots, query.params, query.exactly_one_of, profile=settings.profile)
    extra = query.extra_checks(params)
    if extra:
        raise XdsError(extra)
    fetch = Fetcher(
        port,
        scope=scope,
        cap=settings.max_results,
        with_xml=return_type is ReturnType.LEAF_CLASS,
        metadata_level=int(params.one("$MetadataLevel") or "1"),
    )
    objects = query.run(params, fetch)
    if len(objects) > settings.max_results:
        raise too_many(len(objects), settings.max_results)
    if query.single_patient and return_type is ReturnType.LEAF_CLASS:
        patients = {row.patient_id for row in objects if row.patient_id is not None}
        if len(patients) > 1:
            raise XdsError.single(
                ErrorCode.RESULT_NOT_SINGLE_PATIENT,
                f"{query.name} would return objects of {len(patients)} patients",
            )
    return QueryResult(query.name, return_type, objects)
