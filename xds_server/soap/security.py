"""WS-Security at the SOAP face: no identity, no transaction.

Theory of operation. The router calls ``authenticate`` after the envelope checks and the action
lookup, before any handler runs:

* the request's ``wsse:Security`` header blocks go to the identity layer (``identity.saml.AssertionVerifier``
  .verify_security_header, trusting the configured certificates and the dev authority while it is trusted);
  the verified assertion becomes the request's ``AccessContext`` (``SoapRequest.actor``);
* a missing, malformed or untrusted credential is a SOAP Fault: Code ``env:Sender``, Subcode
  ``wsse:InvalidSecurity`` (absent or malformed) or ``wsse:FailedAuthentication`` (bad signature, expired,
  replayed), as WS-Security 1.1 (SOAP Message Security, section 12) names them for SOAP 1.2. The HTTP status
  is 400: the SOAP 1.2 HTTP binding (part 2, table 20) maps env:Sender to 400 and only other fault codes to
  500, and WS-Security does not override the binding (see docs/errors.md);
* the ``ihe`` profile (conformance testing) admits a request WITHOUT any wsse:Security header only when
  ``XDS_ANONYMOUS_ACTOR`` names the actor it runs as (a ``system`` actor); a header that is present is
  always verified, and the ``dmp`` profiles never admit an anonymous request.

What an authenticated actor may then do is ``core.policy``'s decision, applied per transaction by
``soap.access``: refusals there are RegistryResponse Failures, never faults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lxml import etree

from xds_server.core.policy import AccessContext
from xds_server.identity.errors import IdentityError, WsseFault
from xds_server.soap.faults import FaultCode, SoapFault, Subcode
from xds_server.soap.namespaces import WSSE
from xds_server.wiring.services import AccessControl

if TYPE_CHECKING:
    from xds_server.soap.envelope import SoapRequest

INVALID_SECURITY = Subcode(WSSE, "InvalidSecurity", "wsse")
FAILED_AUTHENTICATION = Subcode(WSSE, "FailedAuthentication", "wsse")
_SUBCODES = {
    WsseFault.INVALID_SECURITY: INVALID_SECURITY,
    WsseFault.FAILED_AUTHENTICATION: FAILED_AUTHENTICATION,
}

#: ``AssertionVerifier.verify_security_header``: the wsse:Security blocks -> the actor, or IdentityError.
HeaderVerifier = Callable[[Sequence[etree._Element]], AccessContext]


def authenticate(access: AccessControl, request: SoapRequest) -> AccessContext:
    """The request's actor; a ``SoapFault`` (env:Sender, wsse subcode) when there is none."""
    blocks = request.header_blocks(WSSE, "Security")
    if not blocks and access.anonymous_actor is not None:
        return access.anonymous_actor
    if access.verify_header is None:
        raise identity_fault(
            IdentityError(WsseFault.INVALID_SECURITY, "this server accepts no WS-Security credential"),
            request.message_id,
        )
    try:
        return access.verify_header(blocks)
    except IdentityError as error:
        raise identity_fault(error, request.message_id) from None


def identity_fault(error: IdentityError, relates_to: str | None = None) -> SoapFault:
    """The WS-Security fault for an identity refusal (the message says what to fix, never a secret)."""
    return SoapFault(FaultCode.SENDER, error.message, subcode=_SUBCODES[error.fault], relates_to=relates_to)


__all__ = [
    "FAILED_AUTHENTICATION",
    "INVALID_SECURITY",
    "HeaderVerifier",
    "authenticate",
    "identity_fault",
]
