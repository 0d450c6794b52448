"""validation.patients: one patient per submission; profile syntax, authorities and INS key."""

from __future__ import annotations

import dataclasses

from xds_server.core.errors import ErrorCode

from ..builders import (
    INS,
    NIR_OID,
    OTHER_PATIENT,
    TEST_NIR_OID,
    dmp_document,
    dmp_profile,
    dmp_submission,
    document,
    folder,
    submission,
    submission_set,
)
from .helpers import assert_refused, assert_valid, errors

META = ErrorCode.REGISTRY_METADATA_ERROR
MISMATCH = ErrorCode.PATIENT_ID_DOES_NOT_MATCH


class TestSamePatientEverywhere:
    def test_document_of_another_patient(self) -> None:
        issue = assert_refused(
            submission(document(patient_id=OTHER_PATIENT)), MISMATCH, "Document01/patientId"
        )
        assert OTHER_PATIENT in issue.message and "SubmissionSet01" in issue.message

    def test_folder_of_another_patient(self) -> None:
        assert_refused(
            submission(folders=(folder(patient_id=OTHER_PATIENT),)), MISMATCH, "Folder01/patientId"
        )

    def test_same_patient_accepted(self) -> None:
        assert_valid(submission(document("D1"), document("D2"), folders=(folder(),)))


class TestIhePatientIdSyntax:
    def test_malformed_patient_id(self) -> None:
        assert_refused(submission(ss=submission_set(patient_id="PAT-1")), META, "SubmissionSet01/patientId")

    def test_any_authority_accepted(self) -> None:
        pid = "X^^^&2.999.1&ISO"
        sub = submission(document(patient_id=pid), ss=submission_set(patient_id=pid))
        assert_valid(sub)

    def test_source_patient_id_must_be_a_cx(self) -> None:
        assert_refused(submission(document(source_patient_id="local-42")), META, "Document01/sourcePatientId")

    def test_source_patient_id_may_name_another_authority(self) -> None:
        assert_valid(submission(document(source_patient_id="L42^^^&1.2.3.4&ISO")))


class TestDmpPatientIds:
    def test_valid(self) -> None:
        assert_valid(dmp_submission(), dmp_profile())

    def test_spellings_of_one_ins_are_one_patient(self) -> None:
        doc = dmp_document(patient_id=f"{INS}^^^&{NIR_OID}&ISO", source_patient_id=INS)
        assert_valid(dmp_submission(doc), dmp_profile())

    def test_wrong_key_refused(self) -> None:
        bad = f"{INS[:13]}39^^^&{NIR_OID}&ISO^NH"
        sub = dmp_submission(
            dmp_document(patient_id=bad, source_patient_id=bad), ss=submission_set(patient_id=bad)
        )
        issue = assert_refused(sub, META, "SubmissionSet01/patientId", dmp_profile(), text="key")
        assert "expected 38" in issue.message

    def test_foreign_authority_is_an_unknown_patient(self) -> None:
        pid = f"{INS}^^^&1.2.3.4&ISO"
        sub = dmp_submission(
            dmp_document(patient_id=pid, source_patient_id=pid), ss=submission_set(patient_id=pid)
        )
        issue = assert_refused(sub, ErrorCode.UNKNOWN_PATIENT_ID, "SubmissionSet01/patientId", dmp_profile())
        assert pid in issue.message

    def test_test_authority_refused_by_default(self) -> None:
        pid = f"{INS}^^^&{TEST_NIR_OID}&ISO^NH"
        sub = dmp_submission(
            dmp_document(patient_id=pid, source_patient_id=pid), ss=submission_set(patient_id=pid)
        )
        assert_refused(sub, ErrorCode.UNKNOWN_PATIENT_ID, "Document01/patientId", dmp_profile(), text="test")

    def test_test_authority_accepted_when_configured(self) -> None:
        pid = f"{INS}^^^&{TEST_NIR_OID}&ISO^NH"
        sub = dmp_submission(
            dmp_document(patient_id=pid, source_patient_id=pid), ss=submission_set(patient_id=pid)
        )
        assert_valid(sub, dataclasses.replace(dmp_profile(), accept_test_authorities=True))

    def test_source_patient_id_must_be_the_same_ins(self) -> None:
        other = "1850578006048" + "30"
        doc = dmp_document(source_patient_id=other)
        assert_refused(
            dmp_submission(doc), META, "Document01/sourcePatientId", dmp_profile(), text="does not denote"
        )

    def test_source_patient_id_local_id_refused_in_dmp(self) -> None:
        doc = dmp_document(source_patient_id="L42^^^&1.2.3.4&ISO")
        assert_refused(dmp_submission(doc), META, "Document01/sourcePatientId", dmp_profile())

    def test_source_patient_id_free_when_profile_says_so(self) -> None:
        doc = dmp_document(source_patient_id="L42^^^&1.2.3.4&ISO")
        profile = dataclasses.replace(dmp_profile(), source_patient_id_is_patient_id=False)
        assert_valid(dmp_submission(doc), profile)

    def test_mismatch_compares_canonical_forms(self) -> None:
        sub = dmp_submission(dmp_document(patient_id=OTHER_PATIENT))
        codes = {i.code for i in errors(sub, dmp_profile())}
        assert {MISMATCH, ErrorCode.UNKNOWN_PATIENT_ID} <= codes
