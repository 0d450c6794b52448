"""Identity: VIHF SAML assertions (SOAP) and bearer JWTs (FHIR) -> ``core.policy.AccessContext``; the local
test authority; the trust store; the policy data loader. No valid credential, no transaction."""

from xds_server.identity.errors import IdentityError, WsseFault
from xds_server.identity.jwt import JwtSettings, TokenVerifier, TrustedIssuer, context_from_claims
from xds_server.identity.policy_data import load_policy, load_tables
from xds_server.identity.saml import AssertionVerifier, ReplayCache, SamlSettings, VihfAttribute
from xds_server.identity.trust import TrustStore, load_certificates

__all__ = [
    "AssertionVerifier",
    "IdentityError",
    "JwtSettings",
    "ReplayCache",
    "SamlSettings",
    "TokenVerifier",
    "TrustStore",
    "TrustedIssuer",
    "VihfAttribute",
    "WsseFault",
    "context_from_claims",
    "load_certificates",
    "load_policy",
    "load_tables",
]
