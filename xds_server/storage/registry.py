"""SqlRegistryStore: the registry's ``RegistryStore`` port on one open SQL transaction.

Theory of operation. Every object becomes one ``registry_object`` row (canonical XML from the injected
encoder, plus the columns all kinds share) and one row in its kind table (``document_entry``,
``submission_set``, ``folder``, ``association``); multi-valued queryable attributes go to side tables
(``document_code``, ``author_person``, ``reference_id``, ``folder_code``). A batch is written table by table
with executemany (parents before children, for the foreign keys) through ``bulk.BulkInserter``: one
pipelined round trip on PostgreSQL, the sqlite3 fast path on SQLite, whatever the size of the submission.

``seq`` orders objects by insertion. PostgreSQL draws it from the ``registry_object_seq`` sequence in the
INSERT itself, which is safe with concurrent writers; SQLite has a single writer (``BEGIN IMMEDIATE``,
storage/database.py) and takes ``max(seq) + 1`` through the ``seq`` index.

Reads and updates are built once at import time with expanding IN parameters, so SQLAlchemy compiles each
of them once per process (compiled cache) and psycopg prepares them server-side after a few executions. IN
lists are sent in chunks to stay far below the drivers' parameter limits.

``lock`` (called by the planner before its reads) serialises concurrent submissions about the same objects
or uniqueIds. PostgreSQL runs the write transactions at READ COMMITTED, where two RPLC of one entry would
both read it Approved: ``lock`` takes ``SELECT ... FOR UPDATE`` on the named registry_object rows and a
transaction-scoped advisory lock per uniqueId (a 64-bit hash of it: a collision only serialises two
unrelated submissions), each set in sorted order so that two submissions cannot deadlock on them. Every
later statement of the transaction then sees what the transaction that held the lock committed. SQLite
needs nothing: ``BEGIN IMMEDIATE`` already gives the writer the database to itself.

The store never commits and never translates errors itself beyond ``translate_db_errors`` around its
statements: the transaction belongs to the request (``Database.transaction()``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime

from xds_server.core.dtm import normalise_dtm
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.metadata import (
    AnyObject,
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    ObjectKind,
    SubmissionSet,
    kind_of,
)
from xds_server.core.ports import ObjectSummary, PatientState, StoredDocumentIdentity
from xds_server.core.vocabulary import Status
from xds_server.storage.bulk import BulkInserter
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.tables import (
    association,
    author_person,
    deleted_document,
    document_code,
    document_entry,
    folder,
    folder_code,
    patient,
    reference_id,
    registry_object,
    submission_set,
)

__all__ = ["CONFIDENTIALITY_CODE", "EVENT_CODE", "SqlRegistryStore", "StoredXml", "XmlEncoder"]

XmlEncoder = Callable[[AnyObject], str]

#: document_code.attribute values
EVENT_CODE = "event"
CONFIDENTIALITY_CODE = "confidentiality"

_CHUNK = 500  # ids per IN list
_MAX_BIGINT_DIGITS = 18

_KIND_TABLES = {
    "DocumentEntry": document_entry,
    "SubmissionSet": submission_set,
    "Folder": folder,
    "Association": association,
}


@dataclass(frozen=True, slots=True)
class StoredXml:
    """What a LeafClass answer needs for one object: its XML and the values that override it."""

    entry_uuid: str
    kind: ObjectKind
    status: str
    xml: str
    last_update_time: str | None = None  # Folders only


# ---- statements, built once ------------------------------------------------------------------------------

_ids: BindParameter[Any] = bindparam("ids", expanding=True)
_types: BindParameter[Any] = bindparam("types", expanding=True)
_ro = registry_object.c
_assoc = association.c

_SUMMARIES = (
    select(
        _ro.entry_uuid,
        _ro.kind,
        _ro.status,
        _ro.patient_id,
        _ro.logical_id,
        _ro.version,
        _ro.unique_id,
        _assoc.association_type,
        _assoc.source_uuid,
        _assoc.target_uuid,
    )
    .select_from(registry_object.outerjoin(association, _assoc.entry_uuid == _ro.entry_uuid))
    .where(_ro.entry_uuid.in_(_ids))
)

# Metadata Update: every version of the given lids (the highest per lid is the latest).
_VERSIONS = (
    select(_ro.logical_id, _ro.version, _ro.entry_uuid, document_entry.c.object_type)
    .select_from(registry_object.outerjoin(document_entry, document_entry.c.entry_uuid == _ro.entry_uuid))
    .where(_ro.logical_id.in_(_ids))
)

_ASSOCIATIONS_TOUCHING = (
    select(
        _ro.entry_uuid,
        _ro.status,
        _ro.logical_id,
        _ro.version,
        _assoc.association_type,
        _assoc.source_uuid,
        _assoc.target_uuid,
    )
    .select_from(association.join(registry_object, _ro.entry_uuid == _assoc.entry_uuid))
    .where(or_(_assoc.source_uuid.in_(_ids), _assoc.target_uuid.in_(_ids)))
    .order_by(_ro.seq)
)
_ASSOCIATIONS_TOUCHING_TYPED = _ASSOCIATIONS_TOUCHING.where(_assoc.association_type.in_(_types))

_DOCUMENTS_BY_UNIQUE_ID = (
    select(
        document_entry.c.entry_uuid, document_entry.c.unique_id, document_entry.c.hash, document_entry.c.size
    )
    .where(document_entry.c.unique_id.in_(_ids))
    .order_by(document_entry.c.unique_id, document_entry.c.entry_uuid)
)

_PACKAGE_UNIQUE_IDS = union(
    select(submission_set.c.unique_id).where(submission_set.c.unique_id.in_(_ids)),
    select(folder.c.unique_id).where(folder.c.unique_id.in_(_ids)),
)

# A merged id (patient identity feed) no longer names a patient: unknown, like an id never fed.
_PATIENT_STATE = select(patient.c.state).where(
    patient.c.patient_id == bindparam("patient_id"), patient.c.merged_into.is_(None)
)
# PostgreSQL only (``lock_patient``): a merge takes the row FOR UPDATE, writers FOR SHARE (they do not block
# each other).
_LOCK_PATIENT = (
    select(patient.c.patient_id)
    .where(patient.c.patient_id == bindparam("patient_id"))
    .with_for_update(read=True)
)

_XML = select(_ro.entry_uuid, _ro.xml).where(_ro.entry_uuid.in_(_ids)).order_by(_ro.seq)

_XML_RECORDS = (
    select(_ro.entry_uuid, _ro.kind, _ro.status, _ro.xml, folder.c.last_update_time)
    .select_from(registry_object.outerjoin(folder, folder.c.entry_uuid == _ro.entry_uuid))
    .where(_ro.entry_uuid.in_(_ids))
    .order_by(_ro.seq)
)

_SET_STATUS = (
    update(registry_object)
    .where(_ro.entry_uuid.in_(_ids))
    .values(status=bindparam("new_status"))
    .returning(_ro.kind)
)
_SET_KIND_STATUS = {
    kind: update(table).where(table.c.entry_uuid.in_(_ids)).values(status=bindparam("new_status"))
    for kind, table in _KIND_TABLES.items()
}

_TOUCH_FOLDERS = (
    update(folder).where(folder.c.entry_uuid.in_(_ids)).values(last_update_time=bindparam("last_update"))
)

_MAX_SEQ = select(func.coalesce(func.max(_ro.seq), 0))

# PostgreSQL only (``lock``): row locks in entry_uuid order, advisory locks in the order of the sorted keys.
_LOCK_ROWS = select(_ro.entry_uuid).where(_ro.entry_uuid.in_(_ids)).order_by(_ro.entry_uuid).with_for_update()
_LOCK_KEYS = text(
    "SELECT pg_advisory_xact_lock(t.k) FROM unnest(:keys) WITH ORDINALITY AS t(k, n) ORDER BY t.n"
).bindparams(bindparam("keys", type_=ARRAY(BigInteger)))
_LOCK_KEY_PERSON = b"xds-uniqueId"  # keeps these keys apart from any other use of advisory locks

# ITI-62: children before parents (side tables, kind tables, then registry_object).
_DELETE_ORDER = (
    document_code,
    reference_id,
    author_person,
    folder_code,
    document_entry,
    submission_set,
    folder,
    association,
    registry_object,
)
_DELETES = tuple(delete(table).where(table.c.entry_uuid.in_(_ids)) for table in _DELETE_ORDER)
# A removed DocumentEntry's blob is kept for the retention period (gc reads deleted_document).
_REMEMBER_DELETED = insert(deleted_document).from_select(
    ["entry_uuid", "hash", "deleted_at", "content_sha256"],
    select(
        document_entry.c.entry_uuid,
        func.lower(document_entry.c.hash),
        bindparam("deleted_at", type_=DateTime(timezone=True)),
        document_entry.c.content_sha256,
    ).where(document_entry.c.entry_uuid.in_(_ids), document_entry.c.hash.is_not(None)),
)
# A DocumentEntry written without its SHA-256 (an ITI-57 new version, an ITI-42 resubmission of a uniqueId)
# names the bytes of its earlier rows: the same logical id or uniqueId and the same SHA-1 (both rules make the
# hash identical), so it takes their blob key. Only rows of this repository's ITI-41 have one to take.
_sibling = document_entry.alias("sibling")
_INHERIT_SHA256 = (
    update(document_entry)
    .where(document_entry.c.entry_uuid.in_(_ids), document_entry.c.content_sha256.is_(None))
    .values(
        content_sha256=select(func.max(_sibling.c.content_sha256))
        .where(
            or_(
                _sibling.c.logical_id == document_entry.c.logical_id,
                _sibling.c.unique_id == document_entry.c.unique_id,
            ),
            func.lower(_sibling.c.hash) == func.lower(document_entry.c.hash),
            _sibling.c.content_sha256.is_not(None),
        )
        .scalar_subquery()
    )
)

# Inserts, parents before children.
INSERT_ORDER = (
    registry_object,
    document_entry,
    submission_set,
    folder,
    association,
    document_code,
    author_person,
    reference_id,
    folder_code,
)
_INSERTERS: dict[tuple[str, str], BulkInserter] = {}


def _inserter(dialect: Dialect) -> BulkInserter:
    key = (dialect.name, dialect.driver)
    inserter = _INSERTERS.get(key)
    if inserter is None:
        inserter = _INSERTERS[key] = BulkInserter(dialect, INSERT_ORDER)
    return inserter


class SqlRegistryStore:
    """``core.ports.RegistryStore`` over one open transaction (``connection``); never commits."""

    def __init__(self, connection: Connection, encode_xml: XmlEncoder) -> None:
        self._connection = connection
        self._encode_xml = encode_xml
        self._inserter = _inserter(connection.dialect)

    # ---- RegistryReader ----------------------------------------------------------------------------------

    def patient_state(self, patient_id: str) -> PatientState | None:
        with translate_db_errors():
            state = self._connection.execute(_PATIENT_STATE, {"patient_id": patient_id}).scalar_one_or_none()
        return None if state is None else PatientState(state)

    def summaries(self, entry_uuids: Collection[str]) -> dict[str, ObjectSummary]:
        found: dict[str, ObjectSummary] = {}
        for row in self._select_in(_SUMMARIES, entry_uuids):
            found[row.entry_uuid] = ObjectSummary(
                entry_uuid=row.entry_uuid,
                kind=cast(ObjectKind, row.kind),
                status=row.status,
                patient_id=row.patient_id,
                logical_id=row.logical_id,
                version=row.version,
                unique_id=row.unique_id,
                association_type=row.association_type,
                source=row.source_uuid,
                target=row.target_uuid,
            )
        return found

    def documents_by_unique_id(self, unique_ids: Collection[str]) -> list[StoredDocumentIdentity]:
        return [
            StoredDocumentIdentity(
                entry_uuid=row.entry_uuid,
                unique_id=row.unique_id,
                hash=row.hash,
                size=None if row.size is None else str(row.size),
            )
            for row in self._select_in(_DOCUMENTS_BY_UNIQUE_ID, unique_ids)
        ]

    def package_unique_ids_in_use(self, unique_ids: Collection[str]) -> set[str]:
        return {row.unique_id for row in self._select_in(_PACKAGE_UNIQUE_IDS, unique_ids)}

    def associations_touching(
        self, entry_uuids: Collection[str], types: Collection[str] | None = None
    ) -> list[ObjectSummary]:
        if types is not None and not types:
            return []
        statement = _ASSOCIATIONS_TOUCHING if types is None else _ASSOCIATIONS_TOUCHING_TYPED
        extra = {} if types is None else {"types": list(types)}
        found: dict[str, ObjectSummary] = {}  # an association may touch ids of two chunks
        for row in self._select_in(statement, entry_uuids, **extra):
            found.setdefault(
                row.entry_uuid,
                ObjectSummary(
                    entry_uuid=row.entry_uuid,
                    kind="Association",
                    status=row.status,
                    patient_id=None,
                    logical_id=row.logical_id,
                    version=row.version,
                    association_type=row.association_type,
                    source=row.source_uuid,
                    target=row.target_uuid,
                ),
            )
        return list(found.values())

    def latest_versions(self, logical_ids: Collection[str]) -> dict[str, ObjectSummary]:
        latest: dict[str, Any] = {}
        for row in self._select_in(_VERSIONS, logical_ids):
            if row.logical_id not in latest or row.version > latest[row.logical_id].version:
                latest[row.logical_id] = row
        found = self.summaries([row.entry_uuid for row in latest.values()])
        return {
            lid: dataclasses.replace(found[row.entry_uuid], object_type=row.object_type)
            for lid, row in latest.items()
            if row.entry_uuid in found
        }

    def lock_patient(self, patient_id: str) -> None:
        if self._connection.dialect.name != "postgresql":
            return  # SQLite: BEGIN IMMEDIATE, this transaction is the only writer
        with translate_db_errors():
            self._connection.execute(_LOCK_PATIENT, {"patient_id": patient_id}).all()

    def lock(self, entry_uuids: Collection[str], unique_ids: Collection[str]) -> None:
        if self._connection.dialect.name != "postgresql":
            return  # SQLite: BEGIN IMMEDIATE, this transaction is the only writer
        keys = sorted({unique_id_lock_key(u) for u in unique_ids})
        with translate_db_errors():
            if keys:
                self._connection.execute(_LOCK_KEYS, {"keys": keys})
            for chunk in _chunks(sorted(set(entry_uuids))):
                self._connection.execute(_LOCK_ROWS, {"ids": chunk}).all()

    # ---- retrieval and queries ---------------------------------------------------------------------------

    def xml_of(self, entry_uuids: Collection[str]) -> dict[str, str]:
        """Canonical XML of the given objects (unknown ids are absent), in insertion order."""
        return {row.entry_uuid: row.xml for row in self._select_in(_XML, entry_uuids)}

    def xml_records(self, entry_uuids: Collection[str]) -> list[StoredXml]:
        """XML plus the authoritative status (and Folder lastUpdateTime), in insertion order."""
        return [
            StoredXml(row.entry_uuid, cast(ObjectKind, row.kind), row.status, row.xml, row.last_update_time)
            for row in self._select_in(_XML_RECORDS, entry_uuids)
        ]

    # ---- RegistryWriter ----------------------------------------------------------------------------------

    def add_objects(self, objects: Sequence[AnyObject]) -> None:
        if not objects:
            return
        with translate_db_errors():
            rows = ObjectRows()
            if self._inserter.seq_from_sequence:  # the INSERT draws it
                for obj in objects:
                    rows.add(obj, None, self._encode_xml(obj))
            else:
                for obj, seq in zip(objects, self._allocate_seq(len(objects)), strict=True):
                    rows.add(obj, seq, self._encode_xml(obj))
            self._inserter.insert(self._connection, [(t.name, rows.by_table[t.name]) for t in INSERT_ORDER])
            entries = rows.by_table["document_entry"]
            for chunk in _chunks(row["entry_uuid"] for row in entries if not row["content_sha256"]):
                self._connection.execute(_INHERIT_SHA256, {"ids": chunk})

    def set_status(self, entry_uuids: Collection[str], status: str) -> None:
        with translate_db_errors():
            for chunk in _chunks(entry_uuids):
                params = {"ids": chunk, "new_status": status}
                kinds = set(self._connection.execute(_SET_STATUS, params).scalars())
                for kind in sorted(kinds):
                    self._connection.execute(_SET_KIND_STATUS[kind], params)

    def touch_folders(self, folder_uuids: Collection[str], last_update_time: str) -> None:
        value = normalise_dtm(last_update_time)
        with translate_db_errors():
            for chunk in _chunks(folder_uuids):
                self._connection.execute(_TOUCH_FOLDERS, {"ids": chunk, "last_update": value})

    def remove_objects(self, entry_uuids: Collection[str]) -> None:
        deleted_at = datetime.now(UTC)
        with translate_db_errors():
            for chunk in _chunks(entry_uuids):
                self._connection.execute(_REMEMBER_DELETED, {"ids": chunk, "deleted_at": deleted_at})
                for statement in _DELETES:
                    self._connection.execute(statement, {"ids": chunk})

    # ---- helpers -----------------------------------------------------------------------------------------

    def _select_in(self, statement: Any, values: Collection[str], **params: Any) -> Iterator[Any]:
        with translate_db_errors():
            for chunk in _chunks(values):
                yield from self._connection.execute(statement, {"ids": chunk, **params})

    def _allocate_seq(self, count: int) -> list[int]:
        """SQLite: the write lock is held since BEGIN IMMEDIATE, so max + 1 cannot be taken twice."""
        base = int(self._connection.execute(_MAX_SEQ).scalar_one())
        return list(range(base + 1, base + count + 1))


def unique_id_lock_key(unique_id: str) -> int:
    """The advisory-lock key of a uniqueId: a signed 64-bit hash, the same in every process."""
    digest = hashlib.blake2b(unique_id.encode(), digest_size=8, person=_LOCK_KEY_PERSON).digest()
    return int.from_bytes(digest, "big", signed=True)


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(values))  # dedupe, keep order
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


# ---- rows --------------------------------------------------------------------------------------------------


class ObjectRows:
    """Rows of one batch, per table; every row of a table has the same keys (one executemany each). Also the
    row builder of the bulk loader (storage/bulk_load.py), so both write exactly the same rows."""

    def __init__(self) -> None:
        self.by_table: dict[str, list[dict[str, Any]]] = {table.name: [] for table in INSERT_ORDER}

    def add(self, obj: AnyObject, seq: int | None, xml: str) -> None:
        """``seq`` None: the INSERT draws it from the sequence (PostgreSQL), so the row has no seq key."""
        kind = kind_of(obj)
        logical_id = obj.logical_id or obj.entry_uuid
        status = obj.status or Status.APPROVED.value  # new objects are Approved (ITI TF-3 4.1.1)
        patient_id = None if isinstance(obj, Association) else obj.patient_id
        unique_id = None if isinstance(obj, Association) else obj.unique_id
        row: dict[str, Any] = {
            "entry_uuid": obj.entry_uuid,
            "kind": kind,
            "logical_id": logical_id,
            "version": _version(obj),
            "status": status,
            "patient_id": patient_id,
            "unique_id": unique_id,
            "xml": xml,
        }
        if seq is not None:
            row["seq"] = seq
        self.by_table["registry_object"].append(row)
        if isinstance(obj, DocumentEntry):
            self._document(obj, logical_id, status)
        elif isinstance(obj, SubmissionSet):
            self._submission_set(obj, status)
        elif isinstance(obj, Folder):
            self._folder(obj, logical_id, status)
        else:
            self._association(obj, status)

    def _document(self, obj: DocumentEntry, logical_id: str, status: str) -> None:
        uuid = obj.entry_uuid
        self.by_table["document_entry"].append(
            {
                "entry_uuid": uuid,
                "patient_id": obj.patient_id,
                "status": status,
                "object_type": obj.object_type,
                "unique_id": obj.unique_id,
                "logical_id": logical_id,
                "class_code": _key(obj.class_code),
                "type_code": _key(obj.type_code),
                "format_code": _key(obj.format_code),
                "practice_setting_code": _key(obj.practice_setting_code),
                "healthcare_facility_type_code": _key(obj.healthcare_facility_type_code),
                "creation_time": normalise_dtm(obj.creation_time),
                "service_start_time": normalise_dtm(obj.service_start_time),
                "service_stop_time": normalise_dtm(obj.service_stop_time),
                "hash": obj.hash,
                "size": _size(obj.size),
                "repository_unique_id": obj.repository_unique_id,
                "mime_type": obj.mime_type,
                "content_sha256": obj.content_sha256,
            }
        )
        codes = self.by_table["document_code"]
        for attribute, values in (
            (EVENT_CODE, obj.event_codes),
            (CONFIDENTIALITY_CODE, obj.confidentiality_codes),
        ):
            for key in dict.fromkeys(code.key() for code in values):
                codes.append({"entry_uuid": uuid, "attribute": attribute, "code_key": key})
        self._authors(uuid, obj.authors)
        for value in dict.fromkeys(obj.reference_ids):
            self.by_table["reference_id"].append({"entry_uuid": uuid, "value": value})

    def _submission_set(self, obj: SubmissionSet, status: str) -> None:
        self.by_table["submission_set"].append(
            {
                "entry_uuid": obj.entry_uuid,
                "patient_id": obj.patient_id,
                "status": status,
                "unique_id": obj.unique_id,
                "source_id": obj.source_id,
                "submission_time": normalise_dtm(obj.submission_time),
                "content_type_code": _key(obj.content_type_code),
            }
        )
        self._authors(obj.entry_uuid, obj.authors)

    def _folder(self, obj: Folder, logical_id: str, status: str) -> None:
        self.by_table["folder"].append(
            {
                "entry_uuid": obj.entry_uuid,
                "patient_id": obj.patient_id,
                "status": status,
                "unique_id": obj.unique_id,
                "logical_id": logical_id,
                "last_update_time": normalise_dtm(obj.last_update_time),
            }
        )
        for key in dict.fromkeys(code.key() for code in obj.codes):
            self.by_table["folder_code"].append({"entry_uuid": obj.entry_uuid, "code_key": key})

    def _association(self, obj: Association, status: str) -> None:
        self.by_table["association"].append(
            {
                "entry_uuid": obj.entry_uuid,
                "association_type": obj.association_type,
                "source_uuid": obj.source,
                "target_uuid": obj.target,
                "status": status,
            }
        )

    def _authors(self, entry_uuid: str, authors: tuple[Author, ...]) -> None:
        rows = self.by_table["author_person"]
        for person in dict.fromkeys(a.person for a in authors if a.person):
            rows.append({"entry_uuid": entry_uuid, "person": person})


def _key(code: Code | None) -> str | None:
    return None if code is None else code.key()


def _size(value: str | None) -> int | None:
    """size as an integer when it is one (validation reports the others; they are kept in the XML)."""
    if value is None:
        return None
    digits = value.strip()
    return int(digits) if digits.isdigit() and len(digits) <= _MAX_BIGINT_DIGITS else None


def _version(obj: AnyObject) -> int:
    if obj.version is None:
        return 1
    try:
        return int(obj.version)
    except ValueError:
        raise XdsError.single(
            ErrorCode.REGISTRY_METADATA_ERROR, f"version {obj.version!r} is not an integer", obj.entry_uuid
        ) from None
