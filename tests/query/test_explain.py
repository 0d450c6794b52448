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
