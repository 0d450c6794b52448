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
from xds_server.core.patient_feed import Demographics, Sex, StoredPatient
from xds_server.core.ports import Clock, PatientState
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.tables import patient, patient_identifier

__all__ = ["GIVEN_SEPARATOR", "SqlPatientDirectory", "SystemClock", "stored_patient"]

#: given names in one column, as in an HL7 XPN (given name ^ second names); a name never contains it once
#: decoded
GIVEN_SEPARATOR = "^"


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


_c = patient.c
_GET = select(_c.state, _c.birth_date).where(_c.patient_id == bindparam("pid"), _c.merged_into.is_(None))
_STORED = select(
    _c.patient_id, _c.state, _c.merged_into, _c.family_name, _c.given_names, _c.birth_date, _c.sex
).where(_c.patient_id == bindparam("pid"))
_IDENTIFIERS = (
    select(patient_identifier.c.identifier)
    .where(patient_identifier.c.patient_id == bindparam("pid"))
    .order_by(patient_identifier.c.identifier)
)
_LIST = select(_c.patient_id, _c.state).where(_c.merged_into.is_(None)).order_by(_c.patient_id)
_SET_STATE = (
    update(patient)
    .where(_c.patient_id == bindparam("pid"))
    .values(state=bindparam("new_state"), updated_at=bindparam("now"))
)


def stored_patient(connection: Connection, patient_id: str) -> StoredPatient | None:
    """The directory's row for an id (merged or not) with its demographics and cross-references: what
    the identity feed wrote, read by the feed itself and by the PDQm read (one reading, one mapping)."""
    with translate_db_errors():
        row = connection.execute(_STORED, {"pid": patient_id}).one_or_none()
        if row is None:
            return None
        references = tuple(connection.execute(_IDENTIFIERS, {"pid": patient_id}).scalars())
    return StoredPatient(
        patient_id=row.patient_id,
        state=PatientState(row.state),
        merged_into=row.merged_into,
        demographics=Demographics(
            family=row.family_name,
            given=tuple(n for n in (row.given_names or "").split(GIVEN_SEPARATOR) if n),
            birth_date=row.birth_date,
            sex=Sex(row.sex) if row.sex else None,
        ),
        cross_references=references,
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

    def stored(self, patient_id: str) -> StoredPatient | None:
        """The patient with what the feed stored; None when unknown or merged into another."""
        found = stored_patient(self._connection, patient_id)
        return found if found is not None and found.merged_into is None else None

    def list(self) -> Iterator[tuple[str, PatientState]]:
        """Every known patient with its state, by patient id (an id merged into another is no patient)."""
        with translate_db_errors():
            rows = self._connection.execute(_LIST).all()
        return iter([(row.patient_id, PatientState(row.state)) for row in rows])

    def _row(self, patient_id: str) -> Any:
        with translate_db_errors():
            return self._connection.execute(_GET, {"pid": patient_id}).one_or_none()
