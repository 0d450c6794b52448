"""Reading the access trail and the outbox in tests (straight from the tables)."""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B.auditevent import AuditEvent
from sqlalchemy import select

from xds_server.audit import render_json
from xds_server.storage.audit import SqlAuditStore, StoredEvent
from xds_server.storage.database import Database
from xds_server.storage.tables import notification


def events(database: Database, transaction: str | None = None) -> list[StoredEvent]:
    with database.transaction(readonly=True) as connection:
        found = list(SqlAuditStore(connection, render_json).events())
    return [e for e in found if transaction is None or e.transaction == transaction]


def only(database: Database, transaction: str) -> dict[str, Any]:
    """The one trace of ``transaction`` (asserting there is exactly one), validated as an R4 AuditEvent."""
    found = events(database, transaction)
    assert len(found) == 1, [e.transaction for e in events(database)]
    resource = found[0].json()
    AuditEvent.model_validate(resource)  # FHIR structure (R4B AuditEvent = R4's)
    return resource


def entity_values(resource: dict[str, Any], role_code: str) -> list[str]:
    return [
        e["what"]["identifier"]["value"]
        for e in resource.get("entity", [])
        if e.get("role", {}).get("code") == role_code and "what" in e
    ]


def user(resource: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in resource["agent"] if a.get("requestor"))


def notices(database: Database) -> list[dict[str, Any]]:
    with database.transaction(readonly=True) as connection:
        rows = connection.execute(select(notification).order_by(notification.c.id)).mappings().all()
    return [{**row, "facts": json.loads(row["facts"])} for row in rows]
