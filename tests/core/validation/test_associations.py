"""validation.associations: HasMember and document relationships without the registry."""

from __future__ import annotations

import dataclasses

import pytest

from xds_server.core.errors import ErrorCode
from xds_server.core.vocabulary import AssociationType

from ..builders import (
    APND,
    HAS_MEMBER,
    RPLC,
    SIGNS,
    XFRM,
    XFRM_RPLC,
    association,
    code,
    document,
    filed,
    folder,
    member,
    submission,
)
from .helpers import assert_refused, assert_valid

META = ErrorCode.REGISTRY_METADATA_ERROR
EXISTING = "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001"
EXISTING_FOLDER = "urn:uuid:ffffffff-0000-4000-8000-000000000001"


class TestSubmissionSetStatus:
    def test_original_for_a_new_document(self) -> None:
        assert_valid(submission())

    def test_missing_slot_refused(self) -> None:
        sub = submission(
            membership=False,
            associations=(member("SubmissionSet01", "Document01", status=None, entry_uuid="m"),),
        )
        assert_refused(sub, META, "m/SubmissionSetStatus", text="required")

    def test_reference_for_a_new_document_refused(self) -> None:
        sub = submission(
            membership=False, associations=(member("SubmissionSet01", "Document01", "Reference", "m"),)
        )
        assert_refused(sub, META, "m/SubmissionSetStatus", text="'Original'")

    def test_reference_to_an_existing_document_accepted(self) -> None:
        sub = submission(associations=(member("SubmissionSet01", EXISTING, "Reference", "ref"),))
        assert_valid(sub)

    def test_original_for_an_existing_document_refused(self) -> None:
        sub = submission(associations=(member("SubmissionSet01", EXISTING, "Original", "ref"),))
        assert_refused(sub, META, "ref/SubmissionSetStatus", text="'Reference'")

    def test_unknown_value_refused(self) -> None:
        sub = submission(
            membership=False, associations=(member("SubmissionSet01", "Document01", "Duplicate", "m"),)
        )
        assert_refused(sub, META, "m/SubmissionSetStatus")


class TestMembership:
    def test_document_not_in_the_submission_set(self) -> None:
        assert_refused(submission(membership=False), META, "Document01/HasMember")

    def test_folder_not_in_the_submission_set(self) -> None:
        sub = submission(folders=(folder(),))
        sub = dataclasses.replace(sub, associations=sub.associations[:1])
        assert_refused(sub, META, "Folder01/HasMember")

    def test_has_member_from_a_document_refused(self) -> None:
        sub = submission(
            document("D1"), document("D2"), associations=(association("D1", "D2", entry_uuid="x"),)
        )
        assert_refused(sub, META, "x/sourceObject")

    def test_submission_set_cannot_contain_itself(self) -> None:
        sub = submission(associations=(association("SubmissionSet01", "SubmissionSet01", entry_uuid="x"),))
        assert_refused(sub, META, "x/targetObject")


class TestFolderMembership:
    def test_new_document_in_new_folder(self) -> None:
        assert_valid(submission(folders=(folder(),), associations=filed("Folder01", "Document01")))

    def test_new_document_in_existing_folder(self) -> None:
        assert_valid(submission(associations=filed(EXISTING_FOLDER, "Document01")))

    def test_existing_document_in_existing_folder(self) -> None:
        sub = submission(associations=filed(EXISTING_FOLDER, EXISTING))
        assert_valid(sub)

    def test_folder_membership_needs_the_submission_set_association(self) -> None:
        link, _ = filed("Folder01", "Document01")
        sub = submission(folders=(folder(),), associations=(link,))
        assert_refused(sub, META, "FolderLink01/targetObject", text="SubmissionSet -> (this association)")

    def test_anonymous_folder_membership_cannot_be_filed(self) -> None:
        sub = submission(folders=(folder(),), associations=(association("Folder01", "Document01"),))
        assert_refused(sub, META, "Association[3]/targetObject")

    def test_folder_cannot_contain_a_folder(self) -> None:
        sub = submission(folders=(folder("F1"), folder("F2")), associations=filed("F1", "F2"))
        assert_refused(sub, META, "FolderLink01/targetObject", text="only have DocumentEntries")


class TestReferences:
    def test_symbolic_reference_to_nothing_refused(self) -> None:
        sub = submission(associations=(association("SubmissionSet01", "Nowhere", entry_uuid="x"),))
        assert_refused(sub, META, "x/targetObject", text="names no object")

    def test_missing_end_refused(self) -> None:
        sub = submission(associations=(association("", "Document01", entry_uuid="x"),))
        assert_refused(sub, META, "x/sourceObject", text="required")


class TestAssociationTypes:
    @pytest.mark.parametrize(
        "kind",
        [AssociationType.UPDATE_AVAILABILITY_STATUS.value, AssociationType.SUBMIT_ASSOCIATION.value],
    )
    def test_update_types_refused(self, kind: str) -> None:
        sub = submission(associations=(association("SubmissionSet01", "Document01", kind, "x"),))
        assert_refused(sub, META, "x/associationType", text="ITI-57")

    def test_unknown_type_refused(self) -> None:
        sub = submission(associations=(association("Document01", EXISTING, "urn:example:Likes", "x"),))
        assert_refused(sub, META, "x/associationType", text="unknown")


class TestRelationships:
    @pytest.mark.parametrize("kind", [RPLC, APND, XFRM, XFRM_RPLC, SIGNS])
    def test_new_document_to_existing_document(self, kind: str) -> None:
        assert_valid(submission(associations=(association("Document01", EXISTING, kind, "r"),)))

    def test_source_must_be_a_new_document(self) -> None:
        sub = submission(folders=(folder(),), associations=(association("Folder01", EXISTING, RPLC, "r"),))
        assert_refused(sub, META, "r/sourceObject", text="new DocumentEntry")

    def test_existing_source_refused(self) -> None:
        sub = submission(
            associations=(association(EXISTING, "urn:uuid:bbbbbbbb-0000-4000-8000-000000000001", APND, "r"),)
        )
        assert_refused(sub, META, "r/sourceObject")

    def test_target_in_the_submission_refused(self) -> None:
        sub = submission(document("D1"), document("D2"), associations=(association("D1", "D2", RPLC, "r"),))
        assert_refused(sub, META, "r/targetObject", text="existing DocumentEntry")

    def test_one_replacement_per_target(self) -> None:
        sub = submission(
            document("D1"),
            document("D2"),
            associations=(
                association("D1", EXISTING, RPLC, "r1"),
                association("D2", EXISTING, XFRM_RPLC, "r2"),
            ),
        )
        assert_refused(sub, META, f"{EXISTING}/targetObject", text="2 replacements")

    def test_replacement_and_addendum_of_one_target_accepted(self) -> None:
        sub = submission(
            document("D1"),
            document("D2"),
            associations=(association("D1", EXISTING, RPLC, "r1"), association("D2", EXISTING, APND, "r2")),
        )
        assert_valid(sub)


class TestAssociationDocumentation:
    @pytest.mark.parametrize("kind", [RPLC, APND, XFRM, XFRM_RPLC, SIGNS])
    def test_allowed_on_relationships(self, kind: str) -> None:
        reason = code("Additional_Information", "1.3.6.1.4.1.21367.2017.3")
        assert_valid(
            submission(associations=(association("Document01", EXISTING, kind, "r", documentation=reason),))
        )

    def test_refused_on_has_member(self) -> None:
        # NIST 12370 not_configured
        reason = code("Additional_Information", "1.3.6.1.4.1.21367.2017.3")
        ss_member = dataclasses.replace(
            member("SubmissionSet01", "Document01", entry_uuid="m"), documentation=reason
        )
        sub = submission(membership=False, associations=(ss_member,))
        assert_refused(sub, META, "m/associationDocumentation")
        assert ss_member.association_type == HAS_MEMBER
