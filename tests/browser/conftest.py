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

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.seed import Portal, start_portal

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("XDS_CHROMIUM", "/usr/bin/chromium"))
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("XDS_TEST_ARTIFACTS") or HERE.parents[1] / "test-artifacts")
REQUIRE = "XDS_REQUIRE_BROWSER"


def missing_pieces() -> list[str]:
    """What the browser tests need and this machine lacks, each with the command that installs it."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright for Python (pip install -e '.[test]')")
    if not CHROMIUM.is_file():
        missing.append(f"Chromium at {CHROMIUM} (apt-get install -y chromium, or set XDS_CHROMIUM)")
    if not AXE.is_file():
        missing.append(f"axe-core at {AXE.relative_to(HERE.parents[1])} (npm ci --prefix tests/browser)")
    return missing


@pytest.fixture(scope="session", autouse=True)
def browser_pieces() -> None:
    """Skip (fail under XDS_REQUIRE_BROWSER=1) before anything starts when a piece is missing."""
    missing = missing_pieces()
    if not missing:
        return
    reason = "browser tests need " + "; ".join(missing)
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"{reason} ({REQUIRE}=1: they must run here)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory, browser_pieces: None) -> Iterator[Portal]:
    with start_portal(tmp_path_factory.mktemp("portal")) as running:
        yield running


@pytest.fixture(scope="session")
def browser(browser_pieces: None) -> Iterator[Browser]:
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
    context = browser.new_context(
        base_url=portal.base, locale="fr-FR", viewport={"width": 1280, "height": 900}, **options
    )
    context.set_default_timeout(15_000)
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
        base_url=portal.base, locale="fr-FR", viewport={"width": 375, "height": 740}, is_mobile=True
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


# -- artefacts ------------------------------------------------------------------------------------------


class Artifacts:
    """Screenshots and axe results under ``test-artifacts/``; the summary is rewritten at each page so
    that an interrupted run keeps what it saw."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.summary: dict[str, dict[str, Any]] = {}
        (root / "screenshots").mkdir(parents=True, exist_ok=True)
        (root / "axe").mkdir(parents=True, exist_ok=True)

    def screenshot(self, page: Page, name: str) -> Path:
        path = self.root / "screenshots" / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def axe(self, name: str, result: dict[str, Any]) -> None:
        violations = result.get("violations", [])
        counts = {impact: 0 for impact in ("critical", "serious", "moderate", "minor")}
        for violation in violations:
            counts[violation.get("impact") or "minor"] += 1
        self.summary[name] = {
            **counts,
            "nodes": sum(len(v.get("nodes", [])) for v in violations),
            "rules": sorted(v["id"] for v in violations),
            "passes": len(result.get("passes", [])),
            "url": result.get("url", ""),
        }
        detail = [
            {
                "id": v["id"],
                "impact": v.get("impact"),
                "help": v.get("help"),
                "nodes": [n.get("target") for n in v.get("nodes", [])],
            }
            for v in violations
        ]
        (self.root / "axe" / f"{name}.json").write_text(json.dumps(detail, indent=2, ensure_ascii=False))
        summary = self.root / "axe-summary.json"
        known: dict[str, Any] = {}
        if summary.exists():
            try:
                known = json.loads(summary.read_text())
            except ValueError:
                known = {}
        known.update(self.summary)
        summary.write_text(json.dumps(dict(sorted(known.items())), indent=2, ensure_ascii=False) + "\n")


@pytest.fixture(scope="session")
def artifacts(browser_pieces: None) -> Artifacts:
    summary = ARTIFACTS / "axe-summary.json"
    if summary.exists():
        summary.unlink()  # this run's pages only
    return Artifacts(ARTIFACTS)
