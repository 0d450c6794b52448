"""The FHIR search value syntaxes the MHD searches share: dates and prefixes, tokens as XDS code keys,
author names as the engine's patterns, and the paging cursor."""

from __future__ import annotations

import pytest

from fhir_api.dates import date_range, interval
from fhir_api.outcome import FhirError
from fhir_api.paging import cursor, resume
from fhir_api.query import author_patterns, code_keys, intersect_codes
from fhir_api.search import SearchRequest
from xds_server.core.query import TimeRange


class TestDates:
    @pytest.mark.parametrize(
        ("value", "start", "end"),
        [
            ("2024", "20240101000000", "20250101000000"),
            ("2024-12", "20241201000000", "20250101000000"),
            ("2024-02-28", "20240228000000", "20240229000000"),
            ("2024-03-05T10:00:00Z", "20240305100000", "20240305100001"),
            ("2024-03-05T10:00:00+01:00", "20240305090000", "20240305090001"),
            ("2024-03-05T10:00Z", "20240305100000", "20240305100100"),
        ],
    )
    def test_interval(self, value: str, start: str, end: str) -> None:
        assert interval(value) == (start, end)

    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            (["2024"], TimeRange("20240101000000", "20250101000000")),
            (["ge2024"], TimeRange("20240101000000", None)),
            (["gt2024"], TimeRange("20250101000000", None)),
            (["sa2024"], TimeRange("20250101000000", None)),
            (["lt2024"], TimeRange(None, "20240101000000")),
            (["eb2024"], TimeRange(None, "20240101000000")),
            (["le2024"], TimeRange(None, "20250101000000")),
            (["ge2020", "lt2022", "ge2021"], TimeRange("20210101000000", "20220101000000")),
        ],
    )
    def test_prefixes(self, values: list[str], expected: TimeRange) -> None:
        assert date_range("creation", values) == expected

    @pytest.mark.parametrize("value", ["ne2024", "ap2024", "2024-13", "24", "2024-01-01T25:00:00Z", "soon"])
    def test_refused(self, value: str) -> None:
        with pytest.raises(FhirError) as raised:
            date_range("creation", [value])
        assert raised.value.status == 400


class TestTokens:
    def test_forms(self) -> None:
        assert code_keys("http://loinc.org|11488-4") == {"11488-4^^2.16.840.1.113883.6.1"}
        assert code_keys("urn:oid:1.2.3|A") == {"A^^1.2.3"}
        assert code_keys("A") == {"A^^*"}
        assert code_keys("|A") == frozenset()
        assert code_keys("urn:oid:1.2.3|A,B") == {"A^^1.2.3", "B^^*"}
        assert code_keys(r"urn:oid:1.2.3|A\,B") == {"A,B^^1.2.3"}

    def test_and_on_a_single_valued_attribute(self) -> None:
        assert intersect_codes([frozenset({"A^^*"}), frozenset({"A^^1.2"})]) == {"A^^1.2"}
        assert intersect_codes([frozenset({"A^^1.2"}), frozenset({"A^^*"})]) == {"A^^1.2"}
        assert intersect_codes([frozenset({"A^^*"}), frozenset({"B^^*"})]) == frozenset()
        assert intersect_codes([]) is None

    def test_no_code_is_400(self) -> None:
        with pytest.raises(FhirError):
            code_keys("urn:oid:1.2.3|")


class TestAuthors:
    def _patterns(self, *pairs: tuple[str, str]) -> frozenset[str] | None:
        return author_patterns(SearchRequest.of_pairs(list(pairs)), "author.given", "author.family")

    def test_patterns(self) -> None:
        assert self._patterns(("author.family", "Smith")) == {"%^Smith", "%^Smith^%"}
        assert self._patterns(("author.given", "John")) == {"%^%^John", "%^%^John^%"}
        assert self._patterns(("author.family", "Smith"), ("author.given", "John")) == {
            "%^Smith^John",
            "%^Smith^John^%",
        }
        assert self._patterns() is None

    def test_repeated_is_400(self) -> None:
        with pytest.raises(FhirError):
            self._patterns(("author.family", "A"), ("author.family", "B"))


class TestCursor:
    def test_resumes_after_the_last_sent(self) -> None:
        ids = ["a", "b", "c", "d"]
        assert resume(ids, None) == 0
        assert resume(ids, cursor(2, "b")) == 2
        # "a" left the result: resume after "b" all the same
        assert resume(["b", "c", "d"], cursor(2, "b")) == 1
        # "b" itself left: resume at the position
        assert resume(["a", "c", "d"], cursor(2, "b")) == 2
        assert resume(["a"], cursor(5, "zz")) == 1

    @pytest.mark.parametrize("token", ["%%%", "bm8tY29sb24", "LTE6YQ"])  # junk, "no-colon", "-1:a"
    def test_forged_is_400(self, token: str) -> None:
        with pytest.raises(FhirError):
            resume(["a"], token)
