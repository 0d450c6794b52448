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
    LEFEVRE,
    MARIE,
    MESSAGE_SUBJECT,
    MOREAU,
    Portal,
    ins,
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


# -- Professionnels ------------------------------------------------------------------------------------


def search_professional(page: Page, name: str, place: str) -> None:
    page.goto(PROFESSIONALS)
    page.get_by_label(re.compile(r"^\s*Nom", re.I)).first.fill(name)
    page.get_by_label(re.compile(r"Commune|Code postal", re.I)).first.fill(place)
    press(page.locator("main"), re.compile(r"Rechercher", re.I))


class TestProfessionals:
    def test_block_by_name_and_postal_code_then_unblock(
        self, marie: Page, portal: Portal, artifacts: Artifacts
    ) -> None:
        assert portal.iti67(LEFEVRE, MARIE.nir).status_code == 200
        try:
            search_professional(marie, "Lefèvre", "42000")
            check_page(marie, artifacts, "professionnels-recherche")
            press(row_of(marie, "LEFÈVRE"), re.compile(r"^\s*Bloquer", re.I))
            assert re.search("bloqué", status_text(marie), re.I), status_text(marie)
            refused = portal.iti67(LEFEVRE, MARIE.nir)
            assert refused.status_code in (403, 404) or not refused.json().get("entry"), refused.text
            assert portal.consents(MARIE.nir).get(f"blocked-{LEFEVRE.national_id}") == "deny"
            marie.goto(PROFESSIONALS)
            press(row_of(marie, "LEFÈVRE"), re.compile(r"Débloquer", re.I))
            assert status_text(marie)
            assert portal.iti67(LEFEVRE, MARIE.nir).status_code == 200
            assert f"blocked-{LEFEVRE.national_id}" not in portal.consents(MARIE.nir)
        finally:
            with portal.patient_api(MARIE.nir) as client:
                client.delete(
                    f"/Consent/blocked-{LEFEVRE.national_id}",
                    params={"patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{ins(MARIE.nir)}"},
                )

    def test_revoke_an_authorised_professional(self, marie: Page, portal: Portal) -> None:
        consent = f"authorised-{INFIRMIERE.national_id}"
        assert portal.consents(MARIE.nir).get(consent) == "permit"
        try:
            marie.goto(PROFESSIONALS)
            press(row_of(marie, "PETIT"), re.compile(r"Retirer|Révoquer", re.I))
            assert status_text(marie)
            assert consent not in portal.consents(MARIE.nir)
        finally:
            if consent not in portal.consents(MARIE.nir):
                put_consent(portal, consent, "permit", INFIRMIERE.national_id)
        assert portal.consents(MARIE.nir).get(consent) == "permit"


def put_consent(portal: Portal, consent: str, provision: str, professional: str) -> None:
    """Put a record setting back over the patient's FHIR API (after a test changed it)."""
    body = {
        "resourceType": "Consent",
        "id": consent,
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"identifier": {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": ins(MARIE.nir)}},
        "provision": {
            "type": provision,
            "actor": [
                {"reference": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": professional}}}
            ],
        },
    }
    with portal.patient_api(MARIE.nir) as client:
        answer = client.put(
            f"/Consent/{consent}", json=body, headers={"Content-Type": "application/fhir+json"}
        )
    assert answer.status_code in (200, 201), answer.text


# -- Paramètres ----------------------------------------------------------------------------------------


def setting_form(page: Page, words: str) -> Locator:
    page.goto(SETTINGS)
    form = page.locator("main form").filter(has_text=re.compile(words, re.I))
    assert form.count() >= 1, f"no form about {words!r} on {page.url}:\n{main_text(page)}"
    return form.first


class TestSettings:
    def test_refusing_break_glass_refuses_the_emergency_read(
        self, marie: Page, portal: Portal, artifacts: Artifacts
    ) -> None:
        reason = "contrôle du refus"
        assert portal.iti67(URGENTISTE, MARIE.nir, AccessMode.BREAK_GLASS, reason).status_code == 200
        try:
            form = setting_form(marie, "bris de glace")
            form.get_by_label(re.compile(r"Refuser|Non|Interdire", re.I)).first.check()
            press(form, re.compile("Enregistrer|Valider|Refuser", re.I))
            assert status_text(marie)
            check_page(marie, artifacts, "parametres-bris-de-glace-refuse")
            assert portal.consents(MARIE.nir)["break-glass"] == "deny"
            refused = portal.iti67(URGENTISTE, MARIE.nir, AccessMode.BREAK_GLASS, reason)
            assert refused.status_code == 403, refused.text
            form = setting_form(marie, "bris de glace")
            form.get_by_label(re.compile(r"Autoriser|Oui|Accepter", re.I)).first.check()
            press(form, re.compile("Enregistrer|Valider|Autoriser", re.I))
            assert portal.iti67(URGENTISTE, MARIE.nir, AccessMode.BREAK_GLASS, reason).status_code == 200
        finally:
            with portal.patient_api(MARIE.nir) as client:
                client.delete(
                    "/Consent/break-glass",
                    params={"patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{ins(MARIE.nir)}"},
                )
        assert portal.consents(MARIE.nir)["break-glass"] == "permit"

    def test_opposing_hides_the_record_until_withdrawn(
        self, page: Page, portal: Portal, artifacts: Artifacts
    ) -> None:
        """MOREAU Jean opposes his record: it no longer exists for his médecin traitant."""
        assert portal.iti67(GENERALISTE, MOREAU.nir).status_code == 200
        login(page, MOREAU.nir)
        try:
            form = setting_form(page, "oppos")
            press(form, re.compile("oppos", re.I))
            # the consequences spelled out, then a confirmation
            assert re.search("conséquence|plus accès|ne pourront plus", main_text(page), re.I), main_text(
                page
            )
            check_page(page, artifacts, "parametres-opposition-confirmation")
            press(page.locator("main"), re.compile("Confirmer", re.I))
            assert status_text(page)
            answer = portal.iti67(GENERALISTE, MOREAU.nir)
            assert answer.status_code in (403, 404) or not answer.json().get("entry"), answer.text
        finally:
            with portal.patient_api(MOREAU.nir) as client:
                client.delete(
                    "/Consent/opposition",
                    params={"patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{ins(MOREAU.nir)}"},
                )
        assert portal.iti67(GENERALISTE, MOREAU.nir).status_code == 200


# -- Messages ------------------------------------------------------------------------------------------


def open_conversation(page: Page) -> None:
    page.goto(MESSAGES)
    page.get_by_role("link", name=re.compile(re.escape(MESSAGE_SUBJECT))).first.click()
    page.wait_for_load_state()


class TestMessages:
    def test_reply(self, marie: Page, portal: Portal) -> None:
        open_conversation(marie)
        text = "Merci docteur, à bientôt."
        marie.locator("main textarea").first.fill(text)
        press(marie.locator("main"), re.compile("Répondre|Envoyer", re.I))
        assert status_text(marie)
        with portal.patient_api(MARIE.nir) as client:
            sent = client.get("/Communication").json().get("entry", [])
        assert [e for e in sent if text in str(e["resource"].get("payload", ""))], (
            "the reply is not in her mailbox"
        )
        caught = portal.relay.wait(lambda c: text.encode() in c.raw or b"Merci docteur" in c.raw)
        assert caught, "the reply did not leave for the doctor's mailbox"

    def test_save_the_attachment_into_her_record(self, marie: Page, portal: Portal) -> None:
        open_conversation(marie)
        attachment = row_of(marie, ATTACHMENT)
        press(attachment, re.compile("Enregistrer|Ajouter à mon dossier|Verser", re.I))
        assert status_text(marie)
        marie.goto(DOCUMENTS)
        assert re.search(re.escape(ATTACHMENT.rsplit(".", 1)[0]) + "|IRM", main_text(marie), re.I)
        with portal.patient_api(MARIE.nir) as client:
            found = client.get(
                "/DocumentReference",
                params={
                    "patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{ins(MARIE.nir)}",
                    "status": "current",
                },
            ).json()
        assert any(
            e["resource"]["type"]["coding"][0]["code"] == "DOCPAT02" for e in found.get("entry", [])
        ), "no document of her own in the record"


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
