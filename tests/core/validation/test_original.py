"""validation.original: no Metadata Update construct (a foreign lid, PreviousVersion) outside ITI-57."""

from __future__ import annotations

import dataclasses

import pytest

from xds_server.core.errors import ErrorCode
from xds_server.core.metadata import Slot, Submission
from xds_server.core.vocabulary import SlotName

from ..builders import association, document, folder, member, submission, submission_set
from .helpers import assert_refused, assert_valid, errors

META = ErrorCode.REGISTRY_METADATA_ERROR
REGISTERED = "urn:uuid:5f0c1a4e-1111-4000-8000-000000000001"
PREVIOUS_VERSION = Slot(SlotName.PREVIOUS_VERSION.value, ("1",))


def with_previous_version(sub: Submission) -> Submission:
    first, *rest = sub.associations
    return dataclasses.replace(
        sub, associations=(dataclasses.replace(first, slots=(*first.slots, PREVIOUS_VERSION)), *rest)
    )


class TestLogicalId:
    @pytest.mark.parametrize("transaction", ["ITI-41", "ITI-42"])
    def test_document_with_the_lid_of_another_object(self, transaction: str) -> None:
        sub = submission(document(logical_id=REGISTERED))
        issue = assert_refused(sub, META, "Document01/lid", transaction=transaction, text="ITI-57")
        assert REGISTERED in issue.message

    def test_folder_with_the_lid_of_another_object(self) -> None:
        assert_refused(submission(folders=(folder(logical_id=REGISTERED),)), META, "Folder01/lid")

    def test_submission_set_with_the_lid_of_another_object(self) -> None:
        assert_refused(submission(ss=submission_set(logical_id=REGISTERED)), META, "SubmissionSet01/lid")

    def test_lid_equal_to_the_own_id_is_an_original(self) -> None:
        assert_valid(submission(document(logical_id="Document01"), folders=(folder(logical_id="Folder01"),)))

    def test_no_lid_is_an_original(self) -> None:
        assert_valid(submission(document(logical_id=None)))


class TestPreviousVersion:
    def test_has_member_with_previous_version(self) -> None:
        sub = with_previous_version(submission())
        assert_refused(sub, META, "SubmissionSet01->Document01/PreviousVersion", text="ITI-57")

    def test_association_without_id_is_named_by_position(self) -> None:
        link = dataclasses.replace(member("SubmissionSet01", "Document01"), entry_uuid="")
        sub = with_previous_version(dataclasses.replace(submission(membership=False), associations=(link,)))
        assert_refused(sub, META, "Association[1]/PreviousVersion")

    def test_relationship_with_previous_version(self) -> None:
        rplc = association(
            "Document01", REGISTERED, "urn:ihe:iti:2007:AssociationType:RPLC", entry_uuid="Rplc01"
        )
        sub = submission(associations=(dataclasses.replace(rplc, slots=(PREVIOUS_VERSION,)),))
        assert_refused(sub, META, "Rplc01/PreviousVersion")


class TestMetadataUpdateIsLeftToItsOwnChecks:
    def test_iti57_new_version_is_not_refused_here(self) -> None:
        sub = with_previous_version(submission(document(logical_id=REGISTERED)))
        locations = {i.location for i in errors(sub, transaction="ITI-57")}
        assert "Document01/lid" not in locations
        assert "SubmissionSet01->Document01/PreviousVersion" not in locations
