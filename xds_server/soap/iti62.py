"""ITI-62 Delete Document Set: ``lcm:RemoveObjectsRequest`` -> ``rs:RegistryResponse``.

Glue: decode the ObjectRefList (ebxml), run ``core.usecases.delete`` inside ONE database transaction (all or
nothing), encode. Failures are a RegistryResponse with status Failure listing every RegistryError; an
unexpected exception becomes one XDSRegistryError (``soap.replies``: the traceback is logged, never sent).
"""

from __future__ import annotations

from lxml import etree

from xds_server.core.errors import Issue
from xds_server.core.usecases.delete import delete
from xds_server.ebxml.query import decode_remove_objects
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.iti57 import versioned
from xds_server.soap.replies import internal_registry_error, registry_reply
from xds_server.soap.services import Reply
from xds_server.wiring import Services
from xds_server.wiring.access import check_removal

TRANSACTION = "ITI-62"


def handle(request: SoapRequest, services: Services) -> Reply:
    """The RegistryResponse for one RemoveObjectsRequest."""
    return Reply(delete_response(request.body, services, request))


def delete_response(request_body: etree._Element, services: Services, request: SoapRequest) -> etree._Element:
    """Remove the objects listed in ``request_body``; the rs:RegistryResponse element (never raises).
    ``request`` (the authenticated SOAP request) brings the actor the DMP rules check (wiring.access)."""

    def run() -> tuple[Issue, ...]:
        entry_uuids = decode_remove_objects(request_body)
        with services.transaction() as work:
            check_removal(services, request.actor, work, entry_uuids)
            delete(entry_uuids, store=versioned(work.registry))
        return ()

    return registry_reply(TRANSACTION, run, internal_registry_error("nothing was removed"))


__all__ = ["TRANSACTION", "delete_response", "handle"]
