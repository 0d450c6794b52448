"""translate_db_errors: the classification table, with driver errors as the drivers raise them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import pytest
from sqlalchemy import exc

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.storage.errors import translate_db_errors, translate_exception


@dataclass
class Diag:
    constraint_name: str | None = None


class PsycopgLikeError(Exception):
    """What psycopg errors carry that the translation reads: sqlstate and diag.constraint_name."""

    def __init__(self, message: str, sqlstate: str, constraint: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.diag = Diag(constraint)


def wrap(kind: type[exc.DBAPIError], orig: Exception) -> exc.DBAPIError:
    return kind("INSERT ...", {}, orig)


def code_of(error: exc.SQLAlchemyError) -> ErrorCode:
    (issue,) = translate_exception(error).issues
    return issue.code


class TestIntegrity:
    def test_sqlite_duplicate_submission_set_unique_id(self) -> None:
        orig = sqlite3.IntegrityError("UNIQUE constraint failed: submission_set.unique_id")
        assert code_of(wrap(exc.IntegrityError, orig)) is ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY

    def test_postgres_duplicate_submission_set_unique_id(self) -> None:
        orig = PsycopgLikeError("duplicate key", "23505", "uq_submission_set_unique_id")
        assert code_of(wrap(exc.IntegrityError, orig)) is ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY

    def test_existing_entry_uuid(self) -> None:
        sqlite_orig = sqlite3.IntegrityError("UNIQUE constraint failed: registry_object.entry_uuid")
        pg_orig = PsycopgLikeError("duplicate key", "23505", "pk_registry_object")
        assert code_of(wrap(exc.IntegrityError, sqlite_orig)) is ErrorCode.REGISTRY_METADATA_ERROR
        assert code_of(wrap(exc.IntegrityError, pg_orig)) is ErrorCode.REGISTRY_METADATA_ERROR

    def test_postgres_constraint_name_wins_over_message_text(self) -> None:
        orig = PsycopgLikeError(
            "submission_set.unique_id", "23503", "fk_document_code_entry_uuid_document_entry"
        )
        assert code_of(wrap(exc.IntegrityError, orig)) is ErrorCode.REGISTRY_ERROR

    def test_other_constraints_are_registry_errors(self) -> None:
        orig = sqlite3.IntegrityError("FOREIGN KEY constraint failed")
        assert code_of(wrap(exc.IntegrityError, orig)) is ErrorCode.REGISTRY_ERROR


class TestBusy:
    @pytest.mark.parametrize("message", ["database is locked", "database table is locked"])
    def test_sqlite_locked(self, message: str) -> None:
        orig = sqlite3.OperationalError(message)
        assert code_of(wrap(exc.OperationalError, orig)) is ErrorCode.REGISTRY_BUSY

    @pytest.mark.parametrize("sqlstate", ["40001", "40P01", "55P03", "57014"])
    def test_postgres_transient_failures(self, sqlstate: str) -> None:
        orig = PsycopgLikeError("could not serialize access", sqlstate)
        assert code_of(wrap(exc.OperationalError, orig)) is ErrorCode.REGISTRY_BUSY

    def test_pool_exhausted(self) -> None:
        assert code_of(exc.TimeoutError("QueuePool limit reached")) is ErrorCode.REGISTRY_BUSY


class TestResources:
    def test_sqlite_disk_full(self) -> None:
        orig = sqlite3.OperationalError("database or disk is full")
        assert code_of(wrap(exc.OperationalError, orig)) is ErrorCode.REGISTRY_OUT_OF_RESOURCES

    @pytest.mark.parametrize("sqlstate", ["53100", "53200", "53300"])
    def test_postgres_insufficient_resources(self, sqlstate: str) -> None:
        orig = PsycopgLikeError("too many connections", sqlstate)
        assert code_of(wrap(exc.OperationalError, orig)) is ErrorCode.REGISTRY_OUT_OF_RESOURCES


class TestOthers:
    def test_value_too_long(self) -> None:
        orig = PsycopgLikeError("value too long for type character varying(40)", "22001")
        assert code_of(wrap(exc.DataError, orig)) is ErrorCode.REGISTRY_METADATA_ERROR

    def test_anything_else_is_a_registry_error_without_details(self) -> None:
        orig = sqlite3.OperationalError("no such table: secret_table")
        error = translate_exception(wrap(exc.OperationalError, orig))
        assert [i.code for i in error.issues] == [ErrorCode.REGISTRY_ERROR]
        assert "secret_table" not in str(error)

    def test_non_dbapi_sqlalchemy_errors(self) -> None:
        assert code_of(exc.InvalidRequestError("bad usage")) is ErrorCode.REGISTRY_ERROR


class TestBoundary:
    def test_translates_and_chains(self) -> None:
        original = wrap(exc.OperationalError, sqlite3.OperationalError("database is locked"))
        with pytest.raises(XdsError) as raised, translate_db_errors():
            raise original
        assert raised.value.__cause__ is original

    def test_other_exceptions_pass_unchanged(self) -> None:
        with pytest.raises(KeyError), translate_db_errors():
            raise KeyError("not a database error")

    def test_xds_errors_pass_unchanged(self) -> None:
        error = XdsError.single(ErrorCode.UNKNOWN_PATIENT_ID, "x")
        with pytest.raises(XdsError) as raised, translate_db_errors():
            raise error
        assert raised.value is error
