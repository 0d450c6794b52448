"""ITI-57 Update Document Set (Metadata Update): ``lcm:SubmitObjectsRequest`` -> ``rs:RegistryResponse``.

Glue, like iti42: decode, run ``core.usecases.update`` inside ONE database transaction (all or nothing),
encode. Failures are a RegistryResponse with status Failure listing every RegistryError; an unexpected
exception becomes one XDSRegistryError (the traceback is logged, never sent).
"""

from __future__ import annotations

import logging

from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.ports import RegistryStore, VersionedRegistryStore
from xds_server.core.usecases.update import TRANSACTION, update
from xds_server.core.vocabulary import ResponseStatus
from xds_server.ebxml.codec import decode_submission
from xds_server.ebxml.namespaces import LCM
from xds_server.ebxml.responses import registry_response
from xds_server.soap.access import check_update
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.services import Reply, Services

log = logging.getLogger(__name__)

_SUBMIT_OBJECTS_REQUEST = f"{{{LCM}}}SubmitObjectsRequest"


def handle(request: SoapRequest, services: Services) -> Reply:
    """The RegistryResponse for one ITI-57 SubmitObjectsRequest."""
    return Reply(update_response(request.body, services, request))


def update_response(request_body: etree._Element, services: Services, request: SoapRequest) -> etree._Element:
    """Apply the update in ``request_body``; the rs:RegistryResponse element (never raises).
    ``request`` (the authenticated SOAP request) brings the actor the DMP rules check (soap.access)."""
    if request_body.tag != _SUBMIT_OBJECTS_REQUEST:
        found = etree.QName(request_body).localname
        return failure(
            [
                Issue(
                    ErrorCode.REGISTRY_METADATA_ERROR,
                    f"{TRANSACTION} expects lcm:SubmitObjectsRequest, found {found}",
                )
            ]
        )
    try:
        submission = decode_submission(request_body)
        with services.transaction() as work:
            check_update(services, request, work, submission)
            warnings = update(
                submission,
                store=versioned(work.registry),
                profile=services.profile,
                clock=services.clock,
                ids=services.ids,
            )
    except XdsError as error:
        return failure(error.issues)
    except Exception:
        log.exception("ITI-57 update failed unexpectedly; the transaction was rolled back")
        return failure([Issue(ErrorCode.REGISTRY_ERROR, "internal registry error; nothing was updated")])
    return registry_response(ResponseStatus.SUCCESS, list(warnings))


def versioned(store: RegistryStore) -> VersionedRegistryStore:
    """The unit of work's store, which must also read versions and remove objects (SqlRegistryStore does)."""
    if not isinstance(store, VersionedRegistryStore):
        raise XdsError.single(
            ErrorCode.REGISTRY_ERROR, "this registry store supports neither ITI-57 nor ITI-62"
        )
    return store


def failure(issues: list[Issue] | tuple[Issue, ...]) -> etree._Element:
    return registry_response(ResponseStatus.FAILURE, list(issues))


__all__ = ["failure", "handle", "update_response", "versioned"]
