"""SqlRegistryStore against a migrated database (SQLite, or PostgreSQL when XDS_DATABASE_URL is set)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Table, select

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.metadata import AnyObject, Author, Code
from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import AssociationType, Status
from xds_server.storage import tables
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.registry import SqlRegistryStore

from .builders import PATIENT, association, document, folder, stub_xml, submission_set

APPROVED = Status.APPROVED.value
DEPRECATED = Status.DEPRECATED.value


@pytest.fixture
def connection(database: Database) -> Iterator[Connection]:
    with database.transaction() as connection:
        yield connection


@pytest.fixture
def store(connection: Connection) -> SqlRegistryStore:
    return SqlRegistryStore(connection, stub_xml)


def rows(connection: Connection, table: Table) -> list[dict[str, object]]:
    return [dict(row._mapping) for row in connection.execute(select(table))]


def a_submission() -> list[AnyObject]:
    ss = submission_set()
    de = document()
    fd = folder()
    return [
        ss,
        de,
        fd,
        association(ss.entry_uuid, de.entry_uuid),
        association(ss.entry_uuid, fd.entry_uuid),
        association(fd.entry_uuid, de.entry_uuid),
    ]


class TestAddObjectsRoundTrip:
    def test_summaries_of_every_kind(self, store: SqlRegistryStore) -> None:
        ss, de, fd, a1, *_ = objects = a_submission()
        store.add_objects(objects)
        found = store.summaries([o.entry_uuid for o in objects])
        assert set(found) == {o.entry_uuid for o in objects}
        assert found[de.entry_uuid].kind == "DocumentEntry"
        assert found[ss.entry_uuid].kind == "SubmissionSet"
        assert found[fd.entry_uuid].kind == "Folder"
        assert found[de.entry_uuid].patient_id == PATIENT
        assert found[de.entry_uuid].unique_id == de.unique_id  # type: ignore[union-attr]
        assert found[de.entry_uuid].status == APPROVED
        summary = found[a1.entry_uuid]
        assert (summary.kind, summary.patient_id, summary.unique_id) == ("Association", None, None)
        assert (summary.association_type, summary.source, summary.target) == (
            AssociationType.HAS_MEMBER.value,
            ss.entry_uuid,
            de.entry_uuid,
        )
        assert found[de.entry_uuid].association_type is None

    def test_logical_id_and_version_default_to_entry_uuid_and_1(self, store: SqlRegistryStore) -> None:
        de = document()
        store.add_objects([de])
        summary = store.summaries([de.entry_uuid])[de.entry_uuid]
        assert (summary.logical_id, summary.version) == (de.entry_uuid, 1)

    def test_explicit_logical_id_and_version_are_kept(self, store: SqlRegistryStore) -> None:
        first = document()
        second = document(logical_id=first.entry_uuid, version="2", unique_id=first.unique_id)
        store.add_objects([first])
        store.add_objects([second])
        summary = store.summaries([second.entry_uuid])[second.entry_uuid]
        assert (summary.logical_id, summary.version) == (first.entry_uuid, 2)

    def test_missing_status_means_approved(self, store: SqlRegistryStore) -> None:
        de = document(status=None)
        store.add_objects([de])
        assert store.summaries([de.entry_uuid])[de.entry_uuid].status == APPROVED

    def test_xml_comes_from_the_encoder(self, store: SqlRegistryStore) -> None:
        objects = a_submission()
        store.add_objects(objects)
        assert store.xml_of([o.entry_uuid for o in objects]) == {o.entry_uuid: stub_xml(o) for o in objects}

    def test_unknown_ids_are_absent(self, store: SqlRegistryStore) -> None:
        assert store.summaries(["urn:uuid:nothing"]) == {}
        assert store.xml_of(["urn:uuid:nothing"]) == {}
        assert store.xml_records(["urn:uuid:nothing"]) == []

    def test_empty_batch_and_empty_lookups(self, store: SqlRegistryStore, connection: Connection) -> None:
        store.add_objects([])
        assert rows(connection, tables.registry_object) == []
        assert store.summaries([]) == {}
        assert store.documents_by_unique_id([]) == []
        assert store.package_unique_ids_in_use([]) == set()
        assert store.associations_touching([]) == []

    def test_more_ids_than_one_in_list_holds(self, store: SqlRegistryStore) -> None:
        documents = [document() for _ in range(1203)]
        store.add_objects(documents)
        ids = [d.entry_uuid for d in documents]
        assert set(store.summaries(ids)) == set(ids)
        assert list(store.xml_of(ids)) == ids
        unique_ids = [d.unique_id for d in documents if d.unique_id]
        assert len(store.documents_by_unique_id(unique_ids)) == 1203

    def test_xml_records_carry_authoritative_status_and_folder_time(self, store: SqlRegistryStore) -> None:
        de, fd = document(), folder(last_update_time="2024")
        store.add_objects([de, fd])
        store.set_status([de.entry_uuid], DEPRECATED)
        store.touch_folders([fd.entry_uuid], "20250101120000")
        records = {r.entry_uuid: r for r in store.xml_records([de.entry_uuid, fd.entry_uuid])}
        assert (records[de.entry_uuid].status, records[de.entry_uuid].xml) == (DEPRECATED, stub_xml(de))
        assert records[de.entry_uuid].last_update_time is None
        assert (records[fd.entry_uuid].kind, records[fd.entry_uuid].last_update_time) == (
            "Folder",
            "20250101120000",
        )


class TestIndexedColumns:
    def test_document_entry_columns(self, store: SqlRegistryStore, connection: Connection) -> None:
        de = document(creation_time="20240102", service_stop_time="not a DTM")
        store.add_objects([de])
        (row,) = rows(connection, tables.document_entry)
        assert row["class_code"] == "10^^1.2.250.1.213.1.1.4.1"
        assert row["type_code"] == "11488-4^^2.16.840.1.113883.6.1"
        assert row["format_code"] == "urn:ihe:iti:xds:2017:mimeTypeSufficient^^1.3.6.1.4.1.19376.1.2.3"
        assert row["practice_setting_code"] == "AMBULATOIRE^^1.2.250.1.213.1.1.4.9"
        assert row["healthcare_facility_type_code"] == "SA01^^1.2.250.1.71.4.2.4"
        assert row["creation_time"] == "20240102000000"
        assert row["service_start_time"] == "20240102103000"
        assert row["service_stop_time"] is None
        assert row["size"] == 1024
        assert row["hash"] == de.hash
        assert row["object_type"] == de.object_type
        assert row["mime_type"] == "text/plain"
        assert row["logical_id"] == de.entry_uuid

    def test_non_numeric_size_is_not_indexed(self, store: SqlRegistryStore, connection: Connection) -> None:
        store.add_objects([document(size="12kB")])
        (row,) = rows(connection, tables.document_entry)
        assert row["size"] is None

    def test_side_tables_of_a_document(self, store: SqlRegistryStore, connection: Connection) -> None:
        de = document(
            event_codes=(Code("E1", "1.2.3"), Code("E1", "1.2.3", "same code twice"), Code("E2", "1.2.3")),
            authors=(Author(person="^A^B"), Author(person=None, institutions=("X",)), Author(person="^A^B")),
            reference_ids=("r1", "r2", "r1"),
        )
        store.add_objects([de])
        codes = {(r["attribute"], r["code_key"]) for r in rows(connection, tables.document_code)}
        assert codes == {
            ("event", "E1^^1.2.3"),
            ("event", "E2^^1.2.3"),
            ("confidentiality", "N^^2.16.840.1.113883.5.25"),
        }
        assert [r["person"] for r in rows(connection, tables.author_person)] == ["^A^B"]
        assert {r["value"] for r in rows(connection, tables.reference_id)} == {"r1", "r2"}

    def test_submission_set_and_folder_columns(self, store: SqlRegistryStore, connection: Connection) -> None:
        ss = submission_set(submission_time="202401021030")
        fd = folder(codes=(Code("F1", "1.2.7"), Code("F2", "1.2.7")), last_update_time="20240102")
        store.add_objects([ss, fd])
        (ss_row,) = rows(connection, tables.submission_set)
        assert ss_row["unique_id"] == ss.unique_id
        assert ss_row["source_id"] == "1.2.5"
        assert ss_row["submission_time"] == "20240102103000"
        assert ss_row["content_type_code"] == "04^^1.2.250.1.213.1.1.4.12"
        assert [r["person"] for r in rows(connection, tables.author_person)] == ["^Dupont^Jean"]
        (fd_row,) = rows(connection, tables.folder)
        assert (fd_row["unique_id"], fd_row["last_update_time"]) == (fd.unique_id, "20240102000000")
        assert {r["code_key"] for r in rows(connection, tables.folder_code)} == {"F1^^1.2.7", "F2^^1.2.7"}


class TestInsertionOrder:
    def test_seq_follows_object_order_across_batches(
        self, store: SqlRegistryStore, connection: Connection
    ) -> None:
        first, second = a_submission(), a_submission()
        store.add_objects(first)
        store.add_objects(second)
        ordered = connection.execute(
            select(tables.registry_object.c.entry_uuid).order_by(tables.registry_object.c.seq)
        ).scalars()
        assert list(ordered) == [o.entry_uuid for o in [*first, *second]]

    def test_xml_of_returns_insertion_order(self, store: SqlRegistryStore) -> None:
        objects = a_submission()
        store.add_objects(objects)
        reversed_ids = [o.entry_uuid for o in reversed(objects)]
        assert list(store.xml_of(reversed_ids)) == [o.entry_uuid for o in objects]


class TestSetStatus:
    def test_updates_object_and_kind_tables(self, store: SqlRegistryStore, connection: Connection) -> None:
        _, de, fd, a1, *_ = objects = a_submission()
        store.add_objects(objects)
        store.set_status([de.entry_uuid, fd.entry_uuid, a1.entry_uuid, "urn:uuid:unknown"], DEPRECATED)
        found = store.summaries([o.entry_uuid for o in objects])
        changed = {de.entry_uuid, fd.entry_uuid, a1.entry_uuid}
        assert {u for u, s in found.items() if s.status == DEPRECATED} == changed
        for table in (tables.document_entry, tables.folder, tables.association, tables.submission_set):
            for row in rows(connection, table):
                assert row["status"] == (DEPRECATED if row["entry_uuid"] in changed else APPROVED)

    def test_nothing_to_do(self, store: SqlRegistryStore) -> None:
        store.set_status([], DEPRECATED)
        store.touch_folders([], "2024")


class TestTouchFolders:
    def test_sets_normalised_last_update_time(self, store: SqlRegistryStore, connection: Connection) -> None:
        kept, touched = folder(), folder()
        store.add_objects([kept, touched])
        store.touch_folders([touched.entry_uuid], "202501011200")
        times = {r["entry_uuid"]: r["last_update_time"] for r in rows(connection, tables.folder)}
        assert times == {kept.entry_uuid: "20240102103000", touched.entry_uuid: "20250101120000"}


class TestReaders:
    def test_documents_by_unique_id_includes_deprecated(self, store: SqlRegistryStore) -> None:
        old = document()
        new = document(unique_id=old.unique_id, logical_id=old.entry_uuid, version="2", size=None)
        other = document()
        store.add_objects([old, new, other])
        store.set_status([old.entry_uuid], DEPRECATED)
        found = store.documents_by_unique_id([old.unique_id or ""])
        assert {(d.entry_uuid, d.unique_id, d.hash, d.size) for d in found} == {
            (old.entry_uuid, old.unique_id, old.hash, "1024"),
            (new.entry_uuid, old.unique_id, new.hash, None),
        }

    def test_package_unique_ids_in_use(self, store: SqlRegistryStore) -> None:
        ss, de, fd = submission_set(), document(), folder()
        store.add_objects([ss, de, fd])
        asked = {ss.unique_id or "", fd.unique_id or "", de.unique_id or "", "1.2.3.unknown"}
        assert store.package_unique_ids_in_use(asked) == {ss.unique_id, fd.unique_id}

    def test_associations_touching_source_or_target(self, store: SqlRegistryStore) -> None:
        _, de, fd, ss_de, ss_fd, fd_de = objects = a_submission()
        replacement = document()
        rplc = association(replacement.entry_uuid, de.entry_uuid, AssociationType.REPLACE.value)
        store.add_objects([*objects, replacement, rplc])
        touching_de = store.associations_touching([de.entry_uuid])
        assert [a.entry_uuid for a in touching_de] == [ss_de.entry_uuid, fd_de.entry_uuid, rplc.entry_uuid]
        assert all(a.kind == "Association" and a.patient_id is None for a in touching_de)
        both = store.associations_touching([de.entry_uuid, fd.entry_uuid])
        expected = [ss_de, ss_fd, fd_de, rplc]
        assert [a.entry_uuid for a in both] == [a.entry_uuid for a in expected]

    def test_associations_touching_by_type(self, store: SqlRegistryStore) -> None:
        _, de, _, _, _, _ = objects = a_submission()
        replacement = document()
        rplc = association(replacement.entry_uuid, de.entry_uuid, AssociationType.REPLACE.value)
        store.add_objects([*objects, replacement, rplc])
        only = store.associations_touching([de.entry_uuid], [AssociationType.REPLACE.value])
        assert [(a.entry_uuid, a.source, a.target) for a in only] == [
            (rplc.entry_uuid, replacement.entry_uuid, de.entry_uuid)
        ]
        assert store.associations_touching([de.entry_uuid], []) == []

    def test_associations_touching_ids_of_two_chunks_come_once(self, store: SqlRegistryStore) -> None:
        documents = [document() for _ in range(600)]
        link = association(documents[0].entry_uuid, documents[-1].entry_uuid, AssociationType.APPEND.value)
        store.add_objects([*documents, link])
        found = store.associations_touching([d.entry_uuid for d in documents])
        assert [a.entry_uuid for a in found] == [link.entry_uuid]

    def test_patient_state(self, store: SqlRegistryStore, connection: Connection) -> None:
        SqlPatientDirectory(connection).add(PATIENT, PatientState.ACTIVATED)
        assert store.patient_state(PATIENT) is PatientState.ACTIVATED
        assert store.patient_state("unknown^^^&1.2&ISO") is None


class TestRejectedWrites:
    def test_duplicate_submission_set_unique_id(self, database: Database) -> None:
        first = submission_set()
        with database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([first])
        with pytest.raises(XdsError) as raised, database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([submission_set(unique_id=first.unique_id)])
        assert [i.code for i in raised.value.issues] == [ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY]

    def test_duplicate_submission_set_unique_id_in_one_batch(self, store: SqlRegistryStore) -> None:
        first = submission_set()
        with pytest.raises(XdsError) as raised:
            store.add_objects([first, submission_set(unique_id=first.unique_id)])
        assert [i.code for i in raised.value.issues] == [ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY]

    def test_existing_entry_uuid(self, database: Database) -> None:
        de = document()
        with database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([de])
        with pytest.raises(XdsError) as raised, database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects([document(entry_uuid=de.entry_uuid)])
        assert [i.code for i in raised.value.issues] == [ErrorCode.REGISTRY_METADATA_ERROR]

    def test_failed_transaction_leaves_nothing(self, database: Database) -> None:
        objects = a_submission()
        with pytest.raises(RuntimeError), database.transaction() as connection:
            SqlRegistryStore(connection, stub_xml).add_objects(objects)
            raise RuntimeError("the use case failed after writing")
        with database.transaction(readonly=True) as connection:
            assert SqlRegistryStore(connection, stub_xml).summaries([o.entry_uuid for o in objects]) == {}

    def test_version_must_be_an_integer(self, store: SqlRegistryStore) -> None:
        with pytest.raises(XdsError) as raised:
            store.add_objects([document(version="two")])
        assert [i.code for i in raised.value.issues] == [ErrorCode.REGISTRY_METADATA_ERROR]

    def test_encoder_failure_propagates_unchanged(self, connection: Connection) -> None:
        def broken(obj: AnyObject) -> str:
            raise ValueError("cannot encode")

        with pytest.raises(ValueError, match="cannot encode"):
            SqlRegistryStore(connection, broken).add_objects([document()])


@pytest.mark.postgres
class TestConcurrentWritersOnPostgres:
    def test_interleaved_transactions_get_distinct_increasing_seqs(self, database: Database) -> None:
        one, two = a_submission(), a_submission()
        with database.transaction() as first, database.transaction() as second:
            SqlRegistryStore(first, stub_xml).add_objects(one)
            SqlRegistryStore(second, stub_xml).add_objects(two)
        with database.transaction(readonly=True) as connection:
            query = select(tables.registry_object.c.entry_uuid, tables.registry_object.c.seq)
            seqs = {uuid: seq for uuid, seq in connection.execute(query)}
        assert len(set(seqs.values())) == 12
        assert [seqs[o.entry_uuid] for o in one] == sorted(seqs[o.entry_uuid] for o in one)
        assert max(seqs[o.entry_uuid] for o in one) < min(seqs[o.entry_uuid] for o in two)

    def test_value_too_long_is_a_metadata_error(self, store: SqlRegistryStore) -> None:
        with pytest.raises(XdsError) as raised:
            store.add_objects([document(hash="f" * 64)])
        assert [i.code for i in raised.value.issues] == [ErrorCode.REGISTRY_METADATA_ERROR]


_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30)
_codes = st.lists(st.builds(Code, _text, _text), max_size=5)


class TestSideTablesProperty:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        events=_codes,
        confidentiality=_codes,
        people=st.lists(st.one_of(st.none(), _text), max_size=4),
        references=st.lists(_text, max_size=4),
    )
    def test_side_tables_hold_each_distinct_value_once(
        self,
        store: SqlRegistryStore,
        connection: Connection,
        events: list[Code],
        confidentiality: list[Code],
        people: list[str | None],
        references: list[str],
    ) -> None:
        de = document(
            event_codes=tuple(events),
            confidentiality_codes=tuple(confidentiality),
            authors=tuple(Author(person=p) for p in people),
            reference_ids=tuple(references),
        )
        store.add_objects([de])

        def stored(table: Table, *columns: str) -> list[tuple[object, ...]]:
            query = select(*(table.c[c] for c in columns)).where(table.c.entry_uuid == de.entry_uuid)
            return [tuple(row) for row in connection.execute(query)]

        assert sorted(stored(tables.document_code, "attribute", "code_key")) == sorted(
            {("event", c.key()) for c in events} | {("confidentiality", c.key()) for c in confidentiality}
        )
        assert sorted(stored(tables.author_person, "person")) == sorted({(p,) for p in people if p})
        assert sorted(stored(tables.reference_id, "value")) == sorted({(r,) for r in references})


class TestLatestVersions:
    def test_highest_version_per_logical_id(self, store: SqlRegistryStore) -> None:
        first = document()
        second = document(logical_id=first.entry_uuid, version="2", unique_id=first.unique_id)
        other = folder()
        store.add_objects([first, other])
        store.add_objects([second])
        store.set_status([first.entry_uuid], DEPRECATED)
        latest = store.latest_versions([first.entry_uuid, other.entry_uuid, "urn:uuid:unknown"])
        assert set(latest) == {first.entry_uuid, other.entry_uuid}
        newest = latest[first.entry_uuid]
        assert (newest.entry_uuid, newest.version, newest.status) == (second.entry_uuid, 2, APPROVED)
        assert newest.object_type == second.object_type
        assert (latest[other.entry_uuid].kind, latest[other.entry_uuid].object_type) == ("Folder", None)


class TestRemoveObjects:
    def test_removes_objects_and_their_rows_only(
        self, store: SqlRegistryStore, connection: Connection
    ) -> None:
        removed = a_submission()
        kept = a_submission()
        store.add_objects([*removed, *kept])
        store.remove_objects([o.entry_uuid for o in removed])
        kept_ids = {o.entry_uuid for o in kept}
        assert set(store.summaries([o.entry_uuid for o in [*removed, *kept]])) == kept_ids
        for table in (
            tables.document_entry,
            tables.submission_set,
            tables.folder,
            tables.association,
            tables.document_code,
            tables.author_person,
            tables.reference_id,
            tables.folder_code,
        ):
            assert {r["entry_uuid"] for r in rows(connection, table)} <= kept_ids, table.name
        assert len(rows(connection, tables.document_code)) == 3  # the kept document's codes are still there

    def test_nothing_to_remove(self, store: SqlRegistryStore) -> None:
        store.remove_objects([])
        store.remove_objects(["urn:uuid:unknown"])
