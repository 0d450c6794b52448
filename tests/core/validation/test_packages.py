"""validation.packages: SubmissionSet and Folder rules."""

from __future__ import annotations

import pytest

from xds_server.core.errors import ErrorCode
from xds_server.core.metadata import Author, LocalizedText

from ..builders import code, folder, submission, submission_set
from .helpers import assert_refused, assert_valid

META = ErrorCode.REGISTRY_METADATA_ERROR


class TestSubmissionSet:
    @pytest.mark.parametrize(
        ("field", "attribute"),
        [
            ("submission_time", "submissionTime"),
            ("content_type_code", "contentTypeCode"),
            ("patient_id", "patientId"),
            ("source_id", "sourceId"),
            ("unique_id", "uniqueId"),
        ],
    )
    def test_missing_item_refused(self, field: str, attribute: str) -> None:
        assert_refused(submission(ss=submission_set(**{field: None})), META, f"SubmissionSet01/{attribute}")

    def test_optional_items_may_be_absent(self) -> None:
        assert_valid(submission(ss=submission_set(authors=(), title=None, intended_recipients=())))

    def test_submission_time_must_be_a_dtm(self) -> None:
        ss = submission_set(submission_time="2004-12-25T23:50:50Z")
        assert_refused(submission(ss=ss), META, "SubmissionSet01/submissionTime")

    @pytest.mark.parametrize(("field", "attribute"), [("source_id", "sourceId"), ("unique_id", "uniqueId")])
    def test_oids_only(self, field: str, attribute: str) -> None:
        ss = submission_set(**{field: "1.2.3^ext"})
        assert_refused(submission(ss=ss), META, f"SubmissionSet01/{attribute}")

    def test_author_needs_person_or_institution(self) -> None:
        ss = submission_set(authors=(Author(roles=("x",)),))
        assert_refused(submission(ss=ss), META, "SubmissionSet01/author[1]")

    def test_content_type_code_needs_a_scheme(self) -> None:
        ss = submission_set(content_type_code=code("Communication", ""))
        assert_refused(submission(ss=ss), META, "SubmissionSet01/contentTypeCode")


class TestFolder:
    def test_valid(self) -> None:
        assert_valid(submission(folders=(folder(codes=(code("A"), code("B"))),)))

    @pytest.mark.parametrize(
        ("field", "value", "attribute"),
        [
            ("title", None, "title"),
            ("title", LocalizedText(""), "title"),
            ("codes", (), "codeList"),
            ("patient_id", None, "patientId"),
            ("unique_id", None, "uniqueId"),
            ("unique_id", "1.2.3^x", "uniqueId"),
        ],
    )
    def test_refused(self, field: str, value: object, attribute: str) -> None:
        assert_refused(submission(folders=(folder(**{field: value}),)), META, f"Folder01/{attribute}")

    def test_submitted_last_update_time_is_not_checked(self) -> None:
        # The registry overwrites it (NIST 12323), so even an odd value does not fail the submission.
        assert_valid(submission(folders=(folder(last_update_time="garbage"),)))
