"""Where the browser tests find Chromium and axe-core, and where they leave their artefacts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

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
