"""ITI-42 Register Document Set-b: ``lcm:SubmitObjectsRequest`` -> ``rs:RegistryResponse``.

The handler is glue: decode (ebxml), run the core ``register`` use case inside ONE database transaction,
encode the answer. Atomicity (ITI TF-2b 3.42.4.1.3, NIST 12084) comes from the transaction: the block
commits only after ``register`` has returned, and any exception inside it rolls every write back. Every
failure becomes a RegistryResponse with status Failure listing every RegistryError; an unexpected exception
becomes one XDSRegistryError with a generic message (the traceback is logged here, never sent).
"""

from __future__ import annotations

import logging

from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.usecases.register import register
from xds_server.core.vocabulary import ResponseStatus
from xds_server.ebxml.codec import decode_submission
from xds_server.ebxml.namespaces import LCM
from xds_server.ebxml.responses import registry_response
from xds_server.soap.access import check_submission
from xds_server.soap.envelope import SoapRequest
from xds_server.soap.services import Reply, Services

log = logging.getLogger(__name__)

_SUBMIT_OBJECTS_REQUEST = f"{{{LCM}}}SubmitObjectsRequest"
TRANSACTION = "ITI-42"


def handle(request: SoapRequest, services: Services) -> Reply:
    """The RegistryResponse for one SubmitObjectsRequest (see the module docstring)."""
    return Reply(register_response(request.body, services, request))


def register_response(
    request_body: etree._Element, services: Services, request: SoapRequest
) -> etree._Element:
    """Register the submission in ``request_body``; the rs:RegistryResponse element (never raises).
    ``request`` (the authenticated SOAP request) brings the actor the DMP rules check (soap.access)."""
    if request_body.tag != _SUBMIT_OBJECTS_REQUEST:
        return _failure(
            [
                Issue(
                    ErrorCode.REGISTRY_METADATA_ERROR,
                    "ITI-42 expects lcm:SubmitObjectsRequest in the SOAP Body, found "
                    f"{etree.QName(request_body).localname}",
                )
            ]
        )
    try:
        submission = decode_submission(request_body)
        with services.transaction() as work:
            check_submission(services, request, work, submission)
            warnings = register(
                submission,
                store=work.registry,
                profile=services.profile,
                clock=services.clock,
                ids=services.ids,
                transaction=TRANSACTION,
            )
    except XdsError as error:
        return _failure(error.issues)
    except Exception:
        log.exception("ITI-42 registration failed unexpectedly; the transaction was rolled back")
        return _failure([Issue(ErrorCode.REGISTRY_ERROR, "internal registry error; nothing was registered")])
    return registry_response(ResponseStatus.SUCCESS, list(warnings))


def _failure(issues: list[Issue] | tuple[Issue, ...]) -> etree._Element:
    return registry_response(ResponseStatus.FAILURE, list(issues))


__all__ = ["TRANSACTION", "handle", "register_response"]
