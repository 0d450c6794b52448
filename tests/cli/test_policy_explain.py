"""``xds-server policy explain``: the rules evaluated for one professional, patient and stored document,
read from the registry (canonical XML) and the record settings, and the profile that decided."""

from __future__ import annotations

import uuid

import pytest

from xds_server.core.metadata import Author, Code, DocumentEntry
from xds_server.core.vocabulary import Status
from xds_server.ebxml.codec import encode_object_xml
from xds_server.storage.registry import SqlRegistryStore

from .conftest import DOCTOR, KINE, OTHER_DOCTOR, OTHER_INS, PATIENT, PATIENT_INS, WRONG_KEY_INS, Cli

LOINC = "2.16.840.1.113883.6.1"
CONSULTATION = Code("11488-4", LOINC, "CR de consultation")  # every group may read it
IMAGING = Code("18748-4", LOINC, "CR d'imagerie médicale")  # médecins only (other cells unknown)
MASKED = Code("MASQUE_PS", "1.2.250.1.213.1.1.4.13")
AUTHOR = "810000000042"


def store_document(
    cli: Cli,
    type_code: Code = CONSULTATION,
    *,
    masked: bool = False,
    status: str = Status.APPROVED.value,
    patient: str = PATIENT,
    structure: str = "3900000000099",
) -> str:
    """Register one DocumentEntry directly in the registry; its uniqueId."""
    unique_id = f"1.2.250.1.999.{uuid.uuid4().int % 10**12}"
    confidentiality = (Code("N", "2.16.840.1.113883.5.25"), *((MASKED,) if masked else ()))
    entry = DocumentEntry(
        entry_uuid=f"urn:uuid:{uuid.uuid4()}",
        status=status,
        mime_type="text/xml",
        patient_id=patient,
        unique_id=unique_id,
        hash="da39a3ee5e6b4b0d3255bfef95601890afd80709",
        size="10",
        class_code=Code("10", "1.2.250.1.213.1.1.4.1"),
        type_code=type_code,
        confidentiality_codes=confidentiality,
        authors=(
            Author(
                person=f"{AUTHOR}^AUTEUR^Paul^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS",
                institutions=(f"Cabinet^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{structure}",),
            ),
        ),
    )
    database = cli.database()
    try:
        with database.transaction() as connection:
            SqlRegistryStore(connection, encode_object_xml).add_objects([entry])
    finally:
        database.dispose()
    return unique_id


@pytest.fixture
def record(cli: Cli) -> Cli:
    cli.ok("patients", "add", PATIENT_INS, "--state", "activated")
    cli.ok("patients", "authorize", PATIENT_INS, "--professional", DOCTOR)
    cli.ok("patients", "authorize", PATIENT_INS, "--professional", KINE)
    return cli


def explain(cli: Cli, document: str, actor: str, *options: str) -> str:
    return cli.ok(
        "policy", "explain", "--patient", PATIENT_INS, "--actor", actor, "--document", document, *options
    )


class TestDecisions:
    def test_authorised_medecin_sees_a_consultation_report(self, record: Cli) -> None:
        output = explain(record, store_document(record), DOCTOR)
        assert output.startswith("profile dmp-test (dmp rules)")
        assert "record access: ALLOWED (decided by the dmp profile)" in output
        assert "consent declared (authorised list)" in output
        assert "document visibility: ALLOWED" in output

    def test_kine_and_medecin_on_a_matrix_restricted_type(self, record: Cli) -> None:
        document = store_document(record, IMAGING)
        kine = explain(record, document, KINE, "--profession", "70")
        assert "document visibility: REFUSED" in kine and "may not read type 18748-4" in kine
        assert "caller sees: answered as if absent" in kine
        assert "document visibility: ALLOWED" in explain(record, document, DOCTOR)

    def test_masque_ps_author_and_administrator(self, record: Cli) -> None:
        document = store_document(record, masked=True)
        assert "MASQUE_PS: hidden" in explain(record, document, DOCTOR)
        record.ok("patients", "authorize", PATIENT_INS, "--professional", AUTHOR)
        assert "author exception" in explain(record, document, AUTHOR)
        record.ok("patients", "settings", PATIENT_INS, "--administrator", OTHER_DOCTOR)
        output = explain(record, document, OTHER_DOCTOR)
        assert "document visibility: ALLOWED" in output and "MASQUE_PS: visible" in output
        emergency = explain(record, document, OTHER_DOCTOR, "--mode", "break-glass", "--reason", "coma")
        assert "MASQUE_PS: stays hidden in emergency modes" in emergency

    def test_blocked_professional(self, record: Cli) -> None:
        record.ok("patients", "block", PATIENT_INS, "--professional", DOCTOR)
        output = explain(record, store_document(record), DOCTOR)
        assert "record access: REFUSED DMPAccessDenied" in output
        assert "blocked by the patient" in output

    def test_break_glass_with_and_without_reason(self, record: Cli) -> None:
        document = store_document(record)
        stranger = "810000000077"
        assert "normal mode: no consent declared" in explain(record, document, stranger)
        without = explain(record, document, stranger, "--mode", "break-glass")
        assert "break-glass mode: no reason given" in without
        with_reason = explain(record, document, stranger, "--mode", "break-glass", "--reason", "coma")
        assert "record access: ALLOWED" in with_reason

    def test_regulation_refused_by_the_patient(self, record: Cli) -> None:
        record.ok("patients", "settings", PATIENT_INS, "--samu", "refuse")
        output = explain(record, store_document(record), "810000000077", "--mode", "regulation")
        assert "refused by the patient's emergency settings" in output

    @pytest.mark.parametrize("state", ["opposed", "closed"])
    def test_opposed_and_closed_records(self, record: Cli, state: str) -> None:
        document = store_document(record)
        record.ok("patients", "add", PATIENT_INS, "--state", state)
        output = explain(record, document, DOCTOR)
        assert "record state: absent, opposed or closed" in output
        assert "REFUSED XDSUnknownPatientId" in output

    def test_deprecated_documents_only_when_asked_for(self, record: Cli) -> None:
        document = store_document(record, status=Status.DEPRECATED.value)
        assert "document visibility: REFUSED" in explain(record, document, DOCTOR)
        assert "document visibility: ALLOWED" in explain(record, document, DOCTOR, "--include-deprecated")

    def test_write_operation(self, record: Cli) -> None:
        document = store_document(record)
        replace = explain(record, document, DOCTOR, "--operation", "replace")
        assert "write (replace): REFUSED DMPAccessDenied" in replace
        colleague = explain(
            record, document, DOCTOR, "--structure", "3900000000099", "--operation", "replace"
        )
        assert "works in the author's structure" in colleague
        record.ok("patients", "authorize", PATIENT_INS, "--professional", AUTHOR)
        assert "write (replace): ALLOWED" in explain(record, document, AUTHOR, "--operation", "replace")
        deposit = explain(
            record, store_document(record, IMAGING), KINE, "--profession", "70", "--operation", "deposit"
        )
        assert "write (deposit): REFUSED DMPDocumentTypeNotAllowed" in deposit

    def test_ihe_profile_decides_in_the_ihe_profile(self, cli: Cli) -> None:
        cli.env["XDS_PROFILE"] = "ihe"
        patient = "ihe-1^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
        cli.ok("patients", "add", patient)
        document = store_document(cli, IMAGING, masked=True, patient=patient)
        output = cli.ok("policy", "explain", "--patient", patient, "--actor", KINE, "--document", document)
        assert output.startswith("profile ihe (ihe rules)")
        assert "record access: ALLOWED (decided by the ihe profile)" in output
        assert "document visibility: ALLOWED (decided by the ihe profile)" in output

    def test_the_actor_is_printed_and_an_unstated_structure_is_unknown(self, record: Cli) -> None:
        document = store_document(record, structure="3900000000001")  # the dev identities' default structure
        output = explain(record, document, DOCTOR, "--operation", "replace")
        assert f"actor {DOCTOR} profession 10 savoir-faire SM26 role - genre - structure -\n" in output
        assert "write (replace): REFUSED DMPAccessDenied" in output


class TestErrors:
    def test_unknown_document(self, record: Cli) -> None:
        line = record.error(
            "policy",
            "explain",
            "--patient",
            PATIENT_INS,
            "--actor",
            DOCTOR,
            "--document",
            "1.2.3.999",
            code=1,
        )
        assert "1.2.3.999" in line

    def test_document_of_another_patient(self, record: Cli) -> None:
        record.ok("patients", "add", OTHER_INS)
        document = store_document(record, patient=f"{OTHER_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH")
        line = record.error(
            "policy", "explain", "--patient", PATIENT_INS, "--actor", DOCTOR, "--document", document, code=1
        )
        assert "not in the record" in line

    @pytest.mark.parametrize(
        ("options", "named"),
        [
            (("--patient", WRONG_KEY_INS, "--actor", DOCTOR), "key"),
            (("--patient", PATIENT_INS, "--actor", "a b"), "--actor"),
            (("--patient", PATIENT_INS, "--actor", DOCTOR, "--mode", "fast"), "--mode"),
            (("--patient", PATIENT_INS, "--actor", DOCTOR, "--operation", "burn"), "--operation"),
        ],
    )
    def test_bad_options(self, record: Cli, options: tuple[str, ...], named: str) -> None:
        document = store_document(record)
        assert named in record.error("policy", "explain", *options, "--document", document, code=2)
