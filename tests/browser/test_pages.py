"""Each page of « Mon espace santé », logged in as DUPONT Marie: it renders what her record holds, has the
frame every page has, no serious or critical axe violation, and leaves its screenshot in test-artifacts/."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser.pages import (
    DOCUMENTS,
    HISTORY,
    MESSAGES,
    NOTIFICATIONS,
    PAGES,
    PROFESSIONALS,
    SETTINGS,
    check_page,
    login,
    main_text,
    press,
)
from tests.browser.seed import BREAK_GLASS_REASON, LEFEVRE, MARIE, MESSAGE_SUBJECT, MOREAU, Portal
from tests.browser.support import Artifacts
from xds_server.demo import GENERALISTE, INFIRMIERE, RADIOLOGUE

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

#: what each page must show of the seeded record
SHOWS = {
    "documents": [
        "Compte rendu d'imagerie (IRM du genou)",
        "Prescription de kinésithérapie",
        "Synthèse médicale",
    ],
    "historique": ["NGUYEN", BREAK_GLASS_REASON, "LEROY"],
    "notifications": ["accès en urgence", BREAK_GLASS_REASON],
    "professionnels": [RADIOLOGUE.national_id, INFIRMIERE.national_id, LEFEVRE.national_id],
    "parametres": ["bris de glace", "Accès en urgence"],
    "messages": [MESSAGE_SUBJECT],
}


#: the innermost elements that stick out of the screen, for the failure message
WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > 376)
    .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > 376))
    .slice(0, 5)
    .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${(e.textContent || '').trim().slice(0, 60)}`)"""


@pytest.fixture
def marie(page: Page) -> Page:
    login(page, MARIE.nir)
    return page


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page(marie: Page, artifacts: Artifacts, name: str) -> None:
    answer = marie.goto(PAGES[name])
    assert answer is not None and answer.status == 200, (name, answer and answer.status)
    check_page(marie, artifacts, name)
    current = marie.locator('nav [aria-current="page"]').first
    assert (current.get_attribute("href") or "").rstrip("/").endswith(PAGES[name]), current.get_attribute(
        "href"
    )
    text = main_text(marie)
    for expected in SHOWS[name]:
        assert expected.casefold() in text.casefold(), f"{name}: {expected!r} missing\n{text}"


def test_the_skip_link_is_the_first_stop_and_leads_to_the_content(marie: Page) -> None:
    marie.goto(DOCUMENTS)
    marie.keyboard.press("Tab")
    assert marie.evaluate("document.activeElement.getAttribute('href')") == "#contenu"
    assert marie.locator('a[href="#contenu"]').first.is_visible()  # shown once focused
    marie.keyboard.press("Enter")
    assert marie.evaluate("document.activeElement.id") == "contenu"
    marie.keyboard.press("Tab")  # the next stop is inside the content, not back in the header
    assert marie.evaluate("!!document.activeElement.closest('main')")


def test_documents_never_show_what_is_invisible_to_her(marie: Page) -> None:
    marie.goto(DOCUMENTS)
    text = main_text(marie)
    assert "Compte rendu d'anatomopathologie" not in text  # INVISIBLE_PATIENT
    assert "Consultation de psychiatrie" in text  # masked from professionals, not from her


def test_documents_search(marie: Page, artifacts: Artifacts) -> None:
    marie.goto(DOCUMENTS)
    search = marie.get_by_role("searchbox").or_(marie.get_by_label(re.compile("Rechercher", re.I))).first
    search.fill("kinésithérapie")
    search.press("Enter")
    marie.wait_for_load_state()
    text = main_text(marie)
    assert "Prescription de kinésithérapie" in text and "Synthèse médicale" not in text
    check_page(marie, artifacts, "documents-recherche")


def test_a_document_opens(marie: Page, artifacts: Artifacts, portal: Portal) -> None:
    marie.goto(DOCUMENTS)
    marie.get_by_role("link", name=re.compile("Synthèse médicale")).first.click()
    marie.wait_for_load_state()
    assert re.search(r"/espace-sante/documents/[^/]+$", marie.url), marie.url
    check_page(marie, artifacts, "document")
    assert "Synthèse médicale" in main_text(marie)
    content = marie.locator('main a[href$="/contenu"]').first.get_attribute("href")
    assert content
    answer = marie.request.get(content)
    assert answer.status == 200 and b"Document de d\xc3\xa9monstration" in answer.body()


def test_another_patients_document_is_not_found(marie: Page, portal: Portal) -> None:
    """A document of another record (MOREAU Jean's), its id typed in the address bar: as unknown."""
    answer = portal.iti67(GENERALISTE, MOREAU.nir)
    assert answer.status_code == 200, answer.text
    [first, *_] = [e["resource"] for e in answer.json()["entry"]]
    for logical in (first["id"], first["masterIdentifier"]["value"]):
        answer = marie.goto(f"{DOCUMENTS}/{logical}")
        assert answer is not None and answer.status == 404
        answer = marie.goto(f"{DOCUMENTS}/{logical}/contenu")
        assert answer is not None and answer.status == 404


def test_history_highlights_the_emergency_access(marie: Page, artifacts: Artifacts) -> None:
    marie.goto(HISTORY)
    entry = marie.locator("main tr").filter(has_text=BREAK_GLASS_REASON).first
    assert "urgence" in (entry.get_attribute("class") or ""), entry.inner_html()
    assert re.search("Accès en urgence", entry.inner_text()), entry.inner_text()
    # the filter: emergency accesses only
    marie.locator('main [name="urgence"]').check()
    press(marie.locator("main"), "Filtrer")
    assert "urgence=oui" in marie.url
    rows = marie.locator("main tbody tr")
    assert rows.count() >= 1
    for index in range(rows.count()):
        assert "urgence" in (rows.nth(index).get_attribute("class") or "")
    assert BREAK_GLASS_REASON in main_text(marie) and "LEROY" not in main_text(marie)
    check_page(marie, artifacts, "historique-urgences")


def test_a_conversation_opens(marie: Page, artifacts: Artifacts) -> None:
    marie.goto(MESSAGES)
    marie.get_by_role("link", name=re.compile(re.escape(MESSAGE_SUBJECT))).first.click()
    marie.wait_for_load_state()
    assert re.search(r"/espace-sante/messages/[^/]+$", marie.url), marie.url
    check_page(marie, artifacts, "message")
    assert "L'IRM ne montre pas de lésion" in main_text(marie)


def test_notifications_tell_of_the_emergency_access(marie: Page) -> None:
    marie.goto(NOTIFICATIONS)
    assert re.search("urgence|bris de glace", main_text(marie), re.I), main_text(marie)


def test_professionals_and_settings_render_on_a_phone(mobile_page: Page, artifacts: Artifacts) -> None:
    login(mobile_page, MARIE.nir)
    for name, path in (("documents", DOCUMENTS), ("professionnels", PROFESSIONALS), ("parametres", SETTINGS)):
        mobile_page.goto(path)
        check_page(mobile_page, artifacts, f"{name}-mobile")
        width = mobile_page.evaluate("document.documentElement.scrollWidth")
        wider = mobile_page.evaluate(WIDER_THAN_SCREEN)
        assert width <= 375 + 1, f"{name}: {width}px wide on a 375px screen (horizontal scrolling): {wider}"
