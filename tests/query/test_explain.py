"""Index use: FindDocuments with three code filters and a time range runs on the document_entry indexes,
never a scan of the table (SQLite ``EXPLAIN QUERY PLAN``; PostgreSQL ``EXPLAIN`` with sequential scans
discouraged, since on a near-empty table a scan is the planner's right choice)."""

from __future__ import annotations

from xds_server.core.query import EVERYTHING, DocumentCriteria, TimeRange
from xds_server.core.vocabulary import ObjectType, Status
from xds_server.storage.database import Database
from xds_server.storage.query_sql import SqlQueryPort, explain

from .builders import PATIENT, Registry, document

CRITERIA = DocumentCriteria(
    patient_ids=frozenset({PATIENT}),
    statuses=frozenset({Status.APPROVED.value}),
    object_types=frozenset({ObjectType.STABLE_DOCUMENT.value}),
    class_codes=frozenset({"Education^^1.3.6.1.4.1.21367.100.1", "Lab^^1.3.6.1.4.1.21367.100.1"}),
    type_codes=frozenset({"34108-1^^1.3.6.1.4.1.21367.100.1"}),
    event_codes=(frozenset({"E1^^1.3.6.1.4.1.21367.100.1"}),),
    creation_time=TimeRange("20040101000000", "20050101000000"),
)


class TestFindDocumentsPlan:
    def test_uses_indexes_only(self, database: Database, registry: Registry) -> None:
        registry.add([document() for _ in range(20)])
        with database.transaction(readonly=True) as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            port = SqlQueryPort(connection)
            plan = explain(connection, port.documents_statement(CRITERIA, EVERYTHING, 10_001, False))
        text = "\n".join(plan)
        print(text)
        if database.is_sqlite:
            assert "USING INDEX ix_document_entry_patient_id" in text, text
            assert "SCAN document_entry" not in text and "SCAN registry_object" not in text, text
            assert "document_code USING PRIMARY KEY" in text or "sqlite_autoindex_document_code" in text, text
        else:
            assert "Seq Scan on document_entry" not in text, text
            assert "ix_document_entry_patient_id" in text, text


U = "urn:uuid:0b2f3c4d-0000-4000-8000-000000000001"
V = "urn:uuid:0b2f3c4d-0000-4000-8000-000000000002"


class TestOtherPlansUseIndexes:
    """Every other read of the query engine: no full scan of a registry table (SQLite plans)."""

    def plans(self, database: Database) -> dict[str, str]:
        from xds_server.core.query import AssociationCriteria, FolderCriteria, SubmissionSetCriteria

        with database.transaction(readonly=True) as connection:
            port = SqlQueryPort(connection)
            statements = {
                "document by uuid": port.documents_statement(
                    DocumentCriteria(entry_uuids=frozenset({U, V}), latest_only=True), EVERYTHING, 11, True
                ),
                "document by uniqueId": port.documents_statement(
                    DocumentCriteria(unique_ids=frozenset({"1.2.3"})), EVERYTHING, 11, True
                ),
                "document by lid": port.documents_statement(
                    DocumentCriteria(logical_ids=frozenset({U})), EVERYTHING, 11, True
                ),
                "submission sets of patient": port.submission_sets_statement(
                    SubmissionSetCriteria(patient_ids=frozenset({PATIENT}), statuses=frozenset({"x"})),
                    EVERYTHING, 11, False,
                ),
                "submission set by uniqueId": port.submission_sets_statement(
                    SubmissionSetCriteria(unique_ids=frozenset({"1.2"})), EVERYTHING, 11, False
                ),
                "folders of patient with codes": port.folders_statement(
                    FolderCriteria(patient_ids=frozenset({PATIENT}), codes=(frozenset({"a^^b"}),)),
                    EVERYTHING, 11, False,
                ),
                "folder by lid": port.folders_statement(
                    FolderCriteria(logical_ids=frozenset({U})), EVERYTHING, 11, False
                ),
                "associations touching": port.associations_statement(
                    AssociationCriteria(touching=frozenset({U, V})), EVERYTHING, 11, False
                ),
                "associations from/to": port.associations_statement(
                    AssociationCriteria(sources=frozenset({U}), targets=frozenset({V}), types=frozenset({"t"})),  # noqa: E501
                    EVERYTHING, 11, False,
                ),
                "associations to": port.associations_statement(
                    AssociationCriteria(targets=frozenset({U, V})), EVERYTHING, 11, False
                ),
            }  # fmt: skip
            return {name: "\n".join(explain(connection, statement)) for name, statement in statements.items()}

    def test_no_table_scans(self, sqlite_database: Database) -> None:
        for name, plan in self.plans(sqlite_database).items():
            scans = [line for line in plan.splitlines() if line.strip().startswith("SCAN ")]
            assert not scans, f"{name}:\n{plan}"
