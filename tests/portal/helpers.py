"""The portal driven like a browser without JavaScript: GET a page, read its forms, POST them back."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from tests.e2e.test_dmp_policy import Dmp

BASE = "/espace-sante"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def page(client: TestClient, path: str) -> Response:
    response = client.get(path if path.startswith("/") else f"{BASE}/{path}")
    return response


def post(client: TestClient, path: str, data: dict[str, Any] | None = None, *, token: str | None = None,
         origin: str | None = None) -> Response:  # fmt: skip
    """POST a form of the portal with the CSRF token a page of the session gave (fetched when not given)."""
    if token is None:
        token = csrf(page(client, "connexion" if "connexion" in path else "documents").text)
    headers = {"Origin": origin} if origin else {}
    return client.post(
        path if path.startswith("/") else f"{BASE}/{path}",
        data={"csrf_token": token, **(data or {})},
        headers=headers,
        follow_redirects=False,
    )


def login(dmp: Dmp, ins: str) -> Response:
    """The dev login as ``ins``; the answer (a 303 to the documents when it worked)."""
    dmp.client.cookies.clear()
    form = page(dmp.client, "connexion")
    assert form.status_code == 200
    return post(dmp.client, "connexion/dev", {"ins": ins}, token=csrf(form.text))


def status_text(html: str) -> str:
    found = re.search(r'<p role="(?:status|alert)" class="[^"]+">([^<]*)</p>', html)
    return found.group(1) if found else ""
