"""validation.documents: DocumentEntry rules (11998a removes one required item at a time)."""

from __future__ import annotations

import pytest

from xds_server.core.errors import ErrorCode
from xds_server.core.metadata import Author
from xds_server.core.vocabulary import ObjectType

from ..builders import author, code, document, submission
from .helpers import assert_refused, assert_valid

META = ErrorCode.REGISTRY_METADATA_ERROR


class TestRequiredItems:
    @pytest.mark.parametrize(
        ("field", "attribute"),
        [
            ("class_code", "classCode"),
            ("format_code", "formatCode"),
            ("healthcare_facility_type_code", "healthcareFacilityTypeCode"),
            ("practice_setting_code", "practiceSettingCode"),
            ("type_code", "typeCode"),
            ("creation_time", "creationTime"),
            ("language_code", "languageCode"),
            ("source_patient_id", "sourcePatientId"),
            ("patient_id", "patientId"),
            ("unique_id", "uniqueId"),
        ],
    )
    def test_missing_item_refused(self, field: str, attribute: str) -> None:
        assert_refused(submission(document(**{field: None})), META, f"Document01/{attribute}")

    def test_missing_confidentiality_code_refused(self) -> None:
        assert_refused(submission(document(confidentiality_codes=())), META, "Document01/confidentialityCode")

    def test_missing_mime_type_refused(self) -> None:
        assert_refused(submission(document(mime_type="")), META, "Document01/mimeType")

    def test_optional_items_may_be_absent(self) -> None:
        doc = document(
            title=None,
            service_start_time=None,
            service_stop_time=None,
            authors=(),
            event_codes=(),
            source_patient_info=(),
        )
        assert_valid(submission(doc))

    def test_several_confidentiality_and_event_codes_accepted(self) -> None:
        doc = document(confidentiality_codes=(code("N"), code("R")), event_codes=(code("E1"), code("E2")))
        assert_valid(submission(doc))


class TestObjectType:
    def test_on_demand_accepted_without_hash_and_size(self) -> None:
        doc = document(object_type=ObjectType.ON_DEMAND_DOCUMENT.value, hash=None, size=None)
        assert_valid(submission(doc))

    def test_other_object_type_refused(self) -> None:
        doc = document(object_type=ObjectType.REGISTRY_PACKAGE.value)
        assert_refused(submission(doc), META, "Document01/objectType")


class TestDtm:
    @pytest.mark.parametrize(
        "value", ["2004", "200412", "20041225", "2004122521", "200412252120", "20041225212010"]
    )
    def test_precisions_accepted(self, value: str) -> None:
        assert_valid(submission(document(creation_time=value, service_start_time=value)))

    @pytest.mark.parametrize(
        "value",
        [
            "04",
            "20041",
            "20041325",
            "20041232",
            "2004122525",
            "20041225216000",
            "2004-12-25",
            "20041225+0100",
        ],
    )
    @pytest.mark.parametrize("attribute", ["creationTime", "serviceStartTime", "serviceStopTime"])
    def test_malformed_refused(self, value: str, attribute: str) -> None:
        field = {"creationTime": "creation_time", "serviceStartTime": "service_start_time"}.get(
            attribute, "service_stop_time"
        )
        assert_refused(submission(document(**{field: value})), META, f"Document01/{attribute}", text=value)


class TestRepositoryItems:
    @pytest.mark.parametrize(("field", "attribute"), [("hash", "hash"), ("size", "size")])
    def test_required_on_iti42(self, field: str, attribute: str) -> None:
        assert_refused(submission(document(**{field: None})), META, f"Document01/{attribute}", text="ITI-42")

    def test_repository_unique_id_required_on_iti42(self) -> None:
        assert_refused(submission(document(repository_unique_id=None)), META, "Document01/repositoryUniqueId")

    def test_all_optional_on_iti41(self) -> None:
        doc = document(hash=None, size=None, repository_unique_id=None)
        assert_valid(submission(doc), transaction="ITI-41")

    def test_uppercase_hash_accepted(self) -> None:
        assert_valid(submission(document(hash="E543712C0E10501972DE13A5BFCBE826C49FEB75")))

    @pytest.mark.parametrize("value", ["123e4", "e543712c0e10501972de13a5bfcbe826c49feb7", "z" * 40])
    def test_bad_hash_refused(self, value: str) -> None:
        assert_refused(submission(document(hash=value)), META, "Document01/hash", transaction="ITI-41")

    @pytest.mark.parametrize("value", ["-1", "12.5", "ten", "٣"])
    def test_bad_size_refused(self, value: str) -> None:
        assert_refused(submission(document(size=value)), META, "Document01/size")

    def test_repository_unique_id_must_be_an_oid(self) -> None:
        assert_refused(
            submission(document(repository_unique_id="repo-1")), META, "Document01/repositoryUniqueId"
        )


class TestUniqueIdFormat:
    def test_oid_with_extension_accepted(self) -> None:
        assert_valid(submission(document(unique_id="1.2.3.4^abc-123")))

    @pytest.mark.parametrize("value", ["abc", "1.2.3^", "1." + "1" * 70])
    def test_refused(self, value: str) -> None:
        assert_refused(submission(document(unique_id=value)), META, "Document01/uniqueId")


class TestAuthor:
    @pytest.mark.parametrize(
        "value", [author(institutions=()), author(person=None), Author(person="^Doe^Jane")]
    )
    def test_person_or_institution_suffices(self, value: Author) -> None:
        assert_valid(submission(document(authors=(value,))))

    def test_author_without_person_or_institution_refused(self) -> None:
        nobody = Author(roles=("Attending",), specialties=("Cardiology",))
        assert_refused(submission(document(authors=(author(), nobody))), META, "Document01/author[2]")


class TestCodeCompleteness:
    def test_code_without_scheme_refused(self) -> None:
        doc = document(class_code=code("Education", ""))
        assert_refused(submission(doc), META, "Document01/classCode", text="codingScheme")

    def test_code_without_value_refused(self) -> None:
        doc = document(event_codes=(code(""),))
        assert_refused(submission(doc), META, "Document01/eventCodeList", text="empty code")
