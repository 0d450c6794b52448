"""SqlOutbox: the dispatcher's side of the patient notification outbox (rows are queued by SqlAuditStore).

Theory of operation (the delivery contract is at-most-once, xds_server/audit/dispatch.py says why). A row is
*claimed* by a conditional UPDATE (``state = 'pending'`` -> ``'sending'``, one attempt more) committed before
the message is sent: two dispatchers never both claim one row (the second UPDATE matches nothing), on SQLite
and PostgreSQL alike. After the attempt the row is marked in another short transaction: ``sent``, back to
``pending`` with a later ``next_attempt_at`` (the server refused it: not delivered), ``failed`` or
``uncertain``. A row left in ``sending`` by a dispatcher that died is moved to ``uncertain`` once its lease
ran out, never back to ``pending``. Each method runs in the caller's transaction and never commits.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from xds_server.core.audit import QueuedNotice
from xds_server.storage.audit import contact_email
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.tables import notification

__all__ = ["SqlOutbox"]

_n = notification.c


class SqlOutbox:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def expire_claims(self, claimed_before: datetime) -> int:
        """Rows claimed before ``claimed_before`` and never marked (their dispatcher died): uncertain."""
        statement = (
            update(notification)
            .where(_n.state == "sending", _n.claimed_at < claimed_before)
            .values(state="uncertain", last_error="the dispatcher stopped while sending: not sent again")
        )
        with translate_db_errors():
            return int(self._connection.execute(statement).rowcount or 0)

    def due(self, now: datetime, limit: int) -> list[int]:
        statement = (
            select(_n.id).where(_n.state == "pending", _n.next_attempt_at <= now).order_by(_n.id).limit(limit)
        )
        with translate_db_errors():
            return [int(i) for i in self._connection.execute(statement).scalars()]

    def claim(self, row_id: int, now: datetime, dispatcher: str) -> QueuedNotice | None:
        """Take ``row_id`` for sending; None when another dispatcher took it (or it is not pending)."""
        statement = (
            update(notification)
            .where(_n.id == row_id, _n.state == "pending")
            .values(state="sending", claimed_at=now, claimed_by=dispatcher, attempts=_n.attempts + 1)
        )
        with translate_db_errors():
            if self._connection.execute(statement).rowcount != 1:
                return None
            row = self._connection.execute(select(notification).where(_n.id == row_id)).mappings().one()
        return QueuedNotice(
            id=int(row["id"]),
            patient_id=row["patient_id"],
            kind=row["kind"],
            event_id=row["event_id"],
            facts=json.loads(row["facts"]),
            created_at=row["created_at"],
            attempts=int(row["attempts"]),
        )

    def mark_sent(self, row_id: int, now: datetime, recipient: str) -> None:
        self._mark(row_id, state="sent", sent_at=now, recipient=recipient, last_error=None)

    def retry_later(self, row_id: int, at: datetime, error: str) -> None:
        self._mark(row_id, state="pending", next_attempt_at=at, last_error=error[:2000])

    def give_up(self, row_id: int, state: str, error: str | None, recipient: str | None = None) -> None:
        """Final states other than sent: ``failed``, ``no_address``, ``uncertain``."""
        self._mark(row_id, state=state, last_error=error[:2000] if error else None, recipient=recipient)

    def contact_email(self, patient_id: str) -> str | None:
        return contact_email(self._connection, patient_id)

    def counts(self) -> dict[str, int]:
        statement = select(_n.state, func.count()).group_by(_n.state)
        with translate_db_errors():
            return {str(state): int(count) for state, count in self._connection.execute(statement)}

    def _mark(self, row_id: int, **values: object) -> None:
        # only the claimed row moves on: a row some operator reset meanwhile is left alone
        statement = update(notification).where(_n.id == row_id, _n.state == "sending").values(**values)
        with translate_db_errors():
            self._connection.execute(statement)
