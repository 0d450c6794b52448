"""Concurrent submissions about the same entry or uniqueId, as two real transactions (SqlRegistryStore.lock,
core/submission.py step 0); two ITI-57 updates of one lid (the later-version index); an ITI-57 update or
status update and an RPLC of one entry (core/metadata_update.py, concurrency); the Folder uniqueId index
(tables.py, migrations folder_unique_id and later_version_unique).

Each race: the first submission registers inside its transaction and holds it open; the second starts
meanwhile and must wait for it (PostgreSQL: the row / advisory locks of ``lock``; SQLite: BEGIN IMMEDIATE),
then decide on what the first committed. Without the locks, on PostgreSQL (READ COMMITTED) the second read
the entry still Approved and both replacements won. Runs on SQLite by default and on PostgreSQL with
XDS_DATABASE_URL; every wait is bounded.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from tests.core.builders import (
    APND,
    APPROVED,
    DEPRECATED,
    PATIENT,
    RPLC,
    association,
    document,
    filed,
    folder,
    new_uid,
    submission,
    submission_set,
)
from tests.fakes import FixedClock
from tests.update.registry import UAS, next_version, status_update, update_request
from xds_server.app import RandomIds
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.metadata import DocumentEntry, Slot, Submission
from xds_server.core.ports import PatientState
from xds_server.core.profile import IHE_DEFAULT
from xds_server.core.usecases.register import register_plan
from xds_server.core.usecases.update import update_plan
from xds_server.core.vocabulary import SlotName
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.registry import SqlRegistryStore
from xds_server.storage.tables import registry_object

from .builders import folder as stored_folder
from .builders import new_uuid, stub_xml

TIMEOUT = 20.0  # seconds: no step of a race may take longer
BLOCKED_AFTER = 1.0  # the second submission still running after this long is waiting for the first


@dataclass
class Outcome:
    final_ids: dict[str, str] = field(default_factory=dict)
    error: XdsError | None = None

    @property
    def codes(self) -> list[str]:
        return [] if self.error is None else [i.code.value for i in self.error.issues if i.is_error]


def _register(
    database: Database, sub: Submission, outcome: Outcome, hold: Callable[[], None] = lambda: None
) -> None:
    """ITI-42 (or, for a submission carrying new versions or status updates, ITI-57) in one transaction."""
    metadata_update = any(d.logical_id for d in sub.documents) or any(
        a.association_type == UAS for a in sub.associations
    )
    use_case = update_plan if metadata_update else register_plan
    try:
        with database.transaction() as connection:
            plan = use_case(
                sub,
                store=SqlRegistryStore(connection, stub_xml),
                profile=IHE_DEFAULT,
                clock=FixedClock(),
                ids=RandomIds(),
            )
            outcome.final_ids = dict(plan.id_map)
            hold()
    except XdsError as error:
        outcome.error = error


@dataclass(frozen=True)
class Race:
    first: Outcome
    second: Outcome
    second_waited: bool


def race(database: Database, first: Submission, second: Submission) -> Race:
    """``first`` registers and holds its transaction, ``second`` runs meanwhile, then ``first`` commits."""
    registered, release = threading.Event(), threading.Event()
    one, two = Outcome(), Outcome()

    def hold() -> None:
        registered.set()
        release.wait(TIMEOUT)

    a = threading.Thread(target=_register, args=(database, first, one, hold), daemon=True)
    b = threading.Thread(target=_register, args=(database, second, two), daemon=True)
    a.start()
    try:
        assert registered.wait(TIMEOUT) or one.error is not None, "the first submission never registered"
        assert one.error is None, one.codes
        b.start()
        b.join(BLOCKED_AFTER)
        waited = b.is_alive()
    finally:
        release.set()
    a.join(TIMEOUT)
    b.join(TIMEOUT)
    assert not a.is_alive() and not b.is_alive(), "a submission is still running"
    return Race(one, two, waited)


def committed(database: Database, sub: Submission) -> dict[str, str]:
    outcome = Outcome()
    _register(database, sub, outcome)
    assert outcome.error is None, outcome.codes
    return outcome.final_ids


def statuses(database: Database, *entry_uuids: str) -> list[str]:
    with database.transaction(readonly=True) as connection:
        found = dict(
            connection.execute(
                select(registry_object.c.entry_uuid, registry_object.c.status).where(
                    registry_object.c.entry_uuid.in_(entry_uuids)
                )
            ).all()
        )
    return [found[u] for u in entry_uuids]


@pytest.fixture(autouse=True)
def patient(database: Database) -> None:
    with database.transaction() as connection:
        SqlPatientDirectory(connection).add(PATIENT, PatientState.ACTIVATED)


@pytest.fixture
def original(database: Database) -> str:
    """A registered, Approved DocumentEntry (its entryUUID)."""
    return committed(database, submission(document()))["Document01"]


def successor(target: str, kind: str = RPLC, **changes: object) -> Submission:
    return submission(
        document(**changes), associations=(association("Document01", target, kind, entry_uuid="Link01"),)
    )


class TestConcurrentReplacements:
    def test_exactly_one_of_two_replacements_wins(self, database: Database, original: str) -> None:
        result = race(database, successor(original), successor(original))
        assert result.second_waited
        assert result.first.error is None
        assert result.second.codes == [ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR.value]
        winner = result.first.final_ids["Document01"]
        assert statuses(database, original, winner) == [DEPRECATED, APPROVED]

    def test_a_replacement_waits_for_an_addendum_and_deprecates_it(
        self, database: Database, original: str
    ) -> None:
        # Serial order: the addendum first, then the replacement deprecates it with its target (NIST 12022).
        result = race(database, successor(original, APND), successor(original))
        assert result.second_waited
        assert result.first.error is None and result.second.error is None, result.second.codes
        addendum, replacement = result.first.final_ids["Document01"], result.second.final_ids["Document01"]
        assert statuses(database, original, addendum, replacement) == [DEPRECATED, DEPRECATED, APPROVED]


class TestConcurrentUniqueIds:
    def test_one_folder_unique_id_registered_twice(self, database: Database) -> None:
        uid = new_uid()

        def with_folder() -> Submission:
            return submission(
                document(), folders=(folder(unique_id=uid),), associations=filed("Folder01", "Document01")
            )

        result = race(database, with_folder(), with_folder())
        assert result.second_waited
        assert result.first.error is None
        assert result.second.codes == [ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY.value]

    def test_one_document_unique_id_with_two_hashes(self, database: Database) -> None:
        uid = new_uid()
        other_hash = "0" * 40
        result = race(
            database,
            submission(document(unique_id=uid)),
            submission(document(unique_id=uid, hash=other_hash)),
        )
        assert result.second_waited
        assert result.first.error is None
        assert result.second.codes == [ErrorCode.NON_IDENTICAL_HASH.value]

    def test_one_submission_set_unique_id_twice(self, database: Database) -> None:
        first = submission()
        second = dataclasses.replace(
            submission(),
            submission_sets=(
                dataclasses.replace(
                    submission().submission_sets[0], unique_id=first.submission_sets[0].unique_id
                ),
            ),
        )
        result = race(database, first, second)
        assert result.first.error is None
        assert result.second.codes == [ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY.value]


class TestConcurrentUpdates:
    def test_two_new_versions_of_one_lid(self, database: Database) -> None:
        uid = new_uid()
        original = committed(database, submission(document(unique_id=uid)))["Document01"]

        def new_version() -> Submission:
            member = association(
                "SubmissionSet01",
                "Document02",
                entry_uuid="SubmissionSet01->Document02",
                slots=(
                    Slot(SlotName.SUBMISSION_SET_STATUS.value, ("Original",)),
                    Slot(SlotName.PREVIOUS_VERSION.value, ("1",)),
                ),
            )
            return Submission(
                submission_sets=(submission_set(),),
                documents=(document("Document02", unique_id=uid, logical_id=original),),
                associations=(member,),
            )

        result = race(database, new_version(), new_version())
        assert result.second_waited
        assert result.first.error is None
        assert result.second.codes == [ErrorCode.METADATA_VERSION_ERROR.value]
        version_two = result.first.final_ids["Document02"]
        assert statuses(database, original, version_two) == [DEPRECATED, APPROVED]


class TestConcurrentUpdateAndReplacement:
    """ITI-57 and an RPLC of the same entry: serialised, in either order. Without the ITI-57 locks, on
    PostgreSQL, an update racing a replacement gave its new version the Approved status it had read: two
    Approved successors of one document."""

    @pytest.fixture
    def registered(self, database: Database) -> tuple[DocumentEntry, str]:
        doc = document()
        return doc, committed(database, submission(doc))["Document01"]

    def test_an_update_after_a_replacement_makes_a_deprecated_version(
        self, database: Database, registered: tuple[DocumentEntry, str]
    ) -> None:
        doc, original = registered
        result = race(database, successor(original), update_request(next_version(doc, original)))
        assert result.second_waited
        assert result.first.error is None and result.second.error is None, result.second.codes
        replacement = result.first.final_ids["Document01"]
        version_two = result.second.final_ids["Document01"]
        # Serial order: the update of the (now Deprecated) latest version gives its status to version 2.
        assert statuses(database, original, replacement, version_two) == [DEPRECATED, APPROVED, DEPRECATED]

    def test_a_replacement_after_an_update_is_refused(
        self, database: Database, registered: tuple[DocumentEntry, str]
    ) -> None:
        doc, original = registered
        result = race(database, update_request(next_version(doc, original)), successor(original))
        assert result.second_waited
        assert result.first.error is None
        assert result.second.codes == [ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR.value]
        version_two = result.first.final_ids["Document01"]
        assert statuses(database, original, version_two) == [DEPRECATED, APPROVED]

    def test_a_status_update_after_a_replacement_sees_the_new_status(
        self, database: Database, registered: tuple[DocumentEntry, str]
    ) -> None:
        _, original = registered
        deprecate = Submission(
            submission_sets=(submission_set(),), associations=(status_update(original, APPROVED, DEPRECATED),)
        )
        result = race(database, successor(original), deprecate)
        assert result.second_waited
        assert result.first.error is None
        assert result.second.codes == [ErrorCode.METADATA_UPDATE_ERROR.value]  # OriginalStatus is stale
        assert statuses(database, original, result.first.final_ids["Document01"]) == [DEPRECATED, APPROVED]


class TestLaterVersionIndex:
    def test_one_version_written_twice(self, database: Database) -> None:
        one = stored_folder()

        def version_two() -> object:
            return dataclasses.replace(
                stored_folder(unique_id=one.unique_id),
                entry_uuid=new_uuid(),
                logical_id=one.entry_uuid,
                version="2",
            )

        with database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([one, version_two()])  # type: ignore[list-item]
        with pytest.raises(XdsError) as raised, database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([version_two()])  # type: ignore[list-item]
        (issue,) = raised.value.issues
        assert issue.code is ErrorCode.METADATA_VERSION_ERROR

    def test_a_reused_entry_uuid_is_still_a_metadata_error(self, database: Database) -> None:
        one = stored_folder()
        with database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([one])
        with pytest.raises(XdsError) as raised, database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([stored_folder(entry_uuid=one.entry_uuid)])
        assert [i.code for i in raised.value.issues] == [ErrorCode.REGISTRY_METADATA_ERROR]


class TestFolderUniqueIdIndex:
    """The database's own guarantee, below the planner: rows written directly."""

    def test_two_first_versions_with_one_unique_id(self, database: Database) -> None:
        one = stored_folder()
        two = stored_folder(unique_id=one.unique_id)
        with database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([one])
        with pytest.raises(XdsError) as raised, database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([two])
        (issue,) = raised.value.issues
        assert issue.code is ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY
        assert issue.location == "Folder.uniqueId"

    def test_later_versions_share_the_unique_id(self, database: Database) -> None:
        one = stored_folder()
        two = dataclasses.replace(
            stored_folder(unique_id=one.unique_id),
            entry_uuid=new_uuid(),
            logical_id=one.entry_uuid,
            version="2",
        )
        with database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([one, two])
