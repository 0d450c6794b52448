"""SqlProfessionalDirectory: the directory streamed in from the extract, and searched in SQL by the rules of
core.professionals (the in-memory ``ProfessionalSearch.matches`` is the reference)."""

from __future__ import annotations

import pytest

from tests.core.test_professionals import sample_lines
from xds_server.core.professionals import ProfessionalSearch, group, group_runs, parse_extract
from xds_server.storage.database import Database
from xds_server.storage.professionals import SqlProfessionalDirectory


def loaded(database: Database, lines: list[str], batch: int = 2000) -> tuple[int, int]:
    with database.transaction() as connection:
        return SqlProfessionalDirectory(connection).replace(group_runs(parse_extract(lines)), batch=batch)


class TestReplace:
    @pytest.mark.parametrize("batch", [1, 3, 2000])
    def test_activities_apart_in_the_file_make_one_professional(self, database: Database, batch: int) -> None:
        header, *rows = sample_lines()
        # Jean-Pierre MARTIN's two activities (lines 2 and 3 of the sample) far apart
        shuffled = [header, rows[1], *rows[3:], rows[0], rows[2]]
        assert len(list(group_runs(parse_extract(shuffled)))) == 12  # his two runs come out apart
        assert loaded(database, shuffled, batch) == (11, 12)
        with database.transaction(readonly=True) as connection:
            directory = SqlProfessionalDirectory(connection)
            both = directory.get("810100000029")
            assert both is not None and [s.postal_code for s in both.sites] == ["69006", "69007"]
            assert directory.get("810100000011") is not None

    def test_a_reload_replaces_everything(self, database: Database) -> None:
        loaded(database, sample_lines())
        assert loaded(database, sample_lines()[:2]) == (1, 1)
        with database.transaction(readonly=True) as connection:
            assert SqlProfessionalDirectory(connection).get("810100000037") is None


class TestSearch:
    @pytest.mark.parametrize(
        ("name", "commune", "postal_code"),
        [
            ("martin", "lyon", None),
            ("martin", "Saint-Étienne", None),
            ("sophie", None, "42270"),
            ("bern", None, "75015"),
            ("bernard lucie", "paris", None),
            ("lefèvre hélène", None, "42000"),
            ("jean pierre", None, "69007"),
            ("zz", "lyon", None),
        ],
    )
    def test_sql_agrees_with_the_rules(
        self, database: Database, name: str, commune: str | None, postal_code: str | None
    ) -> None:
        loaded(database, sample_lines())
        search = ProfessionalSearch.of(name, commune, postal_code)
        reference = {p.national_id: search.matches(p) for p in group(parse_extract(sample_lines())).values()}
        with database.transaction(readonly=True) as connection:
            found, more = SqlProfessionalDirectory(connection).search(search, limit=20)
        assert not more
        assert {p.national_id: p.sites for p in found} == {k: v for k, v in reference.items() if v}
        assert [p.name_key for p in found] == sorted(p.name_key for p in found)

    def test_the_limit_and_more(self, database: Database) -> None:
        loaded(database, sample_lines())
        with database.transaction(readonly=True) as connection:
            directory = SqlProfessionalDirectory(connection)
            search = ProfessionalSearch.of("martin", "lyon")
            one, more = directory.search(search, limit=1)
            assert len(one) == 1 and more
            two, more = directory.search(search, limit=2)
            assert len(two) == 2 and not more
