"""core/metadata_update.py, concurrency: the planner reads the latest versions, locks them with the stored
objects its associations name and the SubmissionSet uniqueId, then reads again (locking a version committed
meanwhile in turn). The races themselves, on the test database: tests/storage/test_concurrent_submissions.py
(TestConcurrentUpdateAndReplacement)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

import pytest

from tests.core.builders import PATIENT, document, new_uid, stored, submission_set
from tests.fakes import InMemoryRegistryStore, SequentialIds, summarise
from tests.update.registry import DEPRECATED, next_version, status_update, update_request
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.metadata import DocumentEntry, Submission
from xds_server.core.metadata_update import plan_update
from xds_server.core.ports import ObjectSummary, PatientState
from xds_server.core.profile import IHE_DEFAULT

V1 = "urn:uuid:d0000000-0000-4000-8000-000000000001"
V2 = "urn:uuid:d0000000-0000-4000-8000-000000000002"
OTHER = "urn:uuid:d0000000-0000-4000-8000-000000000003"


class VersionedFake(InMemoryRegistryStore):
    """The in-memory store plus ``latest_versions``; ``on_first_lock`` runs inside the first ``lock`` call,
    as a transaction that committed while this one waited for the lock would have."""

    def __init__(self) -> None:
        super().__init__([(PATIENT, PatientState.ACTIVATED)])
        self.on_first_lock: list[DocumentEntry] = []

    def latest_versions(self, logical_ids: Collection[str]) -> dict[str, ObjectSummary]:
        latest: dict[str, ObjectSummary] = {}
        for obj in self.objects.values():
            summary = summarise(obj)
            if summary.logical_id in logical_ids and (
                summary.logical_id not in latest or summary.version > latest[summary.logical_id].version
            ):
                latest[summary.logical_id] = summary
        return latest

    def lock(self, entry_uuids: Collection[str], unique_ids: Collection[str]) -> None:
        super().lock(entry_uuids, unique_ids)
        if len(self.locks) == 1:
            for obj in self.on_first_lock:
                self.put(obj)


def registry(doc: DocumentEntry) -> VersionedFake:
    fake = VersionedFake()
    fake.put(stored(doc, V1), stored(document(), OTHER))
    return fake


def rows_locked(fake: VersionedFake) -> list[tuple[str, ...]]:
    return [entry_uuids for entry_uuids, _ in fake.locks if entry_uuids]


def plan(sub: Submission, reader: VersionedFake) -> None:
    plan_update(sub, profile=IHE_DEFAULT, reader=reader, ids=SequentialIds(), now="20260101")


class TestUpdateLocks:
    def test_latest_versions_status_targets_and_submission_set_unique_id_in_one_call(self) -> None:
        doc = document()
        fake = registry(doc)
        ss = submission_set(unique_id=new_uid())
        plan(update_request(next_version(doc, V1), associations=(status_update(OTHER),), ss=ss), fake)
        # first: this planner's lock; then plan_registration's (the SubmissionSet uniqueId again: re-entrant)
        assert fake.locks[0] == (tuple(sorted([V1, OTHER])), (ss.unique_id,))
        assert rows_locked(fake) == [tuple(sorted([V1, OTHER]))]

    def test_a_version_committed_before_the_lock_is_locked_and_decides(self) -> None:
        doc = document()
        fake = registry(doc)
        # While this update waited for V1, another one made V2 (and deprecated V1).
        fake.on_first_lock = [
            dataclasses.replace(stored(doc, V1), status=DEPRECATED),
            dataclasses.replace(stored(doc, V2), logical_id=V1, version="2"),
        ]
        with pytest.raises(XdsError) as raised:
            plan(update_request(next_version(doc, V1), previous_version="1"), fake)
        assert [i.code for i in raised.value.issues] == [ErrorCode.METADATA_VERSION_ERROR]
        assert rows_locked(fake) == [(V1,), (V2,)]

    def test_the_status_read_after_the_lock_is_the_new_version_s_status(self) -> None:
        doc = document()
        fake = registry(doc)
        # While this update waited for V1, an RPLC deprecated it.
        fake.on_first_lock = [dataclasses.replace(stored(doc, V1), status=DEPRECATED)]
        result = plan_update(
            update_request(next_version(doc, V1)),
            profile=IHE_DEFAULT,
            reader=fake,
            ids=SequentialIds(),
            now="20260101",
        )
        (version_two,) = [o for o in result.objects if isinstance(o, DocumentEntry)]
        assert version_two.status == DEPRECATED and version_two.version == "2"
        assert result.status_changes == ()
        assert rows_locked(fake) == [(V1,)]  # V1 is still the latest: no second round

    def test_nothing_stored_to_lock_still_locks_the_submission_set_unique_id(self) -> None:
        fake = VersionedFake()
        ss = submission_set(unique_id=new_uid())
        with pytest.raises(XdsError):
            plan(Submission(submission_sets=(ss,), associations=(status_update(OTHER),)), fake)
        assert fake.locks[0] == ((OTHER,), (ss.unique_id,))
