"""Merging patients (core.patient_feed.merge_patients on storage.feed.SqlPatientFeed) against a migrated
database (SQLite; PostgreSQL when XDS_DATABASE_URL is set): documents, SubmissionSets and Folders move (rows
and stored ebRIM), the old id stops naming a patient, the record settings combine, and a merge racing a
submission for the subsumed id loses nothing."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import select

from tests.core.builders import document, filed, folder, submission, submission_set
from tests.fakes import FixedClock
from tests.feed.messages import DMP_NIA, DMP_NIR, INS, NIA, NIA_OID, NIR_OID, adt, ihe_pid, msa
from xds_server.app import RandomIds, feed_service
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.metadata import Submission
from xds_server.core.patient_feed import FedPatient, FeedOutcome, merge_patients, register_patient
from xds_server.core.ports import PatientState
from xds_server.core.profile import IHE_DEFAULT
from xds_server.core.usecases.register import register_plan
from xds_server.ebxml.codec import decode_object_xml, encode_object_xml, with_patient_id
from xds_server.storage import tables
from xds_server.storage.database import Database
from xds_server.storage.feed import SqlPatientFeed
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore
from xds_server.storage.registry import SqlRegistryStore
from xds_server.terminology import load_profile

OLD, NEW = ihe_pid("OLD"), ihe_pid("NEW")
TODAY = date(2026, 12, 7)
TIMEOUT = 20.0
BLOCKED_AFTER = 1.0  # still running after this long: waiting for the other transaction


def feed(database: Database, *patients: str) -> None:
    with database.transaction() as connection:
        store = SqlPatientFeed(connection, with_patient_id)
        for pid in patients:
            register_patient(store, FedPatient(pid))


def merge(database: Database, survivor: str = NEW, subsumed: str = OLD) -> int:
    with database.transaction() as connection:
        return merge_patients(
            SqlPatientFeed(connection, with_patient_id), FedPatient(survivor), subsumed
        ).moved


def record_of(patient: str, with_folder: bool = True) -> Submission:
    """A SubmissionSet, a DocumentEntry and (optionally) a Folder holding it, for ``patient``."""
    ss = submission_set(patient_id=patient)
    doc = document(patient_id=patient)
    if not with_folder:
        return submission(doc, ss=ss)
    return submission(
        doc, ss=ss, folders=(folder(patient_id=patient),), associations=filed("Folder01", "Document01")
    )


def register(database: Database, sub: Submission, hold: Callable[[], None] = lambda: None) -> dict[str, str]:
    with database.transaction() as connection:
        plan = register_plan(
            sub,
            store=SqlRegistryStore(connection, encode_object_xml),
            profile=IHE_DEFAULT,
            clock=FixedClock(),
            ids=RandomIds(),
        )
        hold()
    return dict(plan.id_map)


def rows(database: Database) -> list[tuple[str, str, str | None, str]]:
    """(entry uuid, kind, patient column, patient in the stored XML) of every non-association object."""
    ro = tables.registry_object.c
    with database.transaction(readonly=True) as connection:
        found = connection.execute(
            select(ro.entry_uuid, ro.kind, ro.patient_id, ro.xml).where(ro.kind != "Association")
        )
        return [
            (r.entry_uuid, r.kind, r.patient_id, decode_object_xml(r.xml).patient_id or "") for r in found
        ]


def kind_table_patients(database: Database) -> set[str]:
    with database.transaction(readonly=True) as connection:
        return {
            p
            for table in (tables.document_entry, tables.submission_set, tables.folder)
            for p in connection.execute(select(table.c.patient_id)).scalars()
        }


class TestMergeMovesTheRecord:
    def test_documents_submission_sets_and_folders_move(self, database: Database) -> None:
        feed(database, OLD, NEW)
        register(database, record_of(OLD))
        register(database, record_of(NEW, with_folder=False))
        before = {r[0]: r for r in rows(database)}
        assert merge(database) == 3  # SubmissionSet, DocumentEntry, Folder of OLD
        after = rows(database)
        assert {r[1] for r in after if before[r[0]][2] == OLD} == {"SubmissionSet", "DocumentEntry", "Folder"}
        assert all(patient == NEW and in_xml == NEW for _, _, patient, in_xml in after)
        assert kind_table_patients(database) == {NEW}

    def test_only_the_patient_id_of_the_stored_xml_changes(self, database: Database) -> None:
        feed(database, OLD, NEW)
        register(database, record_of(OLD))
        ro = tables.registry_object.c
        with database.transaction(readonly=True) as connection:
            before = dict(
                connection.execute(select(ro.entry_uuid, ro.xml).where(ro.kind != "Association")).all()
            )
        merge(database)
        with database.transaction(readonly=True) as connection:
            after = dict(
                connection.execute(select(ro.entry_uuid, ro.xml).where(ro.kind != "Association")).all()
            )
        for uuid, xml in after.items():
            assert xml != before[uuid]
            moved = decode_object_xml(xml)
            assert moved == dataclasses.replace(decode_object_xml(before[uuid]), patient_id=NEW)

    def test_the_old_id_is_unknown_afterwards(self, database: Database) -> None:
        feed(database, OLD, NEW)
        merge(database)
        with database.transaction(readonly=True) as connection:
            assert SqlRegistryStore(connection, encode_object_xml).patient_state(OLD) is None
            assert SqlRecordStore(connection).load(OLD, TODAY) is None
        with pytest.raises(XdsError) as refused:
            register(database, record_of(OLD))
        assert [i.code for i in refused.value.issues] == [ErrorCode.UNKNOWN_PATIENT_ID]

    def test_merging_again_is_harmless_and_a_dead_survivor_is_refused(self, database: Database) -> None:
        feed(database, OLD, NEW)
        merge(database)
        assert merge(database) == 0
        with pytest.raises(Exception, match="merged"):
            merge(database, survivor=OLD, subsumed=ihe_pid("THIRD"))

    def test_a_chain_of_merges_points_at_the_last_survivor(self, database: Database) -> None:
        last = ihe_pid("LAST")
        feed(database, OLD, NEW, last)
        register(database, record_of(OLD))
        merge(database)
        merge(database, survivor=last, subsumed=NEW)
        with database.transaction(readonly=True) as connection:
            store = SqlPatientFeed(connection, with_patient_id)
            assert [store.get(p).merged_into for p in (OLD, NEW)] == [last, last]  # type: ignore[union-attr]
        assert {p for _, _, p, _ in rows(database)} == {last}

    def test_an_unknown_subsumed_id_is_recorded_and_an_unknown_survivor_created(
        self, database: Database
    ) -> None:
        with database.transaction() as connection:
            result = merge_patients(SqlPatientFeed(connection, with_patient_id), FedPatient(NEW), OLD)
        assert result.outcome is FeedOutcome.MERGED
        with database.transaction(readonly=True) as connection:
            store = SqlPatientFeed(connection, with_patient_id)
            assert store.get(NEW).merged_into is None  # type: ignore[union-attr]
            assert store.get(OLD).merged_into == NEW  # type: ignore[union-attr]

    def test_cross_references_follow_the_survivor(self, database: Database) -> None:
        with database.transaction() as connection:
            store = SqlPatientFeed(connection, with_patient_id)
            register_patient(store, FedPatient(OLD, ("IPP-OLD^^^HOSP",)))
            register_patient(store, FedPatient(NEW, ("IPP-NEW^^^HOSP",)))
            merge_patients(store, FedPatient(NEW), OLD)
        with database.transaction(readonly=True) as connection:
            store = SqlPatientFeed(connection, with_patient_id)
            assert store.get(NEW).cross_references == ("IPP-NEW^^^HOSP", "IPP-OLD^^^HOSP")  # type: ignore[union-attr]
            assert store.get(OLD).cross_references == ()  # type: ignore[union-attr]


class TestMergeCombinesSettings:
    def test_the_most_protective_value_wins(self, database: Database) -> None:
        child = ihe_pid("CHILD")
        feed(database, OLD, NEW, child)
        with database.transaction() as connection:
            records = SqlRecordStore(connection)
            # the temporary record: consent to two doctors, one blocked, SAMU refused, a médecin traitant
            records.authorize(OLD, "DR-A")
            records.authorize(OLD, "DR-B")
            records.block(OLD, "DR-X")
            records.set_settings(OLD, samu=False, medecin_traitant="DR-MT", administrator="DR-ADM")
            # the surviving record: consent to DR-B only, break-glass refused, the same médecin traitant
            records.authorize(NEW, "DR-B")
            records.set_settings(NEW, break_glass=False, medecin_traitant="DR-MT")
            # OLD is the legal representative of a child: the link follows the person
            records.add_representative(child, OLD)
            # the temporary record was opposed, and knew the birth date
            SqlPatientDirectory(connection).add(OLD, PatientState.OPPOSED, birth_date=date(2015, 1, 1))
        merge(database)
        with database.transaction(readonly=True) as connection:
            records = SqlRecordStore(connection)
            merged = records.load(NEW, TODAY)
            assert records.load(OLD, TODAY) is None
            assert records.load(child, TODAY).legal_representatives == frozenset({NEW})  # type: ignore[union-attr]
        assert merged is not None
        assert merged.state is PatientState.OPPOSED
        assert merged.authorised == frozenset({"DR-B"})
        assert merged.blocked == frozenset({"DR-X"})
        assert (merged.samu_allowed, merged.break_glass_allowed) == (False, False)
        assert merged.medecin_traitant == "DR-MT"
        assert merged.administrators == frozenset()
        assert merged.birth_date == date(2015, 1, 1) and merged.minor


class TestMergeViaTheFeedService:
    def test_an_a40_applies_in_one_transaction(self, database: Database) -> None:
        service = feed_service(database, IHE_DEFAULT)
        assert msa(service.handle(adt("A01", OLD)))[1] == "AA"
        register(database, record_of(OLD))
        assert msa(service.handle(adt("A40", NEW, mrg=OLD)))[1] == "AA"
        assert {p for _, _, p, _ in rows(database)} == {NEW}


class TestMergeRacingASubmission:
    """A merge and an ITI-42 for the subsumed id, as two real transactions: one waits for the other."""

    def _race(
        self, database: Database, first: Callable[[Callable[[], None]], object], second: Callable[[], object]
    ):
        started, release = threading.Event(), threading.Event()
        results: dict[str, object] = {}

        def hold() -> None:
            started.set()
            release.wait(TIMEOUT)

        def run(name: str, call: Callable[[], object]) -> None:
            try:
                results[name] = call()
            except Exception as error:  # reported through results
                results[name] = error

        a = threading.Thread(target=run, args=("first", lambda: first(hold)), daemon=True)
        b = threading.Thread(target=run, args=("second", second), daemon=True)
        a.start()
        try:
            assert started.wait(TIMEOUT), results
            b.start()
            b.join(BLOCKED_AFTER)
            waited = b.is_alive()
        finally:
            release.set()
        a.join(TIMEOUT)
        b.join(TIMEOUT)
        assert not a.is_alive() and not b.is_alive()
        return waited, results["first"], results["second"]

    def test_a_submission_first_then_the_merge_moves_its_documents(self, database: Database) -> None:
        feed(database, OLD, NEW)
        waited, submitted, moved = self._race(
            database, lambda hold: register(database, record_of(OLD), hold), lambda: merge(database)
        )
        assert waited
        assert isinstance(submitted, dict) and moved == 3
        assert {p for _, _, p, _ in rows(database)} == {NEW}
        assert len(rows(database)) == 3

    def test_the_merge_first_then_the_submission_is_refused(self, database: Database) -> None:
        feed(database, OLD, NEW)

        def merge_and_hold(hold: Callable[[], None]) -> int:
            with database.transaction() as connection:
                moved = merge_patients(
                    SqlPatientFeed(connection, with_patient_id), FedPatient(NEW), OLD
                ).moved
                hold()
            return moved

        waited, moved, submitted = self._race(
            database, merge_and_hold, lambda: register(database, record_of(OLD))
        )
        assert waited
        assert moved == 0
        assert isinstance(submitted, XdsError)
        assert [i.code for i in submitted.issues] == [ErrorCode.UNKNOWN_PATIENT_ID]
        assert rows(database) == []


class TestDmpTemporaryInsMergedIntoTheNir:
    def test_nia_record_merged_into_the_nir(self, database: Database) -> None:
        service = feed_service(database, load_profile("dmp"))
        nia, nir = f"{NIA}^^^&{NIA_OID}&ISO^INS", f"{INS}^^^&{NIR_OID}&ISO^INS"
        assert msa(service.handle(adt("A01", f"{nia}~IPP7^^^HOSP^PI")))[1] == "AA"
        register(database, record_of(DMP_NIA))
        answer = service.handle(adt("A40", f"{nir}~{nia}~IPP7^^^HOSP^PI", mrg=nia))
        assert msa(answer)[1] == "AA", answer
        assert {p for _, _, p, _ in rows(database)} == {DMP_NIR}
        with database.transaction(readonly=True) as connection:
            store = SqlPatientFeed(connection, with_patient_id)
            assert store.get(DMP_NIA).merged_into == DMP_NIR  # type: ignore[union-attr]
            assert "IPP7^^^HOSP^PI" in store.get(DMP_NIR).cross_references  # type: ignore[union-attr]


class TestStoredXmlRewrite:
    def test_equal_to_encoding_the_object_with_the_new_id(self) -> None:
        for obj in (
            document(patient_id=OLD, entry_uuid="urn:uuid:7ed4d57b-1e2f-4b89-814c-343c1027c4d1"),
            submission_set(patient_id=OLD, entry_uuid="urn:uuid:7ed4d57b-1e2f-4b89-814c-343c1027c4d2"),
            folder(patient_id=OLD, entry_uuid="urn:uuid:7ed4d57b-1e2f-4b89-814c-343c1027c4d3"),
        ):
            expected = encode_object_xml(dataclasses.replace(obj, patient_id=NEW))
            assert with_patient_id(encode_object_xml(obj), NEW) == expected

    def test_source_patient_id_stays(self) -> None:
        doc = document(
            patient_id=OLD, source_patient_id=OLD, entry_uuid="urn:uuid:7ed4d57b-1e2f-4b89-814c-343c1027c4d4"
        )
        moved = decode_object_xml(with_patient_id(encode_object_xml(doc), NEW))
        assert (moved.patient_id, moved.source_patient_id) == (NEW, OLD)  # type: ignore[union-attr]
