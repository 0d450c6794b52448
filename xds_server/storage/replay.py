"""The SAML replay cache in the database (``identity.saml.ReplayStore``): an assertion accepted once is
refused again by every server process, before and after a restart, until it expires.

One short write transaction per check, committed at once whatever the request then does (a used assertion
stays used). The check is one statement pair that concurrent processes cannot both win: expired rows for the
key are deleted, then ``INSERT ... ON CONFLICT DO NOTHING`` inserts the key; the first use is the one whose
insert wrote a row. Keys are SHA-256 digests (bounded column, whatever the client sent). Expired rows of
other keys are purged every ``purge_every`` checks.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from xds_server.storage.database import Database
from xds_server.storage.tables import used_assertion

__all__ = ["SqlReplayCache"]

_c = used_assertion.c


class SqlReplayCache:
    def __init__(self, database: Database, *, purge_every: int = 1000) -> None:
        self._database = database
        self._calls = itertools.count(1)
        self._purge_every = purge_every

    def first_use(self, key: str, expires: datetime, now: datetime) -> bool:
        """Record ``key`` until ``expires``; False when it is recorded already and not expired."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        now_s, expires_s = int(now.timestamp()), int(expires.timestamp()) + 1
        insert = pg_insert if self._database.dialect_name == "postgresql" else sqlite_insert
        with self._database.transaction() as connection:
            if next(self._calls) % self._purge_every == 0:
                connection.execute(delete(used_assertion).where(_c.expires_at <= now_s))
            else:
                connection.execute(
                    delete(used_assertion).where(_c.key_hash == digest, _c.expires_at <= now_s)
                )
            written = connection.execute(
                insert(used_assertion)
                .values(key_hash=digest, expires_at=expires_s)
                .on_conflict_do_nothing(index_elements=[_c.key_hash])
                .returning(_c.key_hash)  # a row back: ours is the first use (rowcount is not portable here)
            ).first()
            return written is not None

    def __len__(self) -> int:
        with self._database.transaction(readonly=True) as connection:
            return len(connection.execute(used_assertion.select()).all())
