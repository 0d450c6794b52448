"""Output: step lines, the per-transaction table, the closing count line, JSON; the Typer entry point."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from conformance.cli import app
from conformance.nist.cli import run
from conformance.nist.engine import StepResult
from conformance.nist.report import step_line, summary_line, table, to_json, write_json

RESULTS = [
    StepResult("12346", "single_doc", "submit_doc", "ITI-42", "PASS"),
    StepResult("11897", "approved", "leafclass", "ITI-18", "FAIL", "Documents count: expected 5, got 4"),
    StepResult("15817", "pif", "step", "ITI-8", "SKIP", "ITI-8 patient feed replaced by the runner"),
    StepResult("15800", "update", "update", "ITI-57", "SKIP", "transaction not implemented yet"),
]


class TestText:
    def test_step_line_carries_outcome_transaction_label_and_reason(self) -> None:
        assert step_line(RESULTS[1]) == (
            "FAIL ITI-18  11897/approved/leafclass  [Documents count: expected 5, got 4]"
        )

    def test_table_per_transaction_and_total(self) -> None:
        lines = table(RESULTS)
        assert lines[0].split() == ["transaction", "pass", "fail", "skip", "total"]
        rows = {ln.split()[0]: ln.split()[1:] for ln in lines[1:]}
        assert rows["ITI-18"] == ["0", "1", "0", "1"] and rows["all"] == ["1", "1", "2", "4"]

    def test_summary_line(self) -> None:
        assert summary_line(RESULTS) == "1 passed, 1 failed, 2 skipped"


class TestJson:
    def test_same_content(self, tmp_path: Path) -> None:
        path = tmp_path / "r.json"
        write_json(path, RESULTS, {"base_url": "http://x"})
        data = json.loads(path.read_text())
        assert data == json.loads(json.dumps(to_json(RESULTS, {"base_url": "http://x"})))
        assert data["summary"] == "1 passed, 1 failed, 2 skipped"
        assert data["by_transaction"]["ITI-57"] == {"PASS": 0, "FAIL": 0, "SKIP": 1}
        assert [s["outcome"] for s in data["steps"]] == ["PASS", "FAIL", "SKIP", "SKIP"]


class TestEntryPoints:
    def test_exactly_one_server_choice(self) -> None:
        lines: list[str] = []
        assert run(None, False, [], None, out=lines.append) == 2
        assert run("http://127.0.0.1:1", True, [], None, out=lines.append) == 2
        assert all("exactly one" in ln for ln in lines)

    def test_unknown_test_is_an_error(self) -> None:
        lines: list[str] = []
        assert run("http://127.0.0.1:1", False, ["99999"], None, out=lines.append) == 2
        assert "unknown test" in lines[-1]

    def test_typer_sub_app(self) -> None:
        result = CliRunner().invoke(app, ["run", "nist", "--help"])
        assert result.exit_code == 0
        for option in ("--base-url", "--start", "--only", "--report", "--data-dir"):
            assert option in result.output
