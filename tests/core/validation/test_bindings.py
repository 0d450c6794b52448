"""validation.bindings: profile value sets and the DMP confidentiality rule."""

from __future__ import annotations

import dataclasses

import pytest

from xds_server.core.errors import ErrorCode
from xds_server.core.profile import BoundAttribute, ValueSetBinding
from xds_server.core.vocabulary import DMP_VISIBILITY_OID, HL7_CONFIDENTIALITY_OID

from ..builders import code, dmp_document, dmp_profile, dmp_submission, folder, submission, submission_set
from .helpers import assert_refused, assert_valid, errors

META = ErrorCode.REGISTRY_METADATA_ERROR
N = code("N", HL7_CONFIDENTIALITY_OID)
R = code("R", HL7_CONFIDENTIALITY_OID)


def masked(value: str) -> object:
    return code(value, DMP_VISIBILITY_OID)


class TestValueSets:
    def test_codes_in_their_value_sets(self) -> None:
        assert_valid(dmp_submission(), dmp_profile())

    @pytest.mark.parametrize(
        ("field", "attribute"),
        [
            ("class_code", "classCode"),
            ("type_code", "typeCode"),
            ("format_code", "formatCode"),
            ("healthcare_facility_type_code", "healthcareFacilityTypeCode"),
            ("practice_setting_code", "practiceSettingCode"),
        ],
    )
    def test_code_outside_its_value_set(self, field: str, attribute: str) -> None:
        doc = dmp_document(**{field: code("NOPE", "1.2.3")})
        issue = assert_refused(dmp_submission(doc), META, f"Document01/{attribute}", dmp_profile())
        assert "NOPE" in issue.message and attribute in issue.message and "test-" in issue.message

    def test_right_code_in_the_wrong_scheme_refused(self) -> None:
        doc = dmp_document(class_code=code("10", "2.16.840.1.113883.6.1"))
        assert_refused(dmp_submission(doc), META, "Document01/classCode", dmp_profile())

    def test_unbound_attributes_are_free(self) -> None:
        # The IHE profile binds nothing: Connectathon codes pass.
        assert_valid(submission())

    def test_event_codes_checked_when_bound(self) -> None:
        binding = ValueSetBinding(BoundAttribute.EVENT_CODE_LIST, "events", frozenset({("E1", "1.2")}))
        profile = dataclasses.replace(dmp_profile(), bindings=(binding,))
        doc = dmp_document(event_codes=(code("E1", "1.2"), code("E2", "1.2")))
        found = [i for i in errors(dmp_submission(doc), profile) if i.location == "Document01/eventCodeList"]
        assert len(found) == 1 and "'E2'" in found[0].message

    def test_content_type_and_folder_codes_checked_when_bound(self) -> None:
        profile = dataclasses.replace(
            dmp_profile(),
            bindings=(
                ValueSetBinding(BoundAttribute.CONTENT_TYPE_CODE, "ct", frozenset({("ok", "1.2")})),
                ValueSetBinding(BoundAttribute.FOLDER_CODE_LIST, "fc", frozenset({("ok", "1.2")})),
            ),
        )
        ss = dmp_submission().submission_sets[0]
        sub = dmp_submission(
            folders=(folder(patient_id=ss.patient_id, codes=(code("bad", "1.2"),)),),
            ss=dataclasses.replace(ss, content_type_code=code("bad", "1.2")),
        )
        locations = {i.location for i in errors(sub, profile)}
        assert {"SubmissionSet01/contentTypeCode", "Folder01/codeList"} <= locations

    def test_every_bad_code_reported(self) -> None:
        doc = dmp_document(class_code=code("X", "1"), type_code=code("Y", "1"), format_code=code("Z", "1"))
        locations = [i.location for i in errors(dmp_submission(doc), dmp_profile())]
        assert locations.count("Document01/classCode") == 1
        assert {"Document01/typeCode", "Document01/formatCode"} <= set(locations)


class TestConfidentialityRule:
    @pytest.mark.parametrize(
        "codes",
        [
            (N,),
            (R,),
            (code("V", HL7_CONFIDENTIALITY_OID),),
            (N, masked("MASQUE_PS")),
            (R, masked("INVISIBLE_PATIENT"), masked("INVISIBLE_REPRESENTANTS_LEGAUX")),
        ],
    )
    def test_accepted(self, codes: tuple[object, ...]) -> None:
        assert_valid(dmp_submission(dmp_document(confidentiality_codes=codes)), dmp_profile())

    def test_no_hl7_code(self) -> None:
        doc = dmp_document(confidentiality_codes=(masked("MASQUE_PS"),))
        assert_refused(
            dmp_submission(doc), META, "Document01/confidentialityCode", dmp_profile(), text="found 0"
        )

    def test_two_hl7_codes(self) -> None:
        doc = dmp_document(confidentiality_codes=(N, R))
        assert_refused(
            dmp_submission(doc), META, "Document01/confidentialityCode", dmp_profile(), text="found 2"
        )

    def test_unknown_hl7_code(self) -> None:
        doc = dmp_document(confidentiality_codes=(code("U", HL7_CONFIDENTIALITY_OID),))
        assert_refused(dmp_submission(doc), META, "Document01/confidentialityCode", dmp_profile(), text="'U'")

    def test_unknown_masking_code(self) -> None:
        doc = dmp_document(confidentiality_codes=(N, masked("MASQUE_TOUT")))
        assert_refused(
            dmp_submission(doc), META, "Document01/confidentialityCode", dmp_profile(), text="MASQUE_TOUT"
        )

    def test_code_of_another_scheme(self) -> None:
        doc = dmp_document(confidentiality_codes=(N, code("1.3.6.1.4.1.21367.2006.7.101", "Connect-a-thon")))
        assert_refused(
            dmp_submission(doc), META, "Document01/confidentialityCode", dmp_profile(), text="neither"
        )

    def test_rule_off_in_the_ihe_profile(self) -> None:
        ss = submission_set()
        assert_valid(submission(ss=ss))
