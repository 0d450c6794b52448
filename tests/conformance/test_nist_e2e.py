"""The runner against the real server (`--start`): a subset that the server passes today must keep passing.

Always on SQLite (the runner's `--start` server inherits XDS_* settings; CI runs the full suite per backend
through `xds-server conformance run nist`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.nist.cli import run

pytestmark = pytest.mark.slow

SUBSET = [
    "12346",
    "11897/approved",
    "11903",
    "12021",
    "PnrXop",
    "LOCAL-StoredQueryErrors",
    "LOCAL-RetrieveErrors",
]


def test_subset_passes_against_a_started_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("XDS_DATABASE_URL", "XDS_DATABASE_SCHEMA", "XDS_DATA_DIR", "XDS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    lines: list[str] = []
    report = tmp_path / "nist.json"
    status = run(None, True, SUBSET, report, out=lines.append)
    data = json.loads(report.read_text())
    failed = [f"{s['step']}: {s['reason']}" for s in data["steps"] if s["outcome"] == "FAIL"]
    assert status == 0 and not failed, "\n".join(failed or lines[-20:])
    assert lines[-1] == data["summary"]  # the closing count line is the very last line
    assert re.fullmatch(r"\d+ passed, 0 failed, \d+ skipped", lines[-1])
    passed = [s for s in data["steps"] if s["outcome"] == "PASS"]
    assert {s["transaction"] for s in passed} >= {"ITI-18", "ITI-41", "ITI-42", "ITI-43"}
    assert data["patients_registered"] >= 2
