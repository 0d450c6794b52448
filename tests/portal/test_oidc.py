"""The OpenID Connect login against a mock issuer (httpx MockTransport): discovery, authorisation code with
PKCE S256, the id_token verified against the JWKS (signature, iss, aud, exp, nonce), the INS from the
configured claim; each broken step refuses the login."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

from tests.audit.test_fhir_trail import dmp as dmp
from tests.core.builders import INS
from tests.e2e.test_dmp_policy import Dmp
from tests.portal.helpers import BASE, page
from xds_server.portal.oidc import OidcClient

ISSUER = "https://idp.example.org"
CLIENT = "espace-sante"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PUBLIC = jwk.construct(
    KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ),
    "RS256",
).to_dict()
OTHER_KEY = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    .decode()
)


class Issuer:
    """The mock identity provider: remembers the authorisation request, answers the token request."""

    def __init__(self) -> None:
        self.nonce = ""
        self.challenge = ""
        self.token_requests: list[dict[str, list[str]]] = []
        self.claims: Callable[[dict[str, Any]], dict[str, Any]] = lambda c: c
        self.key = PEM

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            })  # fmt: skip
        if request.url.path == "/jwks":
            return httpx.Response(200, json={"keys": [PUBLIC | {"kid": "k1", "use": "sig"}]})
        if request.url.path == "/token":
            form = parse_qs(request.content.decode())
            self.token_requests.append(form)
            verifier = form["code_verifier"][0]
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if digest != self.challenge or form.get("client_secret") != ["s3cret"]:
                return httpx.Response(400, json={"error": "invalid_grant"})
            now = int(time.time())
            claims = self.claims({
                "iss": ISSUER, "aud": CLIENT, "sub": "p-1", "iat": now, "exp": now + 300,
                "nonce": self.nonce, "ins": INS, "given_name": "Marie", "family_name": "DUPONT",
            })  # fmt: skip
            token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})
            return httpx.Response(200, json={"id_token": token, "token_type": "Bearer"})
        return httpx.Response(404)


@pytest.fixture
def issuer(dmp: Dmp) -> Issuer:
    mock = Issuer()
    portal = dmp.client.app.state.portal  # type: ignore[attr-defined]
    settings = portal.services.settings.model_copy(
        update={"oidc_issuer": ISSUER, "oidc_client_id": CLIENT, "oidc_client_secret": "s3cret"}
    )
    portal.oidc = OidcClient(settings, transport=httpx.MockTransport(mock.handler))
    return mock


def begin(dmp: Dmp, issuer: Issuer) -> dict[str, str]:
    assert "Se connecter avec mon fournisseur d" in page(dmp.client, "connexion").text
    answer = dmp.client.get(f"{BASE}/connexion/oidc", follow_redirects=False)
    assert answer.status_code == 303
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/authorize"
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert params["code_challenge_method"] == "S256" and params["client_id"] == CLIENT
    assert params["redirect_uri"].endswith("/espace-sante/connexion/retour")
    issuer.nonce, issuer.challenge = params["nonce"], params["code_challenge"]
    return params


def back(dmp: Dmp, state: str) -> httpx.Response:
    return dmp.client.get(f"{BASE}/connexion/retour", params={"code": "c0de", "state": state},
                          follow_redirects=False)  # fmt: skip


def test_login_with_pkce_and_a_verified_id_token(dmp: Dmp, issuer: Issuer) -> None:
    dmp.record()
    params = begin(dmp, issuer)
    answer = back(dmp, params["state"])
    assert answer.status_code == 303 and answer.headers["location"] == f"{BASE}/documents"
    assert len(issuer.token_requests) == 1
    html = page(dmp.client, "documents").text
    assert f"Dossier de <strong>{INS}</strong>" in html
    assert back(dmp, params["state"]).status_code == 400  # a replayed answer: its state is used up
    assert len(issuer.token_requests) == 1


@pytest.mark.parametrize(
    "broken",
    [
        lambda c: c | {"nonce": "another"},
        lambda c: c | {"aud": "someone-else"},
        lambda c: c | {"iss": "https://evil.example"},
        lambda c: c | {"exp": int(time.time()) - 3600},
        lambda c: {k: v for k, v in c.items() if k != "ins"},
    ],
    ids=["nonce", "aud", "iss", "expired", "no-ins"],
)
def test_a_bad_id_token_refuses_the_login(dmp: Dmp, issuer: Issuer, broken: Any) -> None:
    dmp.record()
    issuer.claims = broken
    params = begin(dmp, issuer)
    assert back(dmp, params["state"]).status_code == 403
    assert page(dmp.client, "documents").url.path == f"{BASE}/connexion"


def test_a_token_signed_by_another_key_is_refused(dmp: Dmp, issuer: Issuer) -> None:
    dmp.record()
    issuer.key = OTHER_KEY
    params = begin(dmp, issuer)
    assert back(dmp, params["state"]).status_code == 403


def test_a_wrong_state_is_refused_before_any_token_request(dmp: Dmp, issuer: Issuer) -> None:
    dmp.record()
    begin(dmp, issuer)
    assert back(dmp, "forged-state").status_code == 403
    assert issuer.token_requests == []


def test_a_patient_without_record_is_refused(dmp: Dmp, issuer: Issuer) -> None:
    params = begin(dmp, issuer)
    assert back(dmp, params["state"]).status_code == 403  # no record: nobody is logged in
    assert page(dmp.client, "documents").url.path == f"{BASE}/connexion"
