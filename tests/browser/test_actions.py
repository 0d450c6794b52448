"""Each action of the patient on a page: its visible effect (a role="status" confirmation, the page changed)
AND its effect on what the FHIR API answers to professionals (ITI-67 searches with tokens of the server's
test authority). Every test puts the record back as the seed left it, through the portal when that is what
it tests, else through the patient's FHIR API.

Then the attacker's side of the forms: a CSRF token that is wrong or missing is refused (403) and changes
nothing; and the same actions with JavaScript off (plain HTML forms).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser.pages import (
    DOCUMENTS,
    MESSAGES,
    PROFESSIONALS,
    SETTINGS,
    check_page,
    login,
    main_text,
    press,
    row_of,
    status_text,
)
from tests.browser.seed import (
    ATTACHMENT,
    DOCTOR,
    LEFEVRE,
    MARIE,
    MESSAGE_SUBJECT,
    MOREAU,
    PHARMACY,
    Portal,
    mail_text,
)
from tests.browser.support import Artifacts
from xds_server.core.policy import AccessMode
from xds_server.demo import GENERALISTE, INFIRMIERE, RADIOLOGUE, URGENTISTE

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.slow

NURSING = "Compte rendu de soins infirmiers"  # by the infirmière: the radiologue sees it unless masked
BIOLOGY = "Compte rendu d'examens biologiques"
KINE_REPORT = "Bilan de kinésithérapie"
PHARMA = "Compte rendu de consultation pharmaceutique"
PSYCHIATRY = "Consultation de psychiatrie"  # masked by the seed
MASK = re.compile(r"^\s*Masquer", re.I)
UNMASK = re.compile(r"Démasquer|Rendre visible|Ne plus masquer", re.I)


@pytest.fixture
def marie(page: Page) -> Page:
    login(page, MARIE.nir)
    return page


def document_row(page: Page, title: str) -> Locator:
    page.goto(DOCUMENTS)
    return row_of(page, title)


def mask(page: Page, title: str) -> None:
    press(document_row(page, title), MASK)


def unmask(page: Page, title: str) -> None:
    press(document_row(page, title), UNMASK)


# -- Documents -----------------------------------------------------------------------------------------


class TestMask:
    def test_a_masked_document_disappears_for_another_professional(
        self, marie: Page, portal: Portal, artifacts: Artifacts
    ) -> None:
        assert NURSING in portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
        try:
            mask(marie, NURSING)
            assert re.search("masqué", status_text(marie), re.I), status_text(marie)
            check_page(marie, artifacts, "documents-masque")
            assert NURSING not in portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
            assert NURSING in portal.titles_seen_by(INFIRMIERE, MARIE.nir)  # its author still sees it
            row = document_row(marie, NURSING)
            assert row.get_by_role("button", name=UNMASK).count() == 1  # the page shows it masked
            unmask(marie, NURSING)
            assert status_text(marie)
            assert NURSING in portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
            assert document_row(marie, NURSING).get_by_role("button", name=MASK).count() == 1
        finally:
            if NURSING not in portal.titles_seen_by(RADIOLOGUE, MARIE.nir):
                unmask(marie, NURSING)

    def test_mask_all_then_unmask_all(self, marie: Page, portal: Portal) -> None:
        before = portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
        own = {"Compte rendu d'imagerie (IRM du genou)", BIOLOGY}  # written by the radiologue himself
        assert own < before and len(before) > len(own) + 2
        marie.goto(DOCUMENTS)
        try:
            press(marie.locator("main"), re.compile(r"Masquer tout|Tout masquer", re.I))
            assert status_text(marie)
            assert portal.titles_seen_by(RADIOLOGUE, MARIE.nir) - {"Compte rendu d'anatomopathologie"} == own
            marie.goto(DOCUMENTS)
            press(marie.locator("main"), re.compile(r"Tout afficher|Tout démasquer", re.I))
            assert status_text(marie)
            assert portal.titles_seen_by(RADIOLOGUE, MARIE.nir) == before | {PSYCHIATRY}
        finally:
            # the seed's state: only the psychiatry consultation masked
            seen = portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
            for title in before - seen:
                unmask(marie, title)
            if PSYCHIATRY in portal.titles_seen_by(RADIOLOGUE, MARIE.nir):
                mask(marie, PSYCHIATRY)
        assert portal.titles_seen_by(RADIOLOGUE, MARIE.nir) == before


def tab_to(page: Page, accessible_name: re.Pattern[str], limit: int = 80) -> None:
    """Press Tab until the focused element's accessible name (aria-label or text) matches (bounded)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        name = page.evaluate(
            "() => { const e = document.activeElement;"
            " return e ? (e.getAttribute('aria-label') || e.textContent || '').trim() : '' }"
        )
        if accessible_name.search(name):
            return
    raise AssertionError(f"{accessible_name.pattern!r} not reached in {limit} Tab presses on {page.url}")


def test_mask_and_unmask_with_the_keyboard_only(marie: Page, portal: Portal) -> None:
    """Tab to the button (its focus visible), Enter: the same effect as a click."""
    marie.goto(DOCUMENTS)
    try:
        tab_to(marie, re.compile(r"^Masquer aux professionnels : " + re.escape(NURSING)))
        outline = marie.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", "the focused button shows no focus ring"
        with marie.expect_navigation():
            marie.keyboard.press("Enter")
        assert re.search("masqué", status_text(marie), re.I), status_text(marie)
        assert NURSING not in portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
        tab_to(marie, re.compile(r"^Ne plus masquer : " + re.escape(NURSING)))
        with marie.expect_navigation():
            marie.keyboard.press("Enter")
        assert NURSING in portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
    finally:
        if NURSING not in portal.titles_seen_by(RADIOLOGUE, MARIE.nir):
            unmask(marie, NURSING)


# -- Professionnels ------------------------------------------------------------------------------------


def search_professional(page: Page, name: str, place: str) -> None:
    """The directory search: by name, and commune or postal code (GET form ``nom``, ``lieu``)."""
    page.goto(PROFESSIONALS)
    page.locator('main [name="nom"]').fill(name)
    page.locator('main [name="lieu"]').fill(place)
    press(page.locator("main"), "Rechercher")


class TestProfessionals:
    def test_block_by_name_and_postal_code_then_unblock(
        self, marie: Page, portal: Portal, artifacts: Artifacts
    ) -> None:
        consent = f"blocked-{LEFEVRE.national_id}"
        assert portal.iti67(LEFEVRE, MARIE.nir).status_code == 200
        try:
            search_professional(marie, "Lefèvre", "42000")
            check_page(marie, artifacts, "professionnels-recherche")
            press(row_of(marie, LEFEVRE.national_id), re.compile(r"^\s*Bloquer", re.I))
            assert re.search("bloqu", status_text(marie), re.I), status_text(marie)
            refused = portal.iti67(LEFEVRE, MARIE.nir)
            assert refused.status_code in (403, 404) or not refused.json().get("entry"), refused.text
            assert portal.consents(MARIE.nir).get(consent) == "deny"
            marie.goto(PROFESSIONALS)
            press(row_of(marie, LEFEVRE.national_id), re.compile(r"Débloquer", re.I))
            assert status_text(marie)
            assert portal.iti67(LEFEVRE, MARIE.nir).status_code == 200
            assert consent not in portal.consents(MARIE.nir)
        finally:
            portal.delete_consent(MARIE.nir, consent)

    def test_revoke_an_authorised_professional(self, marie: Page, portal: Portal) -> None:
        consent = f"authorised-{INFIRMIERE.national_id}"
        assert portal.consents(MARIE.nir).get(consent) == "permit"
        try:
            marie.goto(PROFESSIONALS)
            press(row_of(marie, INFIRMIERE.national_id), re.compile(r"Révoquer", re.I))
            assert status_text(marie)
            assert consent not in portal.consents(MARIE.nir)
            marie.goto(PROFESSIONALS)
            revoke = marie.get_by_role("button", name=re.compile("Révoquer", re.I))
            assert not row_of(marie, INFIRMIERE.national_id).filter(has=revoke).count()
        finally:
            if consent not in portal.consents(MARIE.nir):
                portal.put_consent(MARIE.nir, consent, "permit", INFIRMIERE.national_id)
        assert portal.consents(MARIE.nir).get(consent) == "permit"

    def test_an_administrator_doctor_sees_masked_documents(self, marie: Page, portal: Portal) -> None:
        consent = f"administrator-{LEFEVRE.national_id}"
        assert PSYCHIATRY not in portal.titles_seen_by(LEFEVRE, MARIE.nir)
        try:
            marie.goto(PROFESSIONALS)
            press(row_of(marie, LEFEVRE.national_id), re.compile("^Nommer.*médecin administrateur", re.I))
            assert status_text(marie)
            assert portal.consents(MARIE.nir).get(consent) == "permit"
            assert PSYCHIATRY in portal.titles_seen_by(LEFEVRE, MARIE.nir)
            marie.goto(PROFESSIONALS)
            press(row_of(marie, LEFEVRE.national_id), re.compile(r"^\s*Retirer", re.I))
            assert status_text(marie)
            assert consent not in portal.consents(MARIE.nir)
            assert PSYCHIATRY not in portal.titles_seen_by(LEFEVRE, MARIE.nir)
        finally:
            portal.delete_consent(MARIE.nir, consent)


# -- Paramètres ----------------------------------------------------------------------------------------


def emergency_form(page: Page) -> Locator:
    page.goto(SETTINGS)
    return page.locator(f'main form[action$="{SETTINGS}/urgence"]')


class TestSettings:
    def test_refusing_break_glass_refuses_the_emergency_read(
        self, marie: Page, portal: Portal, artifacts: Artifacts
    ) -> None:
        reason = "contrôle du refus"
        assert portal.iti67(URGENTISTE, MARIE.nir, AccessMode.BREAK_GLASS, reason).status_code == 200
        try:
            form = emergency_form(marie)
            form.locator('input[type="radio"][name="bris_de_glace"][value="non"]').check()
            press(form, "Enregistrer les accès d'urgence")
            assert status_text(marie)
            check_page(marie, artifacts, "parametres-bris-de-glace-refuse")
            assert emergency_form(marie).locator('[name="bris_de_glace"][value="non"]').is_checked()
            assert portal.consents(MARIE.nir)["break-glass"] == "deny"
            assert portal.consents(MARIE.nir)["samu"] == "permit"  # the other preference kept
            refused = portal.iti67(URGENTISTE, MARIE.nir, AccessMode.BREAK_GLASS, reason)
            assert refused.status_code == 403, refused.text
            form = emergency_form(marie)
            form.locator('input[type="radio"][name="bris_de_glace"][value="oui"]').check()
            press(form, "Enregistrer les accès d'urgence")
            assert status_text(marie)
            assert portal.iti67(URGENTISTE, MARIE.nir, AccessMode.BREAK_GLASS, reason).status_code == 200
        finally:
            portal.delete_consent(MARIE.nir, "break-glass")
        assert portal.consents(MARIE.nir)["break-glass"] == "permit"

    def test_refusing_samu_refuses_the_regulation_read(self, marie: Page, portal: Portal) -> None:
        assert portal.iti67(URGENTISTE, MARIE.nir, AccessMode.REGULATION, "régulation").status_code == 200
        try:
            form = emergency_form(marie)
            form.locator('input[type="radio"][name="samu"][value="non"]').check()
            press(form, "Enregistrer les accès d'urgence")
            assert status_text(marie)
            assert portal.consents(MARIE.nir)["samu"] == "deny"
            refused = portal.iti67(URGENTISTE, MARIE.nir, AccessMode.REGULATION, "régulation")
            assert refused.status_code == 403, refused.text
        finally:
            portal.delete_consent(MARIE.nir, "samu")

    def test_the_contact_address(self, marie: Page, portal: Portal) -> None:
        address = "marie.dupont@exemple.fr"
        marie.goto(SETTINGS)
        form = marie.locator(f'main form[action$="{SETTINGS}/email"]')
        form.locator('[name="email"]').fill(address)
        press(form, "Enregistrer l'adresse")
        assert status_text(marie)
        assert portal.contact_email(MARIE.nir) == address
        marie.goto(SETTINGS)
        assert marie.locator('main [name="email"]').input_value() == address

    def test_a_bad_address_is_refused_and_changes_nothing(self, marie: Page, portal: Portal) -> None:
        before = portal.contact_email(MARIE.nir)
        marie.goto(SETTINGS)
        form = marie.locator(f'main form[action$="{SETTINGS}/email"]')
        field = form.locator('[name="email"]')
        field.evaluate(
            "input => { input.type = 'text'; input.removeAttribute('required') }"
        )  # past the browser
        field.fill("pas une adresse")
        press(form, "Enregistrer l'adresse")
        assert marie.get_by_role("alert").count() >= 1, main_text(marie)
        assert portal.contact_email(MARIE.nir) == before

    def test_opposing_hides_the_record_until_withdrawn(
        self, page: Page, portal: Portal, artifacts: Artifacts
    ) -> None:
        """MOREAU Jean opposes his record: it no longer exists for his médecin traitant."""
        assert portal.iti67(GENERALISTE, MOREAU.nir).status_code == 200
        login(page, MOREAU.nir)
        try:
            page.goto(f"{SETTINGS}/opposition")
            # the consequences spelled out, then a confirmation
            check_page(page, artifacts, "parametres-opposition")
            form = page.locator("main form").filter(has=page.locator('[name="confirmer"]'))
            press(form, "Confirmer l'opposition")  # not confirmed: refused, nothing changed
            assert page.get_by_role("alert").count() >= 1, main_text(page)
            assert portal.iti67(GENERALISTE, MOREAU.nir).status_code == 200
            page.goto(f"{SETTINGS}/opposition")
            form = page.locator("main form").filter(has=page.locator('[name="confirmer"]'))
            form.locator('[name="confirmer"]').check()
            press(form, "Confirmer l'opposition")
            assert status_text(page)
            answer = portal.iti67(GENERALISTE, MOREAU.nir)
            assert answer.status_code in (403, 404) or not answer.json().get("entry"), answer.text
            assert portal.consents(MOREAU.nir)["opposition"] == "deny"
            page.goto(SETTINGS)
            press(page.locator("main"), "Réactiver mon profil")
            assert status_text(page)
            assert portal.iti67(GENERALISTE, MOREAU.nir).status_code == 200
        finally:
            portal.delete_consent(MOREAU.nir, "opposition")
        assert portal.iti67(GENERALISTE, MOREAU.nir).status_code == 200

    def test_closing_the_profile_then_reactivating_it(
        self, page: Page, portal: Portal, artifacts: Artifacts
    ) -> None:
        """MOREAU Jean closes his profile: his médecin traitant no longer reads it; « Réactiver »
        reopens it."""
        assert portal.iti67(GENERALISTE, MOREAU.nir).status_code == 200
        login(page, MOREAU.nir)
        try:
            page.goto(SETTINGS)
            page.get_by_role("link", name="Clôturer mon profil").click()
            page.wait_for_load_state()
            check_page(page, artifacts, "parametres-cloture")
            form = page.locator("main form").filter(has=page.locator('[name="confirmer"]'))
            form.locator('[name="confirmer"]').check()
            press(form, "Confirmer la clôture")
            assert status_text(page)
            closed = portal.iti67(GENERALISTE, MOREAU.nir)
            assert closed.status_code in (403, 404) or not closed.json().get("entry"), closed.text
            page.goto(SETTINGS)
            assert re.search("clôtur", page.locator("#etat-profil").inner_text(), re.I)
            press(page.locator("main"), "Réactiver mon profil")
            assert status_text(page)
            assert portal.iti67(GENERALISTE, MOREAU.nir).status_code == 200
        finally:
            if portal.iti67(GENERALISTE, MOREAU.nir).status_code != 200:
                portal.reactivate(MOREAU)
        assert portal.iti67(GENERALISTE, MOREAU.nir).status_code == 200


# -- Messages ------------------------------------------------------------------------------------------


def open_conversation(page: Page) -> None:
    page.goto(MESSAGES)
    page.get_by_role("link", name=re.compile(re.escape(MESSAGE_SUBJECT))).first.click()
    page.wait_for_load_state()


class TestMessages:
    def test_reply(self, marie: Page, portal: Portal, artifacts: Artifacts) -> None:
        open_conversation(marie)
        text = "Merci docteur, à bientôt."
        marie.locator('main [name="texte"]').first.fill(text)
        press(marie.locator("main"), "Répondre")
        assert status_text(marie)
        check_page(marie, artifacts, "message-reponse")
        assert text in main_text(marie)
        assert text in portal.messages_text(MARIE.nir), "the reply is not in her mailbox over FHIR"
        caught = portal.relay.wait(lambda c: DOCTOR in c.rcpt_tos and "Merci docteur" in mail_text(c))
        assert caught, "the reply did not leave for the doctor's mailbox"

    def test_save_the_attachment_into_her_record(self, marie: Page, portal: Portal) -> None:
        before = portal.own_documents(MARIE.nir)
        open_conversation(marie)
        press(row_of(marie, ATTACHMENT), re.compile("^Enregistrer.*dans mon dossier"))
        assert status_text(marie)
        after = portal.own_documents(MARIE.nir)
        assert len(after) == len(before) + 1, (before, after)
        marie.goto(DOCUMENTS)
        assert (
            len(
                marie.locator("main li.document, main li")
                .filter(has_text=re.compile("IRM|compte-rendu", re.I))
                .all()
            )
            >= 2
        )

    def test_send_a_prescription_to_her_pharmacy(self, marie: Page, portal: Portal) -> None:
        marie.goto(MESSAGES)
        form = marie.locator(f'main form[action$="{MESSAGES}/pharmacie"]')
        form.locator('[name="pharmacie"]').select_option(value=PHARMACY)
        choices = form.locator('[name="document"] option').evaluate_all(
            "os => os.map(o => [o.value, o.textContent])"
        )
        [value] = [v for v, label in choices if "Prescription de kinésithérapie" in label]
        form.locator('[name="document"]').select_option(value=value)
        form.locator('[name="texte"]').fill("Bonjour, voici mon ordonnance.")
        press(form, "Envoyer à la pharmacie")
        assert status_text(marie)
        caught = portal.relay.wait(lambda c: PHARMACY in c.rcpt_tos)
        assert caught, "nothing left for the pharmacy"
        assert caught[-1].message.get_content_type() == "multipart/mixed"  # the ordonnance attached
        assert "Bonjour, voici mon ordonnance." in portal.messages_text(MARIE.nir)


# -- CSRF ----------------------------------------------------------------------------------------------


class TestCsrf:
    @pytest.mark.parametrize("token", ["wrong", "missing"])
    def test_a_form_with_a_bad_token_is_refused_and_changes_nothing(
        self, marie: Page, portal: Portal, token: str
    ) -> None:
        row = document_row(marie, PHARMA)
        form = row.locator("form").filter(has=marie.get_by_role("button", name=MASK)).first
        field = form.locator('input[type="hidden"][name="csrf_token"]')
        assert field.count() == 1 and len(field.get_attribute("value") or "") >= 16
        if token == "wrong":
            field.evaluate("input => { input.value = 'x'.repeat(input.value.length) }")
        else:
            field.evaluate("input => input.remove()")
        with marie.expect_navigation() as navigation:
            form.get_by_role("button", name=MASK).click()
        response = navigation.value
        assert response is not None and response.status == 403
        assert PHARMA in portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
        assert document_row(marie, PHARMA).get_by_role("button", name=MASK).count() == 1

    def test_a_token_of_another_session_is_refused(
        self, marie: Page, portal: Portal, browser: object
    ) -> None:
        """A token read in the attacker's own session does not pass in the victim's."""
        row = document_row(marie, PHARMA)
        form = row.locator("form").filter(has=marie.get_by_role("button", name=MASK)).first
        action = form.get_attribute("action") or ""
        fields = form.evaluate("f => Object.fromEntries(new FormData(f))")
        other = marie.context.browser.new_context(base_url=portal.base)  # type: ignore[union-attr]
        try:
            attacker = other.new_page()
            login(attacker, MOREAU.nir)
            attacker.goto(DOCUMENTS)
            stolen = attacker.locator('input[name="csrf_token"]').first.get_attribute("value") or ""
        finally:
            other.close()
        answer = marie.request.post(action, form={**fields, "csrf_token": stolen}, max_redirects=0)
        assert answer.status == 403
        assert PHARMA in portal.titles_seen_by(RADIOLOGUE, MARIE.nir)


# -- without JavaScript --------------------------------------------------------------------------------


def test_mask_and_unmask_without_javascript(no_js_page: Page, portal: Portal) -> None:
    login(no_js_page, MARIE.nir)
    try:
        mask(no_js_page, KINE_REPORT)
        assert re.search("masqué", status_text(no_js_page), re.I)
        assert KINE_REPORT not in portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
        unmask(no_js_page, KINE_REPORT)
        assert status_text(no_js_page)
        assert KINE_REPORT in portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
    finally:
        if KINE_REPORT not in portal.titles_seen_by(RADIOLOGUE, MARIE.nir):
            unmask(no_js_page, KINE_REPORT)
