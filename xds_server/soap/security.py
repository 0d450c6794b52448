"""WS-Security at the SOAP face: no identity, no transaction.

Theory of operation. The router calls ``AccessControl.authenticate`` after the envelope checks and the action
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
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Protocol

from lxml import etree

from xds_server.core.policy import AccessContext, ActorKind, Policy, PolicyMode, RecordSettings
from xds_server.identity.errors import IdentityError, WsseFault
from xds_server.soap.faults import FaultCode, SoapFault, Subcode
from xds_server.soap.namespaces import WSSE

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


class RecordReader(Protocol):
    """The patient record settings the rules read (``storage.records.SqlRecordStore`` in production)."""

    def load(self, patient_id: str, today: date) -> RecordSettings | None: ...


def policy_mode(profile_name: str) -> PolicyMode:
    """Which rule book a domain profile uses: ``dmp`` and ``dmp-test`` the DMP rules, others IHE."""
    return PolicyMode.DMP if profile_name.startswith("dmp") else PolicyMode.IHE


def anonymous_actor(name: str) -> AccessContext:
    """The actor unauthenticated requests run as in the ``ihe`` profile (``XDS_ANONYMOUS_ACTOR``)."""
    return AccessContext(ActorKind.SYSTEM, name.strip(), issuer="XDS_ANONYMOUS_ACTOR")


def _today() -> date:
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class AccessControl:
    """Identity and policy for the SOAP face; ``app.py`` builds one, ``Services.access`` carries it.

    ``anonymous`` is honoured only when the policy runs in IHE mode. ``today`` dates the record settings
    (a minor is one on that day)."""

    policy: Policy
    verify: HeaderVerifier
    anonymous: AccessContext | None = None
    today: Callable[[], date] = _today

    @property
    def enforces_dmp(self) -> bool:
        return self.policy.mode is PolicyMode.DMP

    def authenticate(self, request: SoapRequest) -> AccessContext:
        """The request's actor; a ``SoapFault`` (env:Sender, wsse subcode) when there is none."""
        blocks = request.header_blocks(WSSE, "Security")
        if not blocks and self.anonymous is not None and not self.enforces_dmp:
            return self.anonymous
        try:
            return self.verify(blocks)
        except IdentityError as error:
            raise identity_fault(error, request.message_id) from None


def identity_fault(error: IdentityError, relates_to: str | None = None) -> SoapFault:
    """The WS-Security fault for an identity refusal (the message says what to fix, never a secret)."""
    return SoapFault(FaultCode.SENDER, error.message, subcode=_SUBCODES[error.fault], relates_to=relates_to)


__all__ = [
    "FAILED_AUTHENTICATION",
    "INVALID_SECURITY",
    "AccessControl",
    "HeaderVerifier",
    "RecordReader",
    "anonymous_actor",
    "identity_fault",
    "policy_mode",
]
