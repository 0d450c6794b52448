"""Identity errors: a request whose credential is missing or not acceptable never reaches the policy.

    IdentityError            carries the WS-Security fault code the SOAP layer renders (and the FHIR layer
                             renders as 401 + OperationOutcome); the message says what to fix, never a secret

``wsse:InvalidSecurity``: the header or credential is absent or malformed (no assertion, two assertions,
missing attribute, signature not on the assertion read). ``wsse:FailedAuthentication``: the credential is
well formed but not trusted now (bad or unknown signature, expired, not yet valid, replayed).
"""

from __future__ import annotations

from enum import StrEnum


class WsseFault(StrEnum):
    """WS-Security 1.1 SOAP fault subcodes (namespace: the wsse secext 1.0 namespace)."""

    INVALID_SECURITY = "wsse:InvalidSecurity"
    FAILED_AUTHENTICATION = "wsse:FailedAuthentication"

    @property
    def local_name(self) -> str:
        return self.value.split(":", 1)[1]


class IdentityError(Exception):
    """No acceptable identity: the transaction is refused before anything else happens."""

    def __init__(self, fault: WsseFault, message: str) -> None:
        super().__init__(message)
        self.fault = fault
        self.message = message

    @classmethod
    def invalid(cls, message: str) -> IdentityError:
        return cls(WsseFault.INVALID_SECURITY, message)

    @classmethod
    def failed(cls, message: str) -> IdentityError:
        return cls(WsseFault.FAILED_AUTHENTICATION, message)

    def __repr__(self) -> str:
        return f"IdentityError({self.fault.value}, {self.message!r})"


__all__ = ["IdentityError", "WsseFault"]
