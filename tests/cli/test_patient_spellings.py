"""``patients`` commands and ``policy explain`` name one record whatever accepted spelling of the patient is
given (``dmp-test``): CX with ``^NH``, without, and for the production INS-NIR authority the bare INS. The
same 15 characters under the test authority are another patient, which the bare INS never names.
"""

from __future__ import annotations

import pytest

from .conftest import DOCTOR, KINE, OTHER_DOCTOR, OTHER_INS, PARENT_INS, PATIENT_INS, Cli
from .test_policy_explain import store_document

PRODUCTION_OID, TEST_OID = "1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.10"
FORMS = {
    "production": {
        "cx+NH": f"{PATIENT_INS}^^^&{PRODUCTION_OID}&ISO^NH",
        "cx": f"{PATIENT_INS}^^^&{PRODUCTION_OID}&ISO",
        "bare": PATIENT_INS,
    },
    "test": {"cx+NH": f"{PATIENT_INS}^^^&{TEST_OID}&ISO^NH", "cx": f"{PATIENT_INS}^^^&{TEST_OID}&ISO"},
}
CANONICAL = {patient: forms["cx+NH"] for patient, forms in FORMS.items()}
OTHER = {"production": "test", "test": "production"}
CASES = [(patient, form) for patient, forms in FORMS.items() for form in forms]
IDS = [f"{patient}-{form}" for patient, form in CASES]


def settings_of(cli: Cli, patient: str) -> dict[str, str]:
    output = cli.ok("patients", "settings", CANONICAL[patient])
    return dict(line.split(": ", 1) for line in output.strip().splitlines())


@pytest.mark.parametrize(("patient", "form"), CASES, ids=IDS)
def test_add_in_each_spelling_is_one_patient(cli: Cli, patient: str, form: str) -> None:
    spelled = FORMS[patient][form]
    assert cli.ok("patients", "add", spelled).split() == [CANONICAL[patient], "created"]
    for other in FORMS[patient].values():  # the same record, its state changed
        cli.ok("patients", "add", other, "--state", "activated")
    assert cli.ok("patients", "list").splitlines() == [f"{CANONICAL[patient]} activated"]


@pytest.mark.parametrize(("patient", "form"), CASES, ids=IDS)
def test_every_record_command_in_each_spelling(cli: Cli, patient: str, form: str) -> None:
    cli.ok("patients", "add", CANONICAL[patient], "--state", "activated")
    cli.ok("patients", "add", CANONICAL[OTHER[patient]], "--state", "activated")
    spelled = FORMS[patient][form]
    assert cli.ok("patients", "authorize", spelled, "--professional", DOCTOR).startswith(CANONICAL[patient])
    cli.ok("patients", "block", spelled, "--professional", KINE)
    cli.ok("patients", "block", spelled, "--professional", OTHER_DOCTOR)
    cli.ok("patients", "unblock", spelled, "--professional", OTHER_DOCTOR)
    shown = cli.ok("patients", "settings", spelled, "--samu", "refuse", "--medecin-traitant", DOCTOR)
    assert shown.startswith(f"patient: {CANONICAL[patient]}\n")
    cli.ok("patients", "representative", spelled, "--add", PARENT_INS)
    record = settings_of(cli, patient)
    assert record["authorised"] == DOCTOR and record["blocked"] == KINE
    assert record["médecin traitant"] == DOCTOR and record["regulation (SAMU / centre 15)"] == "refused"
    assert record["legal representatives"] == f"{PARENT_INS}^^^&{PRODUCTION_OID}&ISO^NH"
    # the other patient with the same 15 characters is untouched
    untouched = settings_of(cli, OTHER[patient])
    assert untouched["authorised"] == untouched["blocked"] == untouched["legal representatives"] == "-"
    assert untouched["regulation (SAMU / centre 15)"] == "allowed"


@pytest.mark.parametrize(("patient", "form"), CASES, ids=IDS)
def test_policy_explain_in_each_spelling(cli: Cli, patient: str, form: str) -> None:
    for each in FORMS:
        cli.ok("patients", "add", CANONICAL[each], "--state", "activated")
        cli.ok("patients", "authorize", CANONICAL[each], "--professional", DOCTOR)
    document = store_document(cli, patient=CANONICAL[patient])

    def explain(spelled: str) -> str:
        return cli.ok("policy", "explain", "--patient", spelled, "--actor", DOCTOR, "--document", document)

    output = explain(FORMS[patient][form])
    assert output == explain(CANONICAL[patient])
    assert "record access: ALLOWED" in output and "document visibility: ALLOWED" in output


@pytest.mark.parametrize(("patient", "form"), CASES, ids=IDS)
def test_policy_explain_with_another_patients_spelling_refuses(cli: Cli, patient: str, form: str) -> None:
    """The document is in the other record (same 15 characters, other authority): not this one's."""
    for each in FORMS:
        cli.ok("patients", "add", CANONICAL[each], "--state", "activated")
    document = store_document(cli, patient=CANONICAL[OTHER[patient]])
    line = cli.error(
        "policy",
        "explain",
        "--patient",
        FORMS[patient][form],
        "--actor",
        DOCTOR,
        "--document",
        document,
        code=1,
    )
    assert f"not in the record of {CANONICAL[patient]}" in line


class TestBareIns:
    """The rule the README states: a bare INS is the production INS-NIR authority's, in dmp-test too."""

    def test_the_bare_ins_never_names_the_test_authority_record(self, cli: Cli) -> None:
        cli.ok("patients", "add", FORMS["test"]["cx"], "--state", "activated")
        line = cli.error("patients", "authorize", PATIENT_INS, "--professional", DOCTOR, code=1)
        assert CANONICAL["production"] in line
        assert settings_of(cli, "test")["authorised"] == "-"

    def test_adding_a_bare_ins_creates_the_production_patient(self, cli: Cli) -> None:
        cli.ok("patients", "add", FORMS["test"]["cx+NH"])
        cli.ok("patients", "add", PATIENT_INS)
        assert sorted(cli.ok("patients", "list").splitlines()) == sorted(
            f"{CANONICAL[p]} created" for p in FORMS
        )

    @pytest.mark.parametrize("spelled", [OTHER_INS, f"{OTHER_INS}^^^&{TEST_OID}&ISO"])
    def test_an_unknown_patient_in_any_spelling_is_refused(self, cli: Cli, spelled: str) -> None:
        cli.ok("patients", "add", CANONICAL["production"], "--state", "activated")
        assert "unknown patient" in cli.error("patients", "block", spelled, "--professional", DOCTOR, code=1)
        assert settings_of(cli, "production")["blocked"] == "-"
