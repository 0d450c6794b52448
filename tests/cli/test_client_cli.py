"""``xds-server send | find | get`` failures: one ``error:`` line each (the successful path runs end to end
in tests/docs/test_readme.py, against a real server)."""

from __future__ import annotations

from pathlib import Path

from tests.server_helpers import free_port

from .conftest import PATIENT_INS, Cli

CDA = Path(__file__).resolve().parents[2] / "examples" / "cda-compte-rendu-consultation.xml"


def nobody_listening() -> str:
    return f"http://127.0.0.1:{free_port()}"


class TestSend:
    def test_a_pdf_needs_a_patient(self, cli: Cli, tmp_path: Path) -> None:
        pdf = tmp_path / "report.pdf"
        pdf.write_bytes(b"%PDF-1.4 x")
        assert "no patient" in cli.error("send", str(pdf), "--url", nobody_listening(), code=2)

    def test_a_missing_file(self, cli: Cli, tmp_path: Path) -> None:
        line = cli.error("send", str(tmp_path / "nope.pdf"), "--patient", PATIENT_INS, code=2)
        assert "nope.pdf" in line

    def test_a_broken_cda(self, cli: Cli, tmp_path: Path) -> None:
        broken = tmp_path / "broken.xml"
        broken.write_bytes(CDA.read_bytes()[:1200])  # cut inside the header
        assert "not well-formed" in cli.error("send", str(broken), code=2)

    def test_an_invalid_patient_for_the_profile(self, cli: Cli) -> None:
        line = cli.error("send", str(CDA), "--patient", PATIENT_INS[:-2] + "00", code=2)
        assert "key" in line

    def test_no_server(self, cli: Cli) -> None:
        url = nobody_listening()
        line = cli.error("send", str(CDA), "--url", url, code=1)
        assert f"no server answers at {url}" in line

    def test_dev_without_an_authority(self, cli: Cli) -> None:
        line = cli.error("send", str(CDA), "--dev", "--url", nobody_listening(), code=1)
        assert "no dev authority" in line and "serve --dev" in line

    def test_dev_and_assertion_exclude_each_other(self, cli: Cli, tmp_path: Path) -> None:
        cli.ok("dev", "authority", "init")
        assertion = tmp_path / "a.xml"
        assertion.write_text("<x/>")
        line = cli.error("send", str(CDA), "--dev", "--assertion", str(assertion), code=2)
        assert "exclude each other" in line


class TestFindAndGet:
    def test_bad_status_and_dates(self, cli: Cli) -> None:
        assert "--status" in cli.error("find", "--patient", PATIENT_INS, "--status", "old", code=2)
        assert "YYYYMMDD" in cli.error("find", "--patient", PATIENT_INS, "--from", "2026-01-01", code=2)

    def test_get_with_no_server(self, cli: Cli, tmp_path: Path) -> None:
        line = cli.error("get", "1.2.3", "-o", str(tmp_path / "x"), "--url", nobody_listening(), code=1)
        assert "no server answers" in line
