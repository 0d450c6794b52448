"""OpenID Connect login of patients (FranceConnect-style): authorisation code flow with PKCE (S256).

1. ``begin``: a fresh ``state``, ``nonce`` and PKCE verifier (kept in the session cookie, signed), and the
   authorisation URL of the issuer's discovery document (``/.well-known/openid-configuration``).
2. ``finish``: the ``state`` must match; the code is exchanged at the token endpoint (with the verifier and
   the client secret: ``client_secret_basic`` when the issuer lists it, else ``client_secret_post``); the
   id_token is verified with python-jose against the issuer's JWKS: signature (asymmetric algorithms only),
   ``iss``, ``aud`` (our client id), ``exp``, the ``nonce`` of step 1 and, when given, ``at_hash``. The
   patient's INS is the claim ``XDS_OIDC_INS_CLAIM`` names.

Every failure is an ``OidcError`` with a message the login page shows; nothing is logged in then.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import httpx
from jose import jwt
from jose.exceptions import JOSEError

from xds_server.config import Settings

_ALGORITHMS: Final = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"]


class OidcError(Exception):
    """The login could not complete (the message is shown to the patient)."""


@dataclass(frozen=True, slots=True)
class Pending:
    """What ``finish`` needs from ``begin`` (kept in the session)."""

    state: str
    nonce: str
    verifier: str


@dataclass(frozen=True, slots=True)
class Identity:
    ins: str
    name: str | None


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    """One configured issuer. ``transport``: an httpx transport (tests give a mock issuer)."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self._discovery: dict[str, Any] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.settings.oidc_issuer and self.settings.oidc_client_id)

    def _http(self) -> httpx.Client:
        return httpx.Client(transport=self.transport, timeout=10.0, follow_redirects=False)

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with self._http() as http:
                response = http.get(url, headers={"Accept": "application/json"})
                response.raise_for_status()
                data = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise OidcError(f"le fournisseur d'identité ne répond pas ({error.__class__.__name__})") from None
        if not isinstance(data, dict):
            raise OidcError("le fournisseur d'identité a répondu autre chose qu'un objet JSON")
        return data

    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            issuer = (self.settings.oidc_issuer or "").rstrip("/")
            found = self._get_json(f"{issuer}/.well-known/openid-configuration")
            if found.get("issuer", "").rstrip("/") != issuer:
                raise OidcError("le document de découverte annonce un autre émetteur")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(key), str):
                    raise OidcError(f"le document de découverte n'a pas de {key}")
            self._discovery = found
        return self._discovery

    def begin(self, redirect_uri: str) -> tuple[str, Pending]:
        """The authorisation URL to send the browser to, and what to keep for ``finish``."""
        pending = Pending(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))
        params = {
            "response_type": "code",
            "client_id": self.settings.oidc_client_id or "",
            "redirect_uri": redirect_uri,
            "scope": self.settings.oidc_scope,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": _challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        endpoint = str(self.discovery()["authorization_endpoint"])
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(params)}", pending

    def finish(self, pending: Pending, code: str, state: str, redirect_uri: str) -> Identity:
        """Exchange the code and verify the id_token; the patient it names."""
        if not secrets.compare_digest(pending.state, state):
            raise OidcError("la réponse du fournisseur d'identité ne correspond pas à cette connexion")
        found = self.discovery()
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": pending.verifier,
            "client_id": self.settings.oidc_client_id or "",
        }
        auth: tuple[str | bytes, str | bytes] | None = None
        secret = self.settings.oidc_client_secret
        methods = found.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if secret and "client_secret_basic" in methods:
            auth = (self.settings.oidc_client_id or "", secret)
        elif secret:
            body["client_secret"] = secret
        try:
            with self._http() as http:
                response = (
                    http.post(str(found["token_endpoint"]), data=body, auth=auth)
                    if auth is not None
                    else http.post(str(found["token_endpoint"]), data=body)
                )
                tokens = response.json()
        except (httpx.HTTPError, ValueError):
            raise OidcError("le fournisseur d'identité n'a pas délivré de jeton") from None
        if response.status_code != 200 or not isinstance(tokens, dict) or "id_token" not in tokens:
            raise OidcError("le fournisseur d'identité a refusé le code de connexion")
        claims = self._verified(str(tokens["id_token"]), tokens.get("access_token"))
        if not secrets.compare_digest(str(claims.get("nonce", "")), pending.nonce):
            raise OidcError("le jeton d'identité ne correspond pas à cette connexion (nonce)")
        ins = claims.get(self.settings.oidc_ins_claim)
        if not isinstance(ins, str) or not ins.strip():
            raise OidcError("le jeton d'identité ne donne pas d'INS")
        given, family = claims.get("given_name"), claims.get("family_name")
        name = " ".join(str(n) for n in (given, family) if n) or None
        return Identity(ins.strip(), name)

    def _verified(self, id_token: str, access_token: Any) -> dict[str, Any]:
        keys = self._get_json(str(self.discovery()["jwks_uri"]))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                keys,
                algorithms=_ALGORITHMS,
                audience=self.settings.oidc_client_id,
                issuer=str(self.discovery()["issuer"]),
                access_token=access_token if isinstance(access_token, str) else None,
                options={"require_exp": True, "require_aud": True, "require_iss": True},
            )
        except JOSEError as error:
            raise OidcError(f"le jeton d'identité n'est pas valide ({error})") from None
        return claims


__all__ = ["Identity", "OidcClient", "OidcError", "Pending"]
