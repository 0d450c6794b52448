"""core/submission.py step 0: the planner locks, before any read, the stored objects its associations name
and every uniqueId it submits (RegistryReader.lock; the races themselves: tests/storage/
test_concurrent_submissions.py)."""

from __future__ import annotations

import pytest

from tests.fakes import InMemoryRegistryStore, SequentialIds
from xds_server.core.errors import XdsError
from xds_server.core.ports import PatientState
from xds_server.core.profile import IHE_DEFAULT
from xds_server.core.submission import plan_registration

from .builders import (
    PATIENT,
    RPLC,
    association,
    document,
    filed,
    folder,
    new_uid,
    stored,
    submission,
    submission_set,
)

TARGET = "urn:uuid:d0000000-0000-4000-8000-00000000000a"
FOLDER = "urn:uuid:f0000000-0000-4000-8000-00000000000b"


def store() -> InMemoryRegistryStore:
    registry = InMemoryRegistryStore([(PATIENT, PatientState.ACTIVATED)])
    registry.put(stored(document(), TARGET), stored(folder(), FOLDER))
    return registry


class TestLocks:
    def test_stored_association_ends_and_every_unique_id_in_one_call(self) -> None:
        ss_uid, doc_uid, folder_uid = new_uid(), new_uid(), new_uid()
        sub = submission(
            document(unique_id=doc_uid),
            folders=(folder(unique_id=folder_uid),),
            ss=submission_set(unique_id=ss_uid),
            associations=(
                association("Document01", TARGET, RPLC, entry_uuid="Rplc01"),
                *filed(FOLDER, "Document01"),
            ),
        )
        registry = store()
        plan_registration(sub, profile=IHE_DEFAULT, reader=registry, ids=SequentialIds(), now="20260101")
        assert registry.locks == [
            (tuple(sorted([FOLDER, TARGET])), tuple(sorted([ss_uid, doc_uid, folder_uid])))
        ]

    def test_objects_of_the_message_are_not_locked(self) -> None:
        registry = store()
        plan_registration(
            submission(), profile=IHE_DEFAULT, reader=registry, ids=SequentialIds(), now="20260101"
        )
        ((entry_uuids, unique_ids),) = registry.locks
        assert entry_uuids == ()
        assert len(unique_ids) == 2  # the SubmissionSet and the DocumentEntry

    def test_locked_even_when_the_plan_fails(self) -> None:
        registry = InMemoryRegistryStore()  # unknown patient: XDSUnknownPatientId, after the lock
        with pytest.raises(XdsError):
            plan_registration(
                submission(), profile=IHE_DEFAULT, reader=registry, ids=SequentialIds(), now="2026"
            )
        assert len(registry.locks) == 1
