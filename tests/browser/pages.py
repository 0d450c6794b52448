"""What the browser tests do on a page: log in, check a page's frame (language, skip link, one h1, the
current page in the navigation), run axe-core in it, take its screenshot, submit a form.

The portal's contract (URLs, form fields) is in the helpers' constants; what a page shows is found the way a
user finds it: by role and accessible name, by visible text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.browser.seed import ins
from tests.browser.support import AXE, Artifacts

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

HOME = "/espace-sante/"
LOGIN = "/espace-sante/connexion"
DEV_LOGIN = "/espace-sante/connexion/dev"
SWITCH = "/espace-sante/dossier"
LOGOUT = "/espace-sante/deconnexion"
DOCUMENTS = "/espace-sante/documents"
HISTORY = "/espace-sante/historique"
NOTIFICATIONS = "/espace-sante/notifications"
PROFESSIONALS = "/espace-sante/professionnels"
SETTINGS = "/espace-sante/parametres"
MESSAGES = "/espace-sante/messages"
#: the pages of the navigation (name of the screenshot -> path)
PAGES = {
    "documents": DOCUMENTS,
    "historique": HISTORY,
    "notifications": NOTIFICATIONS,
    "professionnels": PROFESSIONALS,
    "parametres": SETTINGS,
    "messages": MESSAGES,
}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")


def login(page: Page, nir: str) -> None:
    """The dev login: pick the patient in the directory's list, « Se connecter »."""
    page.goto(HOME)
    assert page.url.endswith(LOGIN), page.url  # logged out: the login page
    form = page.locator(f'form[action$="{DEV_LOGIN}"]').first  # the patient's (then the representative's)
    select = form.locator('select[name="ins"]')
    select.select_option(value=option_for(select, nir))
    form.get_by_role("button", name="Se connecter", exact=True).click()
    page.wait_for_load_state()
    assert LOGIN not in page.url, f"still on the login page: {page.url}\n{text_of(page)}"


def option_for(select: Locator, nir: str) -> str:
    """The value of the option that names this patient's INS (its value or its label)."""
    wanted = ins(nir)
    options = select.locator("option")
    for index in range(options.count()):
        option = options.nth(index)
        value = option.get_attribute("value") or ""
        if wanted in value or wanted in option.inner_text():
            return value
    raise AssertionError(f"the dev login does not list {wanted}: {select.inner_text()}")


def text_of(page: Page) -> str:
    return page.locator("body").inner_text()


def main_text(page: Page) -> str:
    return page.locator("main").inner_text()


def status_text(page: Page) -> str:
    """The confirmation of the last action (role="status")."""
    status = page.get_by_role("status")
    assert status.count() >= 1, f"no role=status confirmation on {page.url}:\n{main_text(page)}"
    return " ".join(status.all_inner_texts())


def check_frame(page: Page, *, navigation: bool = True) -> None:
    """What every page has: French, a skip link to ``<main id="contenu">``, one h1, and (once logged in) the
    current page marked in the navigation."""
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("main#contenu").count() == 1, "no <main id=contenu>"
    assert page.locator('a[href="#contenu"]').count() >= 1, "no skip link to #contenu"
    assert page.locator("h1").count() == 1, f"{page.locator('h1').count()} h1 on {page.url}"
    if navigation:
        assert page.locator('nav [aria-current="page"]').count() >= 1, f"no aria-current in nav: {page.url}"


def run_axe(page: Page) -> dict[str, Any]:
    """axe-core's result for the page as it is (WCAG 2.1 A and AA rules)."""
    page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    return result


def check_page(page: Page, artifacts: Artifacts, name: str, *, navigation: bool = True) -> None:
    """The frame, a screenshot, axe: no serious or critical violation."""
    check_frame(page, navigation=navigation)
    artifacts.screenshot(page, name)
    result = run_axe(page)
    artifacts.axe(name, result)
    blocking = [v for v in result["violations"] if v.get("impact") in BLOCKING]
    assert not blocking, f"{name}: axe violations\n" + "\n".join(
        f"  {v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:5]}" for v in blocking
    )


def row_of(page: Page, text: str) -> Locator:
    """The smallest list item, table row or article that shows ``text`` (a document, a professional...)."""
    candidates = page.locator("main").locator("li, tr, article").filter(has_text=text)
    assert candidates.count() >= 1, f"{text!r} is not on {page.url}:\n{main_text(page)}"
    return candidates.last  # nested containers: the innermost comes last in document order


def press(scope: Locator | Page, name: str | re.Pattern[str]) -> None:
    """Click the button with this accessible name within ``scope`` (a form submit), wait for the answer."""
    scope.get_by_role("button", name=name).first.click()
    page = scope if hasattr(scope, "goto") else scope.page  # type: ignore[union-attr]
    page.wait_for_load_state()


__all__ = [
    "DEV_LOGIN",
    "DOCUMENTS",
    "HISTORY",
    "LOGIN",
    "LOGOUT",
    "MESSAGES",
    "NOTIFICATIONS",
    "PAGES",
    "PROFESSIONALS",
    "SETTINGS",
    "SWITCH",
    "check_frame",
    "check_page",
    "login",
    "main_text",
    "press",
    "row_of",
    "run_axe",
    "status_text",
    "text_of",
]
