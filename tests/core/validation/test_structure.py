"""validation.structure: message-level rules."""

from __future__ import annotations

import dataclasses

import pytest

from xds_server.core.errors import ErrorCode
from xds_server.core.metadata import DecodeProblem, Slot, Submission
from xds_server.core.profile import IHE_DEFAULT
from xds_server.core.validation import validate_submission
from xds_server.core.vocabulary import ClassificationScheme

from ..builders import code, document, folder, submission, submission_set
from .helpers import assert_refused, assert_valid, errors

META = ErrorCode.REGISTRY_METADATA_ERROR


class TestValidBaseline:
    def test_builder_submission_is_valid(self) -> None:
        assert_valid(submission())

    def test_two_documents_and_a_folder(self) -> None:
        assert_valid(submission(document("Doc1"), document("Doc2"), folders=(folder(),)))

    def test_unknown_transaction_is_a_programming_error(self) -> None:
        with pytest.raises(ValueError):
            validate_submission(submission(), IHE_DEFAULT, transaction="ITI-18")


class TestExactlyOneSubmissionSet:
    def test_none(self) -> None:
        sub = dataclasses.replace(submission(), submission_sets=())
        assert_refused(sub, META, "SubmitObjectsRequest/SubmissionSet", text="found 0")

    def test_two(self) -> None:
        sub = submission()
        sub = dataclasses.replace(
            sub, submission_sets=(*sub.submission_sets, submission_set("SubmissionSet02"))
        )
        assert_refused(sub, META, "SubmitObjectsRequest/SubmissionSet", text="found 2")


class TestDecodeProblems:
    def test_every_problem_becomes_an_issue(self) -> None:
        problems = (
            DecodeProblem("Document01/creationTime", "creationTime has 2 values"),
            DecodeProblem("Document01/classCode", "Classification without codingScheme"),
        )
        sub = dataclasses.replace(submission(), problems=problems)
        found = errors(sub)
        assert [(i.code, i.location, i.message) for i in found] == [
            (META, p.location, p.message) for p in problems
        ]


class TestObjectIds:
    def test_duplicate_ids_refused(self) -> None:
        assert_refused(submission(document("X"), folders=(folder("X"),)), META, "X/id", text="2 objects")

    def test_malformed_urn_uuid_refused(self) -> None:
        assert_refused(submission(document("urn:uuid:nope")), META, "urn:uuid:nope/id")

    def test_valid_urn_uuid_accepted(self) -> None:
        assert_valid(submission(document("urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1")))

    def test_anonymous_association_accepted(self) -> None:
        sub = submission()
        first = dataclasses.replace(sub.associations[0], entry_uuid="")
        assert_valid(dataclasses.replace(sub, associations=(first,)))

    def test_anonymous_document_refused(self) -> None:
        sub = submission(document(""), membership=False)
        assert any(i.location == "SubmitObjectsRequest/id" for i in errors(sub))


class TestLimitedMetadata:
    @pytest.mark.parametrize(
        ("where", "scheme"),
        [
            ("document", ClassificationScheme.DE_LIMITED_METADATA),
            ("submission_set", ClassificationScheme.SS_LIMITED_METADATA),
            ("folder", ClassificationScheme.FOLDER_LIMITED_METADATA),
        ],
    )
    def test_refused(self, where: str, scheme: ClassificationScheme) -> None:
        flagged = ((scheme.value, code("", "")),)
        ss = submission_set()
        doc, fol = document(), folder()
        if where == "document":
            doc = dataclasses.replace(doc, other_classifications=flagged)
        elif where == "submission_set":
            ss = dataclasses.replace(ss, other_classifications=flagged)
        else:
            fol = dataclasses.replace(fol, other_classifications=flagged)
        sub = submission(doc, folders=(fol,), ss=ss)
        obj_id = {"document": "Document01", "submission_set": "SubmissionSet01", "folder": "Folder01"}[where]
        assert_refused(sub, META, f"{obj_id}/limitedMetadata")

    def test_other_classifications_are_kept_without_failure(self) -> None:
        doc = document(other_classifications=(("urn:uuid:00000000-1111-2222-3333-444444444444", code()),))
        assert_valid(submission(doc))


class TestUniqueIdsInMessage:
    def test_two_documents_with_one_unique_id(self) -> None:
        sub = submission(document("Doc1", unique_id="1.2.3"), document("Doc2", unique_id="1.2.3"))
        assert_refused(
            sub, ErrorCode.REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE, "Doc2/uniqueId", text="Doc1, Doc2"
        )

    def test_folder_reusing_the_submission_set_unique_id(self) -> None:
        ss = submission_set(unique_id="1.2.3")
        sub = submission(folders=(folder(unique_id="1.2.3"),), ss=ss)
        assert_refused(sub, ErrorCode.REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE, "Folder01/uniqueId")

    def test_repository_code_on_iti41(self) -> None:
        sub = submission(document("Doc1", unique_id="1.2.3"), document("Doc2", unique_id="1.2.3"))
        assert_refused(
            sub, ErrorCode.REPOSITORY_DUPLICATE_UNIQUE_ID_IN_MESSAGE, "Doc2/uniqueId", transaction="ITI-41"
        )

    def test_distinct_unique_ids_accepted(self) -> None:
        assert_valid(submission(document("Doc1"), document("Doc2")))


class TestExtraSlots:
    def test_unknown_slots_do_not_fail(self) -> None:
        extra = (Slot("urn:example:extra", ("a", "b")), Slot("urn:ihe:iti:something", ("x",)))
        sub = submission(document(extra_slots=extra), ss=submission_set(extra_slots=extra))
        assert_valid(sub)


class TestAllIssuesCollected:
    def test_several_problems_reported_together(self) -> None:
        doc = document(class_code=None, type_code=None, creation_time="yesterday", hash=None)
        locations = {i.location for i in errors(Submission(submission_sets=(), documents=(doc,)))}
        assert {
            "SubmitObjectsRequest/SubmissionSet",
            "Document01/classCode",
            "Document01/typeCode",
            "Document01/creationTime",
            "Document01/hash",
        } <= locations
