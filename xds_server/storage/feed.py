"""SqlPatientFeed: the ``core.patient_feed.PatientFeedStore`` port on one open transaction (never commits).

Theory of operation. ``lock`` takes the patient rows FOR UPDATE on PostgreSQL, in id order (two merges of the
same pair cannot deadlock); submissions take their patient row FOR SHARE first (``SqlRegistryStore.
lock_patient``), so a merge and a submission for the subsumed id run one after the other. Every statement the
merge issues after its lock sees what such a submission committed (PostgreSQL READ COMMITTED: a new snapshot
per statement), so ``move_registry_objects`` moves its documents too. SQLite needs nothing: ``BEGIN
IMMEDIATE`` gives the writer the database to itself.

A merge rewrites the patient id in place -- ``registry_object`` (column and stored ebRIM, through the injected
``rewrite_xml``), ``document_entry``, ``submission_set``, ``folder`` -- instead of resolving aliases at query
time: a patient's record is small (a few hundred rows), a merge is rare, and every read path (stored queries,
GetDocuments by uuid, association patient checks, the FHIR view) then stays a plain equality on one id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, delete, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from xds_server.core.patient_feed import Demographics, FedPatient, StoredPatient
from xds_server.core.policy import RecordSettings
from xds_server.core.ports import AuditSink, Clock, PatientState
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.patients import GIVEN_SEPARATOR, stored_patient
from xds_server.storage.records import Relation, SqlRecordStore
from xds_server.storage.tables import (
    document_entry,
    folder,
    patient,
    patient_identifier,
    patient_professional,
    patient_representative,
    patient_setting,
    registry_object,
    submission_set,
)

__all__ = ["SqlPatientFeed", "XmlRewriter"]

#: (stored ebRIM XML, new patient id) -> the same XML naming that patient (ebxml.codec.with_patient_id).
XmlRewriter = Callable[[str, str], str]


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


_p, _pi = patient.c, patient_identifier.c
_ro = registry_object.c
_LOCK = select(_p.patient_id).where(_p.patient_id.in_(bindparam("ids", expanding=True)))
_OBJECTS_OF = select(_ro.entry_uuid, _ro.xml).where(_ro.patient_id == bindparam("old")).order_by(_ro.seq)
_MOVE_OBJECT = (
    update(registry_object)
    .where(_ro.entry_uuid == bindparam("uuid"))
    .values(patient_id=bindparam("new"), xml=bindparam("new_xml"))
)
_MOVE_KIND = tuple(
    update(table).where(table.c.patient_id == bindparam("old")).values(patient_id=bindparam("new"))
    for table in (document_entry, submission_set, folder)
)


def _insert(dialect: str, table: Any) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


class SqlPatientFeed:
    """``PatientFeedStore`` over one open transaction."""

    def __init__(
        self,
        connection: Connection,
        rewrite_xml: XmlRewriter,
        clock: Clock | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        #: the access trail on this very transaction (the feed's trace commits with its change)
        self.audit = audit
        self._connection = connection
        self._rewrite_xml = rewrite_xml
        self._clock = clock or _SystemClock()
        self._dialect = connection.dialect.name
        self._records = SqlRecordStore(connection, self._clock)

    def _run(self, statement: Any, params: Any = None) -> Any:
        with translate_db_errors():
            return self._connection.execute(statement, params)

    # -- reads --------------------------------------------------------------------------------------------

    def lock(self, patient_ids: Sequence[str]) -> None:
        if self._dialect != "postgresql":
            return  # SQLite: BEGIN IMMEDIATE, this transaction is the only writer
        statement = _LOCK.order_by(_p.patient_id).with_for_update()
        self._run(statement, {"ids": sorted(set(patient_ids))}).all()

    def get(self, patient_id: str) -> StoredPatient | None:
        return stored_patient(self._connection, patient_id)

    def settings(self, patient_id: str) -> RecordSettings | None:
        return self._records.load(patient_id, self._today())

    # -- writes -------------------------------------------------------------------------------------------

    def save(self, fed: FedPatient, *, state: PatientState | None = None) -> None:
        now = self._clock.now()
        given = _demographic_columns(fed.demographics, every=fed.complete)
        row = {
            "patient_id": fed.patient_id,
            "state": (state or PatientState.CREATED).value,
            "created_at": now,
            "updated_at": now,
            **given,
        }
        statement = _insert(self._dialect, patient).values(row)
        changes: dict[str, Any] = {"updated_at": statement.excluded.updated_at}
        changes |= {column: statement.excluded[column] for column in given}
        if state is not None:
            changes["state"] = statement.excluded.state
        self._run(statement.on_conflict_do_update(index_elements=[_p.patient_id], set_=changes))
        if fed.cross_references:
            refs = _insert(self._dialect, patient_identifier).on_conflict_do_nothing()
            self._run(refs, [{"patient_id": fed.patient_id, "identifier": r} for r in fed.cross_references])

    def replace_settings(self, settings: RecordSettings) -> None:
        pid = settings.patient_id
        self._run(
            update(patient)
            .where(_p.patient_id == pid)
            .values(state=settings.state.value, birth_date=settings.birth_date, updated_at=self._clock.now())
        )
        values = {
            "samu_allowed": settings.samu_allowed,
            "break_glass_allowed": settings.break_glass_allowed,
            "medecin_traitant": settings.medecin_traitant,
        }
        upsert = _insert(self._dialect, patient_setting).values(patient_id=pid, **values)
        self._run(upsert.on_conflict_do_update(index_elements=[patient_setting.c.patient_id], set_=values))
        self._run(delete(patient_professional).where(patient_professional.c.patient_id == pid))
        now = self._clock.now()
        relations = [
            {
                "patient_id": pid,
                "professional_id": who,
                "relation": relation.value,
                "created_at": now,
            }
            for relation, members in (
                (Relation.AUTHORISED, settings.authorised),
                (Relation.BLOCKED, settings.blocked),
                (Relation.ADMINISTRATOR, settings.administrators),
            )
            for who in sorted(members)
        ]
        if relations:
            self._run(insert(patient_professional), relations)
        self._run(delete(patient_representative).where(patient_representative.c.patient_id == pid))
        if settings.legal_representatives:
            rows = [
                {"patient_id": pid, "representative_id": r, "created_at": now}
                for r in sorted(settings.legal_representatives)
            ]
            self._run(insert(patient_representative), rows)

    def move_registry_objects(self, subsumed_id: str, surviving_id: str) -> int:
        stored = self._run(_OBJECTS_OF, {"old": subsumed_id}).all()
        if stored:
            moves = [
                {
                    "uuid": row.entry_uuid,
                    "new": surviving_id,
                    "new_xml": self._rewrite_xml(row.xml, surviving_id),
                }
                for row in stored
            ]
            self._run(_MOVE_OBJECT, moves)
        for statement in _MOVE_KIND:
            self._run(statement, {"old": subsumed_id, "new": surviving_id})
        return len(stored)

    def mark_merged(self, subsumed_id: str, surviving_id: str) -> None:
        now = self._clock.now()
        self._run(
            update(patient)
            .where((_p.patient_id == subsumed_id) | (_p.merged_into == subsumed_id))
            .values(merged_into=surviving_id, updated_at=now)
        )
        # cross-references and the links to the representatives he is one of follow the person
        self._run(
            _insert(self._dialect, patient_identifier)
            .from_select(
                ["patient_id", "identifier"],
                select(literal(surviving_id, String), _pi.identifier).where(_pi.patient_id == subsumed_id),
            )
            .on_conflict_do_nothing()
        )
        _pr = patient_representative.c
        self._run(
            _insert(self._dialect, patient_representative)
            .from_select(
                ["patient_id", "representative_id", "created_at"],
                select(_pr.patient_id, literal(surviving_id, String), _pr.created_at).where(
                    _pr.representative_id == subsumed_id, _pr.patient_id != surviving_id
                ),
            )
            .on_conflict_do_nothing()
        )
        self._run(delete(patient_representative).where(_pr.representative_id == subsumed_id))
        for table in (patient_identifier, patient_setting, patient_professional, patient_representative):
            self._run(delete(table).where(table.c.patient_id == subsumed_id))

    def _today(self) -> date:
        return self._clock.now().date()


def _demographic_columns(demographics: Demographics, *, every: bool = False) -> dict[str, Any]:
    """The patient columns a message gives (a field it leaves empty is not given: the stored value stays);
    ``every``: all of them, None clearing what the message leaves out."""
    if every:
        return {
            "family_name": demographics.family or None,
            "given_names": GIVEN_SEPARATOR.join(demographics.given) or None,
            "birth_date": demographics.birth_date,
            "sex": demographics.sex.value if demographics.sex else None,
        }
    columns: dict[str, Any] = {}
    if demographics.family:
        columns["family_name"] = demographics.family
    if demographics.given:
        columns["given_names"] = GIVEN_SEPARATOR.join(demographics.given)
    if demographics.birth_date is not None:
        columns["birth_date"] = demographics.birth_date
    if demographics.sex is not None:
        columns["sex"] = demographics.sex.value
    return columns
