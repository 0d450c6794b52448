"""ITI-57 Update Document Set (Metadata Update): ``lcm:SubmitObjectsRequest`` -> ``rs:RegistryResponse``.

Glue, like iti42: decode, run ``core.usecases.update`` inside ONE database transaction (all or nothing),
encode. Failures are a RegistryResponse with status Failure listing every RegistryError; an unexpected
exception becomes one XDSRegistryError (``soap.replies``: the traceback is logged, never sent).
"""

from __future__ import annotations

from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.ports import RegistryStore, VersionedRegistryStore
from xds_server.core.usecases.update import TRANSACTION, update
from xds_server.ebxml.codec import decode_submission
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.replies import (
    check_submission_size,
    internal_registry_error,
    registry_reply,
    require_submit_objects,
)
from xds_server.soap.services import Reply
from xds_server.wiring import Services
from xds_server.wiring.access import check_update


def handle(request: SoapRequest, services: Services) -> Reply:
    """The RegistryResponse for one ITI-57 SubmitObjectsRequest."""
    return Reply(update_response(request.body, services, request))


def update_response(request_body: etree._Element, services: Services, request: SoapRequest) -> etree._Element:
    """Apply the update in ``request_body``; the rs:RegistryResponse element (never raises).
    ``request`` (the authenticated SOAP request) brings the actor the DMP rules check (wiring.access)."""

    def run() -> tuple[Issue, ...]:
        require_submit_objects(TRANSACTION, request_body)
        check_submission_size(services, request_body)
        submission = decode_submission(request_body)
        with services.transaction() as work:
            check_update(services, request.actor, work, submission)
            return update(
                submission,
                store=versioned(work.registry),
                profile=services.profile,
                clock=services.clock,
                ids=services.ids,
            )

    return registry_reply(TRANSACTION, run, internal_registry_error("nothing was updated"))


def versioned(store: RegistryStore) -> VersionedRegistryStore:
    """The unit of work's store, which must also read versions and remove objects (SqlRegistryStore does)."""
    if not isinstance(store, VersionedRegistryStore):
        raise XdsError.single(
            ErrorCode.REGISTRY_ERROR, "this registry store supports neither ITI-57 nor ITI-62"
        )
    return store


__all__ = ["handle", "update_response", "versioned"]
