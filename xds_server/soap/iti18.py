"""ITI-18 Registry Stored Query and ITI-51 Multi-Patient Stored Query:
``query:AdhocQueryRequest`` -> ``query:AdhocQueryResponse``.

Glue only: decode (ebxml), run the core query engine on the request's read transaction, encode. Query
failures are answers (status Failure with the RegistryErrors and an empty RegistryObjectList), never faults;
an unexpected exception is logged here and answered as one XDSRegistryError. ITI-51 is refused with a
``wsa:ActionNotSupported`` fault unless ``XDS_MULTI_PATIENT_QUERY`` is on, as if the action were not routed.
"""

from __future__ import annotations

import logging

from lxml import etree

from xds_server import metrics
from xds_server.core.errors import ErrorCode, Issue, LimitExceeded, XdsError
from xds_server.core.query import QueryPort, QuerySettings, StoredQueryRequest, Transaction, run_stored_query
from xds_server.core.query.engine import QueryResult, ReturnType
from xds_server.core.vocabulary import ResponseStatus, SoapAction
from xds_server.ebxml.namespaces import QUERY
from xds_server.ebxml.query import adhoc_query_response, decode_adhoc_query
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.faults import ACTION_NOT_SUPPORTED, FaultCode, SoapFault
from xds_server.soap.services import Reply
from xds_server.wiring import Services, UnitOfWork
from xds_server.wiring.access import query_scope

log = logging.getLogger(__name__)

_ADHOC_QUERY_REQUEST = f"{{{QUERY}}}AdhocQueryRequest"


def handle(request: SoapRequest, services: Services) -> Reply:
    """ITI-18: the AdhocQueryResponse for one AdhocQueryRequest."""
    return Reply(stored_query_response(request.body, services, Transaction.STORED_QUERY, request))


def handle_iti51(request: SoapRequest, services: Services) -> Reply:
    """ITI-51: as ITI-18 with the multi-patient queries, when enabled."""
    if not services.settings.multi_patient_query:
        raise SoapFault(
            FaultCode.SENDER,
            "Multi-Patient Stored Query (ITI-51) is not enabled on this registry",
            subcode=ACTION_NOT_SUPPORTED,
            problem_action=SoapAction.MULTI_PATIENT_QUERY.value,
        )
    return Reply(stored_query_response(request.body, services, Transaction.MULTI_PATIENT_QUERY, request))


def query_settings(services: Services) -> QuerySettings:
    return services.query_settings


def stored_query_response(
    request_body: etree._Element,
    services: Services,
    transaction: Transaction,
    request: SoapRequest | None = None,
) -> etree._Element:
    """Run the stored query in ``request_body``; the query:AdhocQueryResponse element (never raises).
    ``request`` (the authenticated SOAP request) brings the actor whose visibility scope the query runs in
    (wiring.access.query_scope; the DMP profiles refuse a query without one)."""
    if request_body.tag != _ADHOC_QUERY_REQUEST:
        found = etree.QName(request_body).localname
        return _failure(
            [
                Issue(
                    ErrorCode.REGISTRY_METADATA_ERROR,
                    f"expected query:AdhocQueryRequest in the Body, found {found}",
                )
            ]
        )
    try:
        adhoc = decode_adhoc_query(request_body)
        stored = StoredQueryRequest(
            query_id=adhoc.query_id,
            return_type=adhoc.return_type,
            return_composed_objects=adhoc.return_composed_objects,
            slots=adhoc.slots,
            home=adhoc.home,
        )
        with services.transaction() as work:
            scope = query_scope(services, request.actor if request is not None else None, work, adhoc.slots)
            result = run_stored_query(
                stored,
                _query_port(work),
                settings=query_settings(services),
                scope=scope,
                transaction=transaction,
            )
    except XdsError as error:
        if isinstance(error, LimitExceeded):
            metrics.refused(error.reason)
        return _failure(error.issues)
    except Exception:
        log.exception("%s stored query failed unexpectedly", transaction.value)
        return _failure([Issue(ErrorCode.REGISTRY_ERROR, "internal registry error while running the query")])
    return _success(result)


def _query_port(work: UnitOfWork) -> QueryPort:
    # app.unit_of_work_factory always sets it; only a hand-built test double could leave it out
    if work.queries is None:
        raise RuntimeError("UnitOfWork.queries is not wired: the composition root must provide a QueryPort")
    return work.queries


def _success(result: QueryResult) -> etree._Element:
    if result.return_type is ReturnType.LEAF_CLASS:
        return adhoc_query_response(
            ResponseStatus.SUCCESS,
            list(result.warnings),
            leaf_xml=result.leaf_xml,
            status_overrides=result.status_overrides,
            folder_last_update=result.folder_last_update,
        )
    return adhoc_query_response(ResponseStatus.SUCCESS, list(result.warnings), object_refs=result.object_refs)


def _failure(issues: list[Issue] | tuple[Issue, ...]) -> etree._Element:
    return adhoc_query_response(ResponseStatus.FAILURE, list(issues))


__all__ = ["handle", "handle_iti51", "query_settings", "stored_query_response"]
