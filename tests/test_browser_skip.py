"""tests/browser without its pieces: on a laptop without Chromium every test there skips, naming what is
missing and the command that installs it; under ``XDS_REQUIRE_BROWSER=1`` (.ci/run) the same is a failure.
A pytest subprocess on one module of tests/browser, with ``XDS_CHROMIUM`` naming a file that does not exist
(the check happens before the server or the browser starts, so this costs a second or two)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "XDS_REQUIRE_BROWSER"}
    environment |= {"XDS_CHROMIUM": str(tmp_path / "no-chromium"), "XDS_TEST_ARTIFACTS": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/browser/test_seed.py"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_chromium_the_browser_tests_skip_with_the_install_command(tmp_path: Path) -> None:
    done = run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 skipped" in done.stdout and "passed" not in done.stdout
    assert f"Chromium at {tmp_path / 'no-chromium'} (apt-get install -y chromium" in done.stdout


def test_in_ci_a_missing_browser_fails(tmp_path: Path) -> None:
    done = run(tmp_path, XDS_REQUIRE_BROWSER="1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "skipped" not in done.stdout
    assert "XDS_REQUIRE_BROWSER=1: they must run here" in done.stdout
    assert "apt-get install -y chromium" in done.stdout
