"""ITI-42 Register Document Set-b: ``lcm:SubmitObjectsRequest`` -> ``rs:RegistryResponse``.

The handler is glue: decode (ebxml), run the core ``register`` use case inside ONE database transaction,
encode the answer. Atomicity (ITI TF-2b 3.42.4.1.3, NIST 12084) comes from the transaction: the block
commits only after ``register`` has returned, and any exception inside it rolls every write back. Every
failure becomes a RegistryResponse with status Failure listing every RegistryError; an unexpected exception
becomes one XDSRegistryError with a generic message (``soap.replies``: the traceback is logged, never sent).
"""

from __future__ import annotations

from lxml import etree

from xds_server.core.errors import Issue
from xds_server.core.metadata import Submission
from xds_server.core.usecases.register import register
from xds_server.ebxml.codec import decode_submission
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.replies import (
    check_submission_size,
    internal_registry_error,
    registry_reply,
    require_submit_objects,
)
from xds_server.soap.services import Reply
from xds_server.wiring import Services, UnitOfWork
from xds_server.wiring.access import check_submission

TRANSACTION = "ITI-42"


def handle(request: SoapRequest, services: Services) -> Reply:
    """The RegistryResponse for one SubmitObjectsRequest (see the module docstring)."""
    return Reply(register_response(request.body, services, request))


def register_response(
    request_body: etree._Element, services: Services, request: SoapRequest
) -> etree._Element:
    """Register the submission in ``request_body``; the rs:RegistryResponse element (never raises).
    ``request`` (the authenticated SOAP request) brings the actor the DMP rules check (wiring.access)."""

    def run() -> tuple[Issue, ...]:
        require_submit_objects(TRANSACTION, request_body)
        check_submission_size(services, request_body)
        submission = decode_submission(request_body)
        with services.transaction() as work:
            return checked_register(services, request, work, submission)

    return registry_reply(TRANSACTION, run, internal_registry_error("nothing was registered"))


def checked_register(
    services: Services,
    request: SoapRequest,
    work: UnitOfWork,
    submission: Submission,
    *,
    transaction: str = TRANSACTION,
    validated: tuple[Issue, ...] | None = None,
) -> tuple[Issue, ...]:
    """The DMP rules (wiring.access), then the register use case, in the caller's open transaction ``work``;
    the warnings. ITI-41 registers through here too (``transaction="ITI-41"``, and ``validated``: the
    warnings of the metadata validation it ran before storing the documents, see core ``register``)."""
    check_submission(services, request.actor, work, submission)
    return register(
        submission,
        store=work.registry,
        profile=services.profile,
        clock=services.clock,
        ids=services.ids,
        transaction=transaction,
        validated=validated,
    )


__all__ = ["TRANSACTION", "checked_register", "handle", "register_response"]
