"""SqlPatientDirectory: the ``PatientDirectory`` port (known patients and the state of their record).

Patient ids arrive canonicalised by the caller (identity/profile code decides what canonical means); this
module compares them as opaque strings. ``add`` is an upsert, like a dictionary: adding a known patient sets
its state (and its birth date when one is given) and keeps its creation time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.ports import Clock, PatientState
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.tables import patient

__all__ = ["SqlPatientDirectory", "SystemClock"]


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


_c = patient.c
_GET = select(_c.state, _c.birth_date).where(_c.patient_id == bindparam("pid"), _c.merged_into.is_(None))
_LIST = select(_c.patient_id, _c.state).where(_c.merged_into.is_(None)).order_by(_c.patient_id)
_SET_STATE = (
    update(patient)
    .where(_c.patient_id == bindparam("pid"))
    .values(state=bindparam("new_state"), updated_at=bindparam("now"))
)


def _upsert(dialect: str, with_birth_date: bool) -> Any:
    insert = postgresql.insert(patient) if dialect == "postgresql" else sqlite.insert(patient)
    changes: dict[str, Any] = {"state": insert.excluded.state, "updated_at": insert.excluded.updated_at}
    if with_birth_date:
        changes["birth_date"] = insert.excluded.birth_date
    return insert.on_conflict_do_update(index_elements=[_c.patient_id], set_=changes)


_UPSERTS = {
    (dialect, with_birth_date): _upsert(dialect, with_birth_date)
    for dialect in ("postgresql", "sqlite")
    for with_birth_date in (False, True)
}


class SqlPatientDirectory:
    """``core.ports.PatientDirectory`` over one open transaction; never commits."""

    def __init__(self, connection: Connection, clock: Clock | None = None) -> None:
        self._connection = connection
        self._clock = clock or SystemClock()
        self._dialect = connection.dialect.name

    def add(self, patient_id: str, state: PatientState, birth_date: date | None = None) -> None:
        now = self._clock.now()
        statement = _UPSERTS[(self._dialect, birth_date is not None)]
        row = {
            "patient_id": patient_id,
            "state": state.value,
            "birth_date": birth_date,
            "created_at": now,
            "updated_at": now,
        }
        with translate_db_errors():
            self._connection.execute(statement, row)

    def set_state(self, patient_id: str, state: PatientState) -> None:
        """Change the state of a known patient; an unknown patient is XDSUnknownPatientId."""
        params = {"pid": patient_id, "new_state": state.value, "now": self._clock.now()}
        with translate_db_errors():
            changed = self._connection.execute(_SET_STATE, params).rowcount
        if changed == 0:
            raise XdsError.single(ErrorCode.UNKNOWN_PATIENT_ID, f"unknown patient {patient_id}", patient_id)

    def get(self, patient_id: str) -> PatientState | None:
        """The state of the patient's record, or None for an unknown patient."""
        row = self._row(patient_id)
        return None if row is None else PatientState(row.state)

    def birth_date(self, patient_id: str) -> date | None:
        """The recorded birth date (None when unknown or not recorded)."""
        row = self._row(patient_id)
        return None if row is None else row.birth_date

    def list(self) -> Iterator[tuple[str, PatientState]]:
        """Every known patient with its state, by patient id (an id merged into another is no patient)."""
        with translate_db_errors():
            rows = self._connection.execute(_LIST).all()
        return iter([(row.patient_id, PatientState(row.state)) for row in rows])

    def _row(self, patient_id: str) -> Any:
        with translate_db_errors():
            return self._connection.execute(_GET, {"pid": patient_id}).one_or_none()
