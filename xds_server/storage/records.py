"""SqlRecordStore: the patient record settings the DMP rules read (``core.policy.RecordSettings``).

Theory of operation. ``load`` runs on every request, so it is one statement (one round trip): the patient
row LEFT JOINed with its settings, UNION ALL the related professionals, UNION ALL the representatives,
each row tagged with what it is. A patient without a ``patient_setting`` row has the defaults (emergency
modes allowed, no médecin traitant), so the patient directory can register patients without touching
this module. Writes are idempotent (adding what is there changes nothing) and refuse an unknown patient with
XDSUnknownPatientId. Block, consent and administrator are independent relations: the policy evaluates the
block list before anything else, so a blocked professional is refused whatever else he holds, and
unblocking him gives back exactly what he had. Ids arrive canonicalised by the caller (opaque strings here).
Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    String,
    bindparam,
    delete,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.policy import RecordSettings, is_minor
from xds_server.core.ports import Clock, PatientState
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.tables import (
    patient,
    patient_professional,
    patient_representative,
    patient_setting,
)

__all__ = ["Relation", "SqlRecordStore"]


class Relation(StrEnum):
    """How a professional relates to a patient's record (``patient_professional.relation``)."""

    AUTHORISED = "authorised"  # consent declared ("j'ai autorisé les professionnels suivants")
    BLOCKED = "blocked"
    ADMINISTRATOR = "administrator"  # "médecin administrateur" chosen by the patient


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


_REPRESENTATIVE: Final = "representative"
_RECORD: Final = "record"

_p, _s, _pp, _pr = patient.c, patient_setting.c, patient_professional.c, patient_representative.c
_PID = bindparam("pid", type_=String)


def _untyped(type_: Any) -> Any:
    return null().cast(type_)


# One statement per load; columns: (kind, value, state, birth_date, samu, break_glass, medecin_traitant).
_LOAD = union_all(
    select(
        literal(_RECORD, String).label("kind"),
        _p.patient_id.label("value"),
        _p.state,
        _p.birth_date,
        _s.samu_allowed,
        _s.break_glass_allowed,
        _s.medecin_traitant,
    )
    .select_from(patient.outerjoin(patient_setting, _s.patient_id == _p.patient_id))
    .where(_p.patient_id == _PID, _p.merged_into.is_(None)),  # a merged id names no record any more
    select(
        _pp.relation,
        _pp.professional_id,
        _untyped(String),
        _untyped(Date),
        _untyped(Boolean),
        _untyped(Boolean),
        _untyped(String),
    ).where(_pp.patient_id == _PID),
    select(
        literal(_REPRESENTATIVE, String),
        _pr.representative_id,
        _untyped(String),
        _untyped(Date),
        _untyped(Boolean),
        _untyped(Boolean),
        _untyped(String),
    ).where(_pr.patient_id == _PID),
)
_EXISTS = select(_p.patient_id).where(_p.patient_id == _PID, _p.merged_into.is_(None))
_REPRESENTED_BY = (
    select(_pr.patient_id).where(_pr.representative_id == bindparam("rid")).order_by(_pr.patient_id)
)
_REPRESENTATIVES = select(_pr.representative_id).distinct().order_by(_pr.representative_id)
_REMOVE_RELATION = delete(patient_professional).where(
    _pp.patient_id == bindparam("pid"),
    _pp.professional_id == bindparam("professional"),
    _pp.relation == bindparam("relation"),
)


def _allowed(value: bool | None) -> bool:
    """An emergency setting: no settings row (NULL from the outer join) means the default, allowed."""
    return True if value is None else bool(value)


def _insert(dialect: str, table: Any) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


class SqlRecordStore:
    """The record settings of patients, over one open transaction (never commits)."""

    def __init__(self, connection: Connection, clock: Clock | None = None) -> None:
        self._connection = connection
        self._clock = clock or _SystemClock()
        self._dialect = connection.dialect.name

    # -- reads --------------------------------------------------------------------------------------------

    def load(self, patient_id: str, today: date) -> RecordSettings | None:
        """The record of ``patient_id`` as the policy reads it (minor on ``today``), None when unknown."""
        with translate_db_errors():
            rows = self._connection.execute(_LOAD, {"pid": patient_id}).all()
        record = next((r for r in rows if r.kind == _RECORD), None)
        if record is None:
            return None
        related: dict[str, set[str]] = {r.value: set() for r in Relation}
        related[_REPRESENTATIVE] = set()
        for row in rows:
            if row.kind != _RECORD:
                related[row.kind].add(row.value)
        return RecordSettings(
            patient_id=record.value,
            state=PatientState(record.state),
            authorised=frozenset(related[Relation.AUTHORISED]),
            blocked=frozenset(related[Relation.BLOCKED]),
            medecin_traitant=record.medecin_traitant or None,
            administrators=frozenset(related[Relation.ADMINISTRATOR]),
            samu_allowed=_allowed(record.samu_allowed),
            break_glass_allowed=_allowed(record.break_glass_allowed),
            minor=is_minor(record.birth_date, today),
            birth_date=record.birth_date,
            legal_representatives=frozenset(related[_REPRESENTATIVE]),
        )

    def records_represented_by(self, representative_id: str) -> frozenset[str]:
        """The patients ``representative_id`` is registered as legal representative of."""
        with translate_db_errors():
            rows = self._connection.execute(_REPRESENTED_BY, {"rid": representative_id}).scalars().all()
        return frozenset(rows)

    def representatives(self, limit: int = 1000) -> list[str]:
        """Everyone registered as a legal representative (the portal's demo login lists them)."""
        with translate_db_errors():
            rows = self._connection.execute(_REPRESENTATIVES.limit(limit)).scalars().all()
        return list(rows)

    # -- writes -------------------------------------------------------------------------------------------

    def authorize(self, patient_id: str, professional_id: str) -> None:
        """Record the patient's consent for ``professional_id`` (the authorised list)."""
        self._relate(patient_id, professional_id, Relation.AUTHORISED)

    def block(self, patient_id: str, professional_id: str) -> None:
        """Put ``professional_id`` on the patient's block list (no read, no write, in any mode)."""
        self._relate(patient_id, professional_id, Relation.BLOCKED)

    def unblock(self, patient_id: str, professional_id: str) -> bool:
        """Take ``professional_id`` off the block list; False when he was not on it."""
        return self._unrelate(patient_id, professional_id, Relation.BLOCKED)

    def revoke(self, patient_id: str, professional_id: str) -> bool:
        """Withdraw the consent declared for ``professional_id``; False when there was none."""
        return self._unrelate(patient_id, professional_id, Relation.AUTHORISED)

    def revoke_administrator(self, patient_id: str, professional_id: str) -> bool:
        """Withdraw an administrator doctor; False when he was not one."""
        return self._unrelate(patient_id, professional_id, Relation.ADMINISTRATOR)

    def set_settings(
        self,
        patient_id: str,
        *,
        samu: bool | None = None,
        break_glass: bool | None = None,
        administrator: str | None = None,
        medecin_traitant: str | None = None,
    ) -> None:
        """Change the given settings, leave the others. ``administrator`` adds an administrator doctor;
        ``medecin_traitant`` sets the médecin traitant (an empty string removes him)."""
        self._require(patient_id)
        changes: dict[str, Any] = {}
        if samu is not None:
            changes["samu_allowed"] = samu
        if break_glass is not None:
            changes["break_glass_allowed"] = break_glass
        if medecin_traitant is not None:
            changes["medecin_traitant"] = medecin_traitant.strip() or None
        if changes:
            insert = _insert(self._dialect, patient_setting)
            statement = insert.values(patient_id=patient_id, **changes).on_conflict_do_update(
                index_elements=[_s.patient_id], set_={k: insert.excluded[k] for k in changes}
            )
            with translate_db_errors():
                self._connection.execute(statement)
        if administrator is not None:
            self._relate(patient_id, administrator, Relation.ADMINISTRATOR, checked=True)

    def contact_email(self, patient_id: str) -> str | None:
        """The address the patient's notices go to (None: none registered)."""
        with translate_db_errors():
            return self._connection.execute(
                select(_s.email).where(_s.patient_id == patient_id)
            ).scalar_one_or_none()

    def set_contact_email(self, patient_id: str, email: str | None) -> None:
        """Where the patient's notices go (None: nowhere; his yearly statement tells him)."""
        self._require(patient_id)
        insert = _insert(self._dialect, patient_setting)
        statement = insert.values(patient_id=patient_id, email=email).on_conflict_do_update(
            index_elements=[_s.patient_id], set_={"email": insert.excluded.email}
        )
        with translate_db_errors():
            self._connection.execute(statement)

    def add_representative(self, patient_id: str, representative_id: str) -> None:
        """Register ``representative_id`` as a legal representative of ``patient_id``."""
        if representative_id == patient_id:
            raise XdsError.single(
                ErrorCode.REGISTRY_METADATA_ERROR,
                "a patient cannot be his own legal representative",
                patient_id,
            )
        self._require(patient_id)
        statement = (
            _insert(self._dialect, patient_representative)
            .values(patient_id=patient_id, representative_id=representative_id, created_at=self._clock.now())
            .on_conflict_do_nothing()
        )
        with translate_db_errors():
            self._connection.execute(statement)

    # -- helpers ------------------------------------------------------------------------------------------

    def _require(self, patient_id: str) -> None:
        with translate_db_errors():
            known = self._connection.execute(_EXISTS, {"pid": patient_id}).first() is not None
        if not known:
            raise XdsError.single(ErrorCode.UNKNOWN_PATIENT_ID, f"unknown patient {patient_id}", patient_id)

    def _relate(
        self, patient_id: str, professional_id: str, relation: Relation, *, checked: bool = False
    ) -> None:
        if not professional_id.strip():
            raise XdsError.single(ErrorCode.REGISTRY_METADATA_ERROR, "empty professional id", patient_id)
        if not checked:
            self._require(patient_id)
        statement = (
            _insert(self._dialect, patient_professional)
            .values(
                patient_id=patient_id,
                professional_id=professional_id.strip(),
                relation=relation.value,
                created_at=self._clock.now(),
            )
            .on_conflict_do_nothing()
        )
        with translate_db_errors():
            self._connection.execute(statement)

    def _unrelate(self, patient_id: str, professional_id: str, relation: Relation) -> bool:
        self._require(patient_id)
        params = {"pid": patient_id, "professional": professional_id.strip(), "relation": relation.value}
        with translate_db_errors():
            return bool(self._connection.execute(_REMOVE_RELATION, params).rowcount)
