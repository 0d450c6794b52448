"""Bearer tokens at the FHIR face: no identity, no transaction (IHE IUA, RFC 6750).

``Authorization: Bearer <JWT>`` goes to ``AccessControl.verify_token`` (identity.jwt.TokenVerifier: trusted
issuers, asymmetric algorithms only, exp/aud/iss required); the verified claims become the request's
``AccessContext``, and the DMP rules then decide exactly as on the SOAP face (wiring.access). A request
without a token, with another scheme, or with a token that does not verify is answered 401 with an
OperationOutcome and ``WWW-Authenticate: Bearer`` (with ``error="invalid_token"`` when a token was sent),
before its body is read. The ``ihe`` profile's anonymous actor (``XDS_ANONYMOUS_ACTOR``) serves a request that
carries no Authorization header at all, as on the SOAP face; the DMP profiles never admit one.
"""

from __future__ import annotations

from fastapi import Request

from fhir_api.outcome import FhirError, OutcomeIssue, from_identity_error
from xds_server import metrics
from xds_server.core.policy import AccessContext
from xds_server.identity import IdentityError
from xds_server.wiring import Services

CHALLENGE = 'Bearer realm="xds-server"'


def _unauthorised(message: str) -> FhirError:
    metrics.refused("authentication")
    return FhirError(401, [OutcomeIssue("login", message)], headers={"WWW-Authenticate": CHALLENGE})


def authenticate(request: Request, services: Services) -> AccessContext:
    """The request's actor, or a 401 FhirError."""
    access = services.access
    header = request.headers.get("authorization")
    if access is None:
        raise _unauthorised("the server is not configured to authenticate requests")
    if header is None:
        if access.anonymous_actor is not None:
            return access.anonymous_actor
        raise _unauthorised("this request needs 'Authorization: Bearer <token>'")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorised("the Authorization header must be 'Bearer <token>'")
    if access.verify_token is None:
        raise _unauthorised("this server accepts no bearer token (no token issuer is configured)")
    try:
        return access.verify_token(token.strip())
    except IdentityError as error:
        metrics.refused("authentication")
        raise from_identity_error(error) from None


__all__ = ["CHALLENGE", "authenticate"]
