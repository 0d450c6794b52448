"""The patient web app (« Mon espace santé », xds_server/portal) in a real browser: Playwright for Python
driving Debian's Chromium, headless, against a real ``xds-server serve --dev`` process (profile dmp-test).

What the tests need, and what happens without it:

* Chromium at ``/usr/bin/chromium`` (``apt-get install -y chromium``; another path with ``XDS_CHROMIUM``),
* Playwright for Python (the test extras: ``pip install -e '.[test]'``; never ``playwright install``: the
  tests drive the system Chromium),
* axe-core from ``tests/browser/node_modules`` (``npm ci --prefix tests/browser``).

When one is absent (a laptop without Chromium) every test here skips with a reason naming what is missing
and the command that installs it. ``XDS_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns that skip into a
failure, so that CI never passes by skipping them.

Artefacts land in ``test-artifacts/`` (``XDS_TEST_ARTIFACTS`` moves it; git-ignored, kept by CI): one
screenshot per page (``screenshots/<page>.png``), the axe violations of each page (``axe/<page>.json``)
and ``axe-summary.json`` (page -> violated rules counted by impact).

The server is seeded once for the session (``seed.py``): the demo record set (``xds-server demo``), the
professional directory (``xds-server professionals load``), an MSSanté doctor writing to the adult patient
over SMTP, and a break-glass read of her record with a reason (a trail entry and a notification).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.seed import Portal, start_portal
from tests.browser.support import ARTIFACTS, CHROMIUM, REQUIRE, Artifacts, missing_pieces

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


@pytest.fixture(scope="package", autouse=True)
def browser_pieces() -> None:
    """Skip (fail under XDS_REQUIRE_BROWSER=1) before anything starts when a piece is missing."""
    missing = missing_pieces()
    if not missing:
        return
    reason = "browser tests need " + "; ".join(missing)
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{reason} ({REQUIRE}=1: they must run here)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def portal(tmp_path_factory: pytest.TempPathFactory, browser_pieces: None) -> Iterator[Portal]:
    with start_portal(tmp_path_factory.mktemp("portal")) as running:
        yield running


@pytest.fixture(scope="package")
def browser(browser_pieces: None) -> Iterator[Browser]:
    """Package scope, never session: Playwright's sync API keeps an event loop running in the main thread
    while it is open, and the tests collected after this package call asyncio.run()."""
    from playwright.sync_api import sync_playwright

    # Chromium's sandbox needs an unprivileged user: as root (CI, containers) it must be turned off.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _context(browser: Browser, portal: Portal, **options: Any) -> BrowserContext:
    # bypass_csp: the portal forbids every script (script-src 'none'); axe-core is injected all the same
    # (test_session checks the policy is sent)
    options.setdefault("bypass_csp", True)
    context = browser.new_context(
        base_url=portal.base, locale="fr-FR", viewport={"width": 1280, "height": 900}, **options
    )
    context.set_default_timeout(30_000)
    return context


@pytest.fixture
def context(browser: Browser, portal: Portal) -> Iterator[BrowserContext]:
    context = _context(browser, portal)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def no_js_page(browser: Browser, portal: Portal) -> Iterator[Page]:
    """A page of a context with JavaScript off: every action must work as plain HTML forms."""
    context = _context(browser, portal, java_script_enabled=False)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def mobile_page(browser: Browser, portal: Portal) -> Iterator[Page]:
    """A phone-sized page (responsive layout)."""
    context = browser.new_context(
        base_url=portal.base,
        locale="fr-FR",
        viewport={"width": 375, "height": 740},
        is_mobile=True,
        bypass_csp=True,
    )
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="package")
def artifacts(browser_pieces: None) -> Artifacts:
    summary = ARTIFACTS / "axe-summary.json"
    if summary.exists():
        summary.unlink()  # this run's pages only
    return Artifacts(ARTIFACTS)
