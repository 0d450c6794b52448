"""The policy's own constants are written into the SQL; anything else stays a bound parameter."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from xds_server.storage.query_sql import _constant_in
from xds_server.storage.tables import document_entry

TYPE = document_entry.c.type_code


def _sql(values: frozenset[str], dialect: object) -> tuple[str, dict[str, object]]:
    compiled = _constant_in(TYPE, values).compile(dialect=dialect)  # type: ignore[arg-type]
    return str(compiled), dict(compiled.params)


class TestConstantIn:
    def test_matrix_keys_are_literals_on_both_backends(self) -> None:
        values = frozenset({"11488-4^^2.16.840.1.113883.6.1", "60591-5^^2.16.840.1.113883.6.1"})
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            sql, params = _sql(values, dialect)
            assert sql == (
                "document_entry.type_code IN "
                "('11488-4^^2.16.840.1.113883.6.1', '60591-5^^2.16.840.1.113883.6.1')"
            )
            assert params == {}

    def test_a_value_with_a_quote_stays_a_bound_parameter(self) -> None:
        values = frozenset({"x') OR 1=1 --", "11488-4^^2.16.840.1.113883.6.1"})
        sql, params = _sql(values, sqlite.dialect())
        assert "OR 1=1" not in sql
        assert sorted(v for value in params.values() for v in value) == sorted(values)  # type: ignore[attr-defined]

    def test_a_percent_sign_stays_a_bound_parameter(self) -> None:
        sql, params = _sql(frozenset({"100%"}), postgresql.dialect())
        assert "100%" not in sql
        assert params

    def test_no_value_admits_nothing(self) -> None:
        sql, _ = _sql(frozenset(), sqlite.dialect())
        assert sql == "0"  # SQLite spells false() so
