"""The one boundary where database exceptions become XDS errors.

Everything SQLAlchemy or the drivers raise inside ``translate_db_errors()`` leaves it as an ``XdsError``
carrying an IHE code; nothing above the storage package ever sees a foreign exception:

    IntegrityError on submission_set.unique_id     -> XDSDuplicateUniqueIdInRegistry
    IntegrityError on a first Folder version's
    uniqueId (uq_registry_object_folder_unique_id) -> XDSDuplicateUniqueIdInRegistry
    IntegrityError on a later version's (logical_id,
    version) (uq_registry_object_later_version)    -> XDSMetadataVersionError (a concurrent update wrote
                                                      that version first)
    IntegrityError on registry_object primary key  -> XDSRegistryMetadataError (entryUUID already registered)
    DataError (value too long for its column ...)  -> XDSRegistryMetadataError
    SQLite "database is locked", PostgreSQL serialization failure / deadlock / lock or statement timeout,
    connection pool exhausted                      -> XDSRegistryBusy (the client may retry)
    disk full, out of memory, too many connections -> XDSRegistryOutOfResources
    anything else                                  -> XDSRegistryError (details logged, not returned)

Constraint names come from the naming convention in tables.py (PostgreSQL reports them in the diagnostics);
SQLite only reports ``UNIQUE constraint failed: <table>.<column>``, so both forms are recognised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc

from xds_server.core.errors import ErrorCode, XdsError

__all__ = ["translate_db_errors", "translate_exception"]

log = logging.getLogger(__name__)

# (PostgreSQL constraint name, SQLite "table.column" list) -> issue
_SS_UNIQUE_ID = ("uq_submission_set_unique_id", "submission_set.unique_id")
_OBJECT_PK = ("pk_registry_object", "registry_object.entry_uuid")
_FOLDER_UNIQUE_ID = ("uq_registry_object_folder_unique_id", "registry_object.unique_id")
_LATER_VERSION = ("uq_registry_object_later_version", "registry_object.logical_id, registry_object.version")

# SQLSTATE classes and codes (PostgreSQL Appendix A).
_BUSY_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57014"})  # serialization, deadlock, lock, timeout
_RESOURCE_SQLSTATES = frozenset({"53000", "53100", "53200", "53300", "53400"})


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Run the block; any database exception leaves it as an ``XdsError`` (chained to the original)."""
    try:
        yield
    except exc.SQLAlchemyError as error:
        raise translate_exception(error) from error


def translate_exception(error: exc.SQLAlchemyError) -> XdsError:
    """The ``XdsError`` that reports ``error`` to the client."""
    if isinstance(error, exc.IntegrityError):
        return _integrity(error)
    if isinstance(error, exc.DataError):
        log.info("registry rejected a value: %s", _message(error))
        return XdsError.single(
            ErrorCode.REGISTRY_METADATA_ERROR, "a metadata value does not fit the registry (too long?)"
        )
    if isinstance(error, exc.TimeoutError):  # connection pool exhausted
        return XdsError.single(ErrorCode.REGISTRY_BUSY, "registry busy: no database connection available")
    if isinstance(error, exc.DBAPIError):
        state = _sqlstate(error)
        text = _message(error).lower()
        if state in _BUSY_SQLSTATES or "database is locked" in text or "database table is locked" in text:
            return XdsError.single(ErrorCode.REGISTRY_BUSY, "registry busy, retry the transaction")
        if state in _RESOURCE_SQLSTATES or "database or disk is full" in text:
            return XdsError.single(ErrorCode.REGISTRY_OUT_OF_RESOURCES, "registry database out of resources")
    log.error("registry database error", exc_info=error)
    return XdsError.single(ErrorCode.REGISTRY_ERROR, "registry database error")


def _integrity(error: exc.IntegrityError) -> XdsError:
    constraint = _constraint_name(error)
    text = _message(error)
    if _matches(constraint, text, _SS_UNIQUE_ID):
        return XdsError.single(
            ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
            "the SubmissionSet uniqueId is already registered",
            "SubmissionSet.uniqueId",
        )
    if _matches(constraint, text, _FOLDER_UNIQUE_ID):
        return XdsError.single(
            ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
            "a Folder with this uniqueId is already registered",
            "Folder.uniqueId",
        )
    if _matches(constraint, text, _LATER_VERSION):
        return XdsError.single(
            ErrorCode.METADATA_VERSION_ERROR,
            "this version of the object was just written by another update: PreviousVersion is no longer "
            "the latest version",
            "lid",
        )
    if _matches(constraint, text, _OBJECT_PK):
        return XdsError.single(
            ErrorCode.REGISTRY_METADATA_ERROR,
            "an object with this entryUUID is already registered",
            "entryUUID",
        )
    log.error("registry integrity error", exc_info=error)
    return XdsError.single(ErrorCode.REGISTRY_ERROR, "registry integrity error")


def _matches(constraint: str | None, text: str, known: tuple[str, str]) -> bool:
    name, sqlite_columns = known
    if constraint is not None:
        return constraint == name
    return f"constraint failed: {sqlite_columns}" in text


def _constraint_name(error: exc.DBAPIError) -> str | None:
    diag = getattr(error.orig, "diag", None)  # psycopg
    name = getattr(diag, "constraint_name", None)
    return name if isinstance(name, str) else None


def _sqlstate(error: exc.DBAPIError) -> str | None:
    state = getattr(error.orig, "sqlstate", None)  # psycopg
    return state if isinstance(state, str) else None


def _message(error: exc.SQLAlchemyError) -> str:
    orig = getattr(error, "orig", None)
    return str(orig if orig is not None else error)
