"""Every page's frame: French, one h1, the skip link to main#contenu, the nav with aria-current, no script
at all (CSP script-src 'none'), every visible field labelled, every POST form with its CSRF token."""

from __future__ import annotations

import re

import pytest

from tests.audit.test_fhir_trail import dmp as dmp
from tests.core.builders import DMP_PATIENT
from tests.e2e.test_dmp_policy import AUTHOR, Dmp, document
from tests.portal.helpers import login, page

PAGES = ["documents", "historique", "notifications", "professionnels", "parametres", "messages",
         "parametres/cloture", "parametres/opposition"]  # fmt: skip


def check_frame(html: str, section: str | None) -> None:
    assert '<html lang="fr">' in html
    assert html.count("<h1>") == 1
    assert '<a class="evitement" href="#contenu">' in html and '<main id="contenu"' in html
    if section:
        assert f'href="/espace-sante/{section}" aria-current="page"' in html
    assert "<script" not in html.lower()
    assert re.search(r"<[^>]+\son[a-z]+=", html) is None  # no event handler attribute
    ids = set(re.findall(r'<label for="([^"]+)"', html))
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="hidden"' in tag:
            continue
        found = re.search(r'id="([^"]+)"', tag)
        assert found and found.group(1) in ids, f"unlabelled field: {tag}"
    for form in re.findall(r'<form method="post".*?</form>', html, re.S):
        assert 'name="csrf_token"' in form, form[:200]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_the_frame(dmp: Dmp, path: str) -> None:
    dmp.record()
    dmp.deposit(AUTHOR, document())
    login(dmp, DMP_PATIENT)
    answer = page(dmp.client, path)
    assert answer.status_code == 200
    assert "script-src 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    check_frame(answer.text, path.split("/")[0])


def test_the_login_page_has_the_frame(dmp: Dmp) -> None:
    dmp.record()
    check_frame(page(dmp.client, "connexion").text, "connexion")
