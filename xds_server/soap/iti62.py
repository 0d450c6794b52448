"""ITI-62 Delete Document Set: ``lcm:RemoveObjectsRequest`` -> ``rs:RegistryResponse``.

Glue: decode the ObjectRefList (ebxml), run ``core.usecases.delete`` inside ONE database transaction (all or
nothing), encode. Failures are a RegistryResponse with status Failure listing every RegistryError.
"""

from __future__ import annotations

import logging

from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.usecases.delete import delete
from xds_server.core.vocabulary import ResponseStatus
from xds_server.ebxml.query import decode_remove_objects
from xds_server.ebxml.responses import registry_response
from xds_server.soap.access import check_removal
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.iti57 import failure, versioned
from xds_server.soap.services import Reply, Services

log = logging.getLogger(__name__)


def handle(request: SoapRequest, services: Services) -> Reply:
    """The RegistryResponse for one RemoveObjectsRequest."""
    return Reply(delete_response(request.body, services, request))


def delete_response(request_body: etree._Element, services: Services, request: SoapRequest) -> etree._Element:
    """Remove the objects listed in ``request_body``; the rs:RegistryResponse element (never raises).
    ``request`` (the authenticated SOAP request) brings the actor the DMP rules check (soap.access)."""
    try:
        entry_uuids = decode_remove_objects(request_body)
        with services.transaction() as work:
            check_removal(services, request, work, entry_uuids)
            delete(entry_uuids, store=versioned(work.registry))
    except XdsError as error:
        return failure(error.issues)
    except Exception:
        log.exception("ITI-62 deletion failed unexpectedly; the transaction was rolled back")
        return failure([Issue(ErrorCode.REGISTRY_ERROR, "internal registry error; nothing was removed")])
    return registry_response(ResponseStatus.SUCCESS, [])


__all__ = ["delete_response", "handle"]
