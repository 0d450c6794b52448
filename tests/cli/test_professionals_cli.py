"""``professionals load | search``, ``patients block | unblock --name N (--commune | --postal-code)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.audit.trail import events
from tests.core.test_professionals import SAMPLE
from xds_server.core.ports import PatientState
from xds_server.storage.audit import StoredEvent

from .conftest import PATIENT, PATIENT_INS, Cli
from .test_patients import stored


def loaded(cli: Cli) -> Cli:
    assert "11 professionals (12 sites) loaded" in cli.ok("professionals", "load", str(SAMPLE))
    return cli


class TestLoad:
    def test_a_reload_replaces_the_directory(self, cli: Cli, tmp_path: Path) -> None:
        loaded(cli)
        lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
        smaller = tmp_path / "smaller.txt"
        smaller.write_text("".join(lines[:4]), encoding="cp1252")  # an older, Windows-1252 extract
        assert "2 professionals (3 sites)" in cli.ok("professionals", "load", str(smaller))
        assert "LEFÈVRE" not in cli.ok("professionals", "search", "--name", "martin", "--commune", "lyon")
        assert cli.error("professionals", "search", "--name", "lefevre", "--postal-code", "42000", code=1)

    def test_a_bad_file_changes_nothing(self, cli: Cli, tmp_path: Path) -> None:
        loaded(cli)
        lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
        broken = tmp_path / "broken.txt"
        broken.write_text("".join(lines[:5]) + "8|1|81|truncated\n", encoding="utf-8")
        assert "line 6" in cli.error("professionals", "load", str(broken), code=2)
        assert cli.error("professionals", "load", str(tmp_path / "missing.txt"), code=2)
        out = cli.ok("professionals", "search", "--name", "lefevre", "--commune", "Saint-Étienne")
        assert out == "810100000037 Hélène LEFÈVRE, Médecin, SAINT-ETIENNE\n"

    def test_search_needs_a_place(self, cli: Cli) -> None:
        loaded(cli)
        assert "postal code" in cli.error("professionals", "search", "--name", "martin", code=2)


class TestBlockByName:
    def test_the_one_found_is_blocked_then_unblocked(self, cli: Cli) -> None:
        loaded(cli)
        cli.ok("patients", "add", PATIENT_INS, "--state", "activated")
        out = cli.ok("patients", "block", PATIENT_INS, "--name", "lefèvre", "--postal-code", "42000")
        assert out == f"{PATIENT}: 810100000037 blocked\n"
        assert stored(cli).blocked == {"810100000037"}
        cli.ok("patients", "unblock", PATIENT_INS, "--name", "Hélène Lefevre", "--commune", "saint etienne")
        assert stored(cli).blocked == frozenset()
        traces = [t.json() for t in traced(cli)]
        assert [settings_of(t) for t in traces] == [
            ("Consent/blocked-810100000037", "added"),
            ("Consent/blocked-810100000037", "removed"),
        ]
        user = next(a for a in traces[0]["agent"] if a.get("requestor"))
        assert user["who"]["identifier"]["value"].startswith("cli:")

    def test_an_ambiguous_search_lists_the_candidates_and_blocks_nobody(self, cli: Cli) -> None:
        loaded(cli)
        cli.ok("patients", "add", PATIENT_INS, "--state", "activated")
        line = cli.error("patients", "block", PATIENT_INS, "--name", "martin", "--commune", "lyon", code=2)
        assert "810100000011 Sophie MARTIN, Médecin, LYON 2E ARRONDISSEMENT" in line
        assert "810100000029 Jean-Pierre MARTIN, Médecin" in line and "--professional" in line
        assert stored(cli).blocked == frozenset()

    def test_nobody_found_or_conflicting_options(self, cli: Cli) -> None:
        loaded(cli)
        cli.ok("patients", "add", PATIENT_INS, "--state", "activated")
        assert "no professional" in cli.error(
            "patients", "block", PATIENT_INS, "--name", "zorro", "--commune", "lyon", code=1
        )
        cli.error("patients", "block", PATIENT_INS, code=2)
        named = ("patients", "block", PATIENT_INS, "--professional", "810100000037")
        cli.error(*named, "--name", "x", code=2)
        cli.error(*named, "--commune", "x", code=2)
        assert stored(cli).blocked == frozenset()


def traced(cli: Cli) -> list[StoredEvent]:
    database = cli.database()
    try:
        return events(database, "PATIENT-API")
    finally:
        database.dispose()


def settings_of(trace: dict[str, Any]) -> tuple[str, str]:
    (setting,) = [e for e in trace["entity"] if e["role"]["code"] == "4"]
    return setting["what"]["identifier"]["value"], setting["description"]


class TestOppose:
    def test_oppose_then_withdraw_each_traced(self, cli: Cli) -> None:
        cli.ok("patients", "add", PATIENT_INS, "--state", "activated")
        assert "opposed" in cli.ok("patients", "oppose", PATIENT_INS)
        assert stored(cli).state is PatientState.OPPOSED
        assert "withdrawn" in cli.ok("patients", "oppose", PATIENT_INS, "--withdraw")
        assert stored(cli).state is PatientState.ACTIVATED
        assert "not opposed" in cli.ok("patients", "oppose", PATIENT_INS, "--withdraw")
        assert [settings_of(t.json()) for t in traced(cli)] == [
            ("Consent/opposition", "opposed"),
            ("Consent/opposition", "withdrawn"),
            ("Consent/opposition", "withdrawn"),
        ]

    def test_an_unknown_patient(self, cli: Cli) -> None:
        assert "unknown patient" in cli.error("patients", "oppose", PATIENT_INS, code=1)
        assert traced(cli) == []
