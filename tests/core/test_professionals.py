"""The professional directory's pure rules: reading the Annuaire Santé extract, and what a search matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from xds_server.core.professionals import (
    ExtractError,
    ProfessionalSearch,
    SearchError,
    commune_key,
    group,
    parse_extract,
    search_key,
)

SAMPLE = Path(__file__).parents[1] / "data" / "annuaire" / "PS_LibreAcces_Personne_activite_sample.txt"


def sample_lines() -> list[str]:
    return SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)


class TestExtract:
    def test_the_sample_groups_activities_by_professional(self) -> None:
        lines = sample_lines()
        directory = group(parse_extract(lines))
        assert len(lines) - 1 == 12 and len(directory) == 11  # Jean-Pierre MARTIN works at two sites
        two_sites = directory["810100000029"]
        assert [s.postal_code for s in two_sites.sites] == ["69006", "69007"]
        assert two_sites.profession_code == "10" and two_sites.profession == "Médecin"
        adeli = directory["0421012345"]
        assert (adeli.family_name, adeli.profession_code) == ("ROUSSEAU", "70")
        assert adeli.communes == ("SAINT-ETIENNE",)

    def test_columns_are_found_by_name_not_position(self) -> None:
        header, *rows = [line.rstrip("\n").split("|") for line in sample_lines()]
        order = list(reversed(range(len(header))))
        shuffled = ["|".join(fields[i] for i in order) + "\n" for fields in (header, *rows)]
        assert group(parse_extract(shuffled)) == group(parse_extract(sample_lines()))

    def test_a_foreign_file_is_refused(self) -> None:
        with pytest.raises(ExtractError, match="no column Identification nationale PP"):
            list(parse_extract(["id;nom;prenom\n", "1;A;B\n"]))
        with pytest.raises(ExtractError, match="empty"):
            list(parse_extract([]))

    def test_a_truncated_line_is_refused_with_its_number(self) -> None:
        lines = sample_lines()
        lines[3] = "|".join(lines[3].split("|")[:20]) + "\n"
        with pytest.raises(ExtractError, match=r"^line 4: 20 fields"):
            list(parse_extract(lines))

    def test_a_line_without_identifier_or_name_is_refused(self) -> None:
        header = sample_lines()[0]
        fields = sample_lines()[1].split("|")
        no_id = fields.copy()
        no_id[2] = ""
        with pytest.raises(ExtractError, match="line 2: Identification nationale PP ''"):
            list(parse_extract([header, "|".join(no_id)]))
        no_name = fields.copy()
        no_name[7] = " "
        with pytest.raises(ExtractError, match="line 2: 810100000011: no Nom d'exercice"):
            list(parse_extract([header, "|".join(no_name)]))

    def test_blank_lines_are_skipped(self) -> None:
        lines = sample_lines()
        assert group(parse_extract([*lines[:3], "\n", "\r\n", *lines[3:]])) == group(parse_extract(lines))


class TestKeys:
    def test_accents_case_and_punctuation_are_ignored(self) -> None:
        assert search_key(" Saint-Étienne ") == search_key("SAINT ETIENNE") == "SAINT ETIENNE"
        assert search_key("LEFÈVRE Hélène") == "LEFEVRE HELENE"

    def test_the_arrondissement_is_dropped_from_a_commune(self) -> None:
        assert commune_key("PARIS 15E ARRONDISSEMENT") == commune_key("Paris") == "PARIS"
        assert commune_key("Lyon 1er Arrondissement") == "LYON"
        assert commune_key("SAINT-PRIEST-EN-JAREZ") == "SAINT PRIEST EN JAREZ"


class TestSearch:
    directory = group(parse_extract(sample_lines()))

    def found(self, name: str, commune: str | None = None, postal_code: str | None = None) -> set[str]:
        search = ProfessionalSearch.of(name, commune, postal_code)
        return {p.national_id for p in self.directory.values() if search.matches(p)}

    def test_name_and_commune(self) -> None:
        assert self.found("lefevre", "saint etienne") == {"810100000037"}
        assert self.found("Hélène Lefèvre", "Saint-Étienne") == {"810100000037"}
        assert self.found("martin", "Saint-Étienne") == {"810100000060"}  # Claire; Sophie is elsewhere

    def test_every_word_begins_a_word_of_the_name(self) -> None:
        assert self.found("bern", postal_code="75015") == {"810100000094", "810100000102"}
        assert self.found("bernard luc", postal_code="75015") == {"810100000094", "810100000102"}
        assert self.found("bernard lucie", postal_code="75015") == {"810100000102"}
        assert self.found("ernard", postal_code="75015") == set()  # not a prefix

    def test_the_place_decides_between_homonyms(self) -> None:
        assert self.found("sophie martin", "Lyon") == {"810100000011"}
        assert self.found("sophie martin", "Saint-Priest-en-Jarez") == {"810100000078"}
        assert self.found("sophie martin", postal_code="42000") == set()

    def test_only_the_sites_in_the_place_are_kept(self) -> None:
        search = ProfessionalSearch.of("martin jean", postal_code="69007")
        assert [s.postal_code for s in search.matches(self.directory["810100000029"])] == ["69007"]

    @pytest.mark.parametrize(
        ("name", "commune", "postal_code", "message"),
        [
            ("martin", None, None, "commune or the postal code"),
            ("martin", "Lyon", "69002", "commune or the postal code"),
            ("m", "Lyon", None, "at least two letters"),
            ("--", "Lyon", None, "at least two letters"),
            ("martin", None, "6900", "five digits"),
            ("martin", None, "69OO2", "five digits"),
            ("martin", "---", None, "no letters"),
        ],
    )
    def test_an_incomplete_search_is_refused(
        self, name: str, commune: str | None, postal_code: str | None, message: str
    ) -> None:
        with pytest.raises(SearchError, match=message):
            ProfessionalSearch.of(name, commune, postal_code)
