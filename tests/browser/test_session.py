"""Logging in and out, the session cookie, the representative's switch between records, CSRF refusals, and the
same login without JavaScript."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser.pages import (
    DEV_LOGIN,
    DOCUMENTS,
    LOGIN,
    PAGES,
    SWITCH,
    check_page,
    login,
    main_text,
    option_for,
    press,
)
from tests.browser.seed import LUCIE, MARIE, MOREAU, Portal, ins
from tests.browser.support import Artifacts

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = pytest.mark.slow

#: one document of each record, seen only in its own
MARIE_ONLY = "Synthèse médicale"
LUCIE_ONLY = "Historique des vaccinations"
MOREAU_ONLY = "Compte rendu hospitalier"


class TestLogin:
    def test_logged_out_the_root_leads_to_the_login_page(
        self, page: Page, artifacts: Artifacts, portal: Portal
    ) -> None:
        page.goto("/")
        assert page.url == f"{portal.base}{LOGIN}"
        check_page(page, artifacts, "connexion", navigation=False)
        select = page.locator(f'form[action$="{DEV_LOGIN}"] select[name="ins"]').first
        # the label of the list is there for screen readers too
        select_id = select.get_attribute("id")
        assert select_id and page.locator(f'label[for="{select_id}"]').count() == 1
        for patient in (MARIE, LUCIE, MOREAU):
            assert option_for(select, patient.nir)

    def test_pages_forbid_scripts_they_did_not_bring(self, page: Page) -> None:
        answer = page.goto(LOGIN)
        assert answer is not None
        policy = answer.headers.get("content-security-policy", "")
        assert "script-src" in policy or "default-src" in policy, answer.headers

    @pytest.mark.parametrize("name", sorted(PAGES))
    def test_every_page_needs_a_session(self, page: Page, portal: Portal, name: str) -> None:
        answer = page.goto(PAGES[name])
        assert answer is not None and answer.ok
        assert page.url == f"{portal.base}{LOGIN}"
        assert MARIE_ONLY not in page.content()

    def test_dev_login_opens_her_own_documents(self, page: Page, context: BrowserContext) -> None:
        login(page, MARIE.nir)
        page.goto(DOCUMENTS)
        assert MARIE_ONLY in main_text(page)
        assert MOREAU_ONLY not in main_text(page)
        # the session lives in cookies a script cannot read, not sent along cross-site POSTs
        cookies = context.cookies()
        assert [c for c in cookies if c["httpOnly"]], cookies
        assert all(c["sameSite"] in ("Lax", "Strict") for c in cookies if c["httpOnly"]), cookies
        assert not [c for c in cookies if not c["httpOnly"] and "session" in c["name"].lower()], cookies

    def test_an_unknown_patient_is_refused(self, page: Page) -> None:
        page.goto(LOGIN)
        form = page.locator(f'form[action$="{DEV_LOGIN}"]').first
        token = form.locator('input[name="csrf_token"]').get_attribute("value")
        answer = page.request.post(
            form.get_attribute("action") or "", form={"ins": "299999999999999", "csrf_token": token or ""}
        )
        assert answer.status in (400, 403, 404), answer.status
        page.goto(DOCUMENTS)
        assert page.url.endswith(LOGIN)

    def test_logout_ends_the_session(self, page: Page, portal: Portal) -> None:
        login(page, MARIE.nir)
        press(page, re.compile("Se déconnecter|Déconnexion", re.I))
        page.goto(DOCUMENTS)
        assert page.url == f"{portal.base}{LOGIN}"
        assert MARIE_ONLY not in page.content()

    def test_login_without_javascript(self, no_js_page: Page) -> None:
        login(no_js_page, MARIE.nir)
        no_js_page.goto(DOCUMENTS)
        assert MARIE_ONLY in main_text(no_js_page)


class TestRepresentative:
    def test_she_switches_to_her_daughters_record_and_back(self, page: Page, artifacts: Artifacts) -> None:
        login(page, MARIE.nir)
        page.goto(DOCUMENTS)
        form = page.locator(f'form[action$="{SWITCH}"]')
        assert form.count() >= 1, f"no record switch on {page.url}"
        choices = form.first.locator('[name="ins"]')
        if choices.first.evaluate("e => e.tagName") == "SELECT":
            values = choices.first.locator("option").evaluate_all("os => os.map(o => o.value)")
            assert not [v for v in values if ins(MOREAU.nir) in v]  # only her own and her daughter's
            choices.first.select_option(value=option_for(choices.first, LUCIE.nir))
            press(form.first, re.compile("."))
        else:  # one button per record
            lucie = form.filter(has=page.locator(f'input[name="ins"][value*="{ins(LUCIE.nir)}"]'))
            press(lucie.first, re.compile("."))
        page.goto(DOCUMENTS)
        text = main_text(page)
        assert LUCIE_ONLY in text and MARIE_ONLY not in text and MOREAU_ONLY not in text
        check_page(page, artifacts, "documents-representant")
        # back to her own
        form = page.locator(f'form[action$="{SWITCH}"]').first
        if form.locator('select[name="ins"]').count():
            form.locator('select[name="ins"]').select_option(
                value=option_for(form.locator('select[name="ins"]'), MARIE.nir)
            )
            press(form, re.compile("."))
        else:
            mine = page.locator(f'form[action$="{SWITCH}"]').filter(
                has=page.locator(f'input[name="ins"][value*="{ins(MARIE.nir)}"]')
            )
            press(mine.first, re.compile("."))
        page.goto(DOCUMENTS)
        assert MARIE_ONLY in main_text(page)

    def test_the_representative_login(self, page: Page, portal: Portal) -> None:
        page.goto(LOGIN)
        form = page.locator(f'form[action$="{DEV_LOGIN}"]').filter(
            has=page.get_by_role("button", name="Se connecter comme représentant légal")
        )
        select = form.locator('select[name="ins"]')
        assert not [v for v in select.locator("option").evaluate_all("os => os.map(o => o.value)")
                    if ins(MOREAU.nir) in v]  # fmt: skip
        select.select_option(value=option_for(select, MARIE.nir))
        press(form, "Se connecter comme représentant légal")
        assert LOGIN not in page.url
        switch = page.locator(f'form[action$="{SWITCH}"] select[name="ins"]')
        values = switch.locator("option").evaluate_all("os => os.map(o => o.value)")
        assert [v for v in values if ins(LUCIE.nir) in v] and not [v for v in values if ins(MOREAU.nir) in v]

    def test_another_record_cannot_be_switched_to(self, page: Page) -> None:
        login(page, MARIE.nir)
        page.goto(DOCUMENTS)
        token = page.locator('input[name="csrf_token"]').first.get_attribute("value") or ""
        answer = page.request.post(
            SWITCH, form={"ins": ins(MOREAU.nir), "csrf_token": token}, max_redirects=0
        )
        assert answer.status in (403, 404), answer.status
        page.goto(DOCUMENTS)
        text = main_text(page)
        assert MOREAU_ONLY not in text and MARIE_ONLY in text
