"""``xds-server patients add --birth-date | authorize | block | unblock | settings | representative``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from xds_server.core.ports import PatientState
from xds_server.storage.records import SqlRecordStore

from .conftest import (
    DOCTOR,
    KINE,
    OTHER_DOCTOR,
    OTHER_INS,
    PARENT,
    PARENT_INS,
    PATIENT,
    PATIENT_INS,
    WRONG_KEY_INS,
    Cli,
)


def stored(cli: Cli, patient: str = PATIENT):  # type: ignore[no-untyped-def]
    database = cli.database()
    try:
        with database.transaction(readonly=True) as connection:
            return SqlRecordStore(connection).load(patient, datetime.now(UTC).date())
    finally:
        database.dispose()


@pytest.fixture
def registered(cli: Cli) -> Cli:
    cli.ok("patients", "add", PATIENT_INS, "--state", "activated", "--birth-date", "2015-03-01")
    return cli


def setting(output: str, name: str) -> str:
    for line in output.splitlines():
        if line.startswith(f"{name}: "):
            return line.removeprefix(f"{name}: ")
    raise AssertionError(f"no {name!r} line in {output!r}")


class TestAddWithBirthDate:
    def test_birth_date_is_stored_and_makes_a_minor(self, cli: Cli) -> None:
        output = cli.ok("patients", "add", PATIENT_INS, "--birth-date", "2015-03-01")
        assert output == f"{PATIENT} created born 2015-03-01\n"
        record = stored(cli)
        assert record.birth_date == date(2015, 3, 1) and record.minor
        assert record.state is PatientState.CREATED

    def test_an_adult(self, cli: Cli) -> None:
        cli.ok("patients", "add", PATIENT_INS, "--birth-date", "1984-05-07")
        assert not stored(cli).minor

    @pytest.mark.parametrize("value", ["2015-02-30", "01/03/2015", "soon", ""])
    def test_malformed_birth_date(self, cli: Cli, value: str) -> None:
        assert "--birth-date" in cli.error("patients", "add", PATIENT_INS, "--birth-date", value, code=2)
        assert cli.ok("patients", "list") == ""

    def test_birth_date_in_the_future(self, cli: Cli) -> None:
        tomorrow = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
        assert "future" in cli.error("patients", "add", PATIENT_INS, "--birth-date", tomorrow, code=2)


class TestAuthorize:
    def test_consent_is_recorded_and_idempotent(self, registered: Cli) -> None:
        assert registered.ok("patients", "authorize", PATIENT_INS, "--professional", DOCTOR) == (
            f"{PATIENT}: consent declared for {DOCTOR}\n"
        )
        registered.ok("patients", "authorize", PATIENT, "--professional", DOCTOR)  # CX form, same record
        registered.ok("patients", "authorize", PATIENT_INS, "--professional", KINE)
        assert stored(registered).authorised == {DOCTOR, KINE}

    def test_unknown_patient(self, registered: Cli) -> None:
        line = registered.error("patients", "authorize", OTHER_INS, "--professional", DOCTOR, code=1)
        assert "unknown patient" in line

    def test_bad_ins_key(self, registered: Cli) -> None:
        assert "key" in registered.error(
            "patients", "authorize", WRONG_KEY_INS, "--professional", DOCTOR, code=2
        )

    @pytest.mark.parametrize("professional", ["", "8100 0001", "81;drop", "é"])
    def test_bad_professional_id(self, registered: Cli, professional: str) -> None:
        registered.error("patients", "authorize", PATIENT_INS, "--professional", professional, code=2)
        assert not stored(registered).authorised


class TestBlock:
    def test_block_then_unblock(self, registered: Cli) -> None:
        assert registered.ok("patients", "block", PATIENT_INS, "--professional", DOCTOR) == (
            f"{PATIENT}: {DOCTOR} blocked\n"
        )
        assert stored(registered).blocked == {DOCTOR}
        assert registered.ok("patients", "unblock", PATIENT_INS, "--professional", DOCTOR) == (
            f"{PATIENT}: {DOCTOR} unblocked\n"
        )
        assert not stored(registered).blocked
        assert "was not blocked" in registered.ok(
            "patients", "unblock", PATIENT_INS, "--professional", DOCTOR
        )

    @pytest.mark.parametrize("command", ["block", "unblock"])
    def test_unknown_patient(self, registered: Cli, command: str) -> None:
        registered.error("patients", command, OTHER_INS, "--professional", DOCTOR, code=1)

    @pytest.mark.parametrize("command", ["block", "unblock"])
    def test_bad_ins(self, registered: Cli, command: str) -> None:
        registered.error("patients", command, WRONG_KEY_INS, "--professional", DOCTOR, code=2)
        registered.error("patients", command, "not an ins", "--professional", DOCTOR, code=2)


class TestSettings:
    def test_no_option_prints_the_defaults(self, registered: Cli) -> None:
        output = registered.ok("patients", "settings", PATIENT_INS)
        assert setting(output, "patient") == PATIENT
        assert setting(output, "state") == "activated"
        assert setting(output, "birth date") == "2015-03-01 (minor)"
        assert setting(output, "regulation (SAMU / centre 15)") == "allowed"
        assert setting(output, "break-glass") == "allowed"
        assert setting(output, "médecin traitant") == "-"
        assert setting(output, "administrators") == "-"

    def test_every_option(self, registered: Cli) -> None:
        registered.ok("patients", "authorize", PATIENT_INS, "--professional", KINE)
        output = registered.ok(
            "patients",
            "settings",
            PATIENT_INS,
            "--samu",
            "refuse",
            "--break-glass",
            "REFUSE",
            "--administrator",
            OTHER_DOCTOR,
            "--medecin-traitant",
            DOCTOR,
        )
        assert setting(output, "regulation (SAMU / centre 15)") == "refused"
        assert setting(output, "break-glass") == "refused"
        assert setting(output, "médecin traitant") == DOCTOR
        assert setting(output, "administrators") == OTHER_DOCTOR
        assert setting(output, "authorised") == KINE
        record = stored(registered)
        assert not record.samu_allowed and not record.break_glass_allowed
        assert record.administrator_doctors == {DOCTOR, OTHER_DOCTOR}
        assert setting(registered.ok("patients", "settings", PATIENT_INS), "break-glass") == "refused"

    def test_allow_again_remove_medecin_traitant_and_administrator(self, registered: Cli) -> None:
        registered.ok("patients", "settings", PATIENT_INS, "--samu", "refuse", "--medecin-traitant", DOCTOR)
        registered.ok("patients", "settings", PATIENT_INS, "--administrator", OTHER_DOCTOR)
        output = registered.ok(
            "patients",
            "settings",
            PATIENT_INS,
            "--samu",
            "allow",
            "--medecin-traitant",
            "none",
            "--remove-administrator",
            OTHER_DOCTOR,
        )
        assert setting(output, "regulation (SAMU / centre 15)") == "allowed"
        assert setting(output, "médecin traitant") == "-"
        assert setting(output, "administrators") == "-"

    @pytest.mark.parametrize(
        "option",
        [
            ("--samu", "maybe"),
            ("--break-glass", "yes"),
            ("--administrator", "a b"),
            ("--medecin-traitant", ""),
            ("--remove-administrator", "x/y"),
        ],
    )
    def test_bad_option_values_change_nothing(self, registered: Cli, option: tuple[str, str]) -> None:
        assert option[0] in registered.error("patients", "settings", PATIENT_INS, "--samu", "refuse", *option)
        assert stored(registered).samu_allowed

    def test_unknown_patient(self, registered: Cli) -> None:
        registered.error("patients", "settings", OTHER_INS, code=1)
        registered.error("patients", "settings", OTHER_INS, "--samu", "refuse", code=1)

    def test_bad_ins_key(self, registered: Cli) -> None:
        registered.error("patients", "settings", WRONG_KEY_INS, code=2)


class TestRepresentative:
    def test_add(self, registered: Cli) -> None:
        assert registered.ok("patients", "representative", PATIENT_INS, "--add", PARENT_INS) == (
            f"{PATIENT}: legal representative {PARENT}\n"
        )
        registered.ok("patients", "representative", PATIENT, "--add", PARENT)  # again, CX forms
        assert stored(registered).legal_representatives == {PARENT}
        assert setting(registered.ok("patients", "settings", PATIENT_INS), "legal representatives") == PARENT

    def test_unknown_patient(self, registered: Cli) -> None:
        registered.error("patients", "representative", OTHER_INS, "--add", PARENT_INS, code=1)

    def test_bad_representative_ins(self, registered: Cli) -> None:
        registered.error("patients", "representative", PATIENT_INS, "--add", WRONG_KEY_INS, code=2)
        assert not stored(registered).legal_representatives

    def test_own_representative(self, registered: Cli) -> None:
        assert "own" in registered.error("patients", "representative", PATIENT_INS, "--add", PATIENT, code=2)


class TestDataDirAndProfile:
    def test_data_dir_option_selects_the_database(self, registered: Cli) -> None:
        other = str(registered.data_dir.parent / "elsewhere")
        if registered.env.get("XDS_DATABASE_URL"):
            pytest.skip("on PostgreSQL the data dir does not hold the database")
        registered.error("patients", "authorize", PATIENT_INS, "--professional", DOCTOR, "--data-dir", other)
        registered.ok(
            "patients",
            "authorize",
            PATIENT_INS,
            "--professional",
            DOCTOR,
            "--data-dir",
            str(registered.data_dir),
        )

    def test_the_production_profile_refuses_test_authorities(self, registered: Cli) -> None:
        test_cx = f"{PATIENT_INS}^^^&1.2.250.1.213.1.4.10&ISO^NH"
        line = registered.error(
            "patients", "authorize", test_cx, "--professional", DOCTOR, "--profile", "dmp"
        )
        assert "test assigning authority" in line

    def test_unknown_profile(self, registered: Cli) -> None:
        assert "profile" in registered.error("patients", "settings", PATIENT_INS, "--profile", "nope", code=2)
