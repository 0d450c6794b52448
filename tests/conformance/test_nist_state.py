"""Placeholder substitution and the symbol table fed by earlier steps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conformance.nist.plan import Testkit, UseId, UseReport
from conformance.nist.state import MissingSymbol, RunState, StepRecord, builtin_symbols, substitute


class TestSubstitute:
    def test_longest_symbol_first(self) -> None:
        assert substitute("$uuid$ $uuid1$", {"$uuid$": "a", "$uuid1$": "b"}, escape=False) == "a b"

    def test_xml_escaping_of_values(self) -> None:
        out = substitute("<V>'$patient_id$'</V>", {"$patient_id$": "p^^^&1.2&ISO"}, escape=True)
        assert out == "<V>'p^^^&amp;1.2&amp;ISO'</V>"

    def test_raw_for_xpath(self) -> None:
        assert substitute("@id='orig_uuid'", {"orig_uuid": "urn:uuid:1"}, escape=False) == "@id='urn:uuid:1'"

    def test_unbound_symbols_stay(self) -> None:
        assert substitute("$x$", {}, escape=True) == "$x$"

    def test_now_is_a_later_dtm_than_last_year(self) -> None:
        b = builtin_symbols(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
        assert b["$now$"] == "20260102030406" and b["$lastyear$"] == "20250102030406"
        assert b["$DATE$"] == "20260102"


class TestLookups:
    def _state(self, testkit: Testkit) -> tuple[RunState, StepRecord]:
        state = RunState()
        for t in testkit.tests.values():
            state.tests_roots[t.id] = t.directory.parent
        submit = next(s for s in testkit.tests["12021"].steps if s.section == "submit")
        rec = StepRecord(submit, patient_id="P1", assigned_uuids={"Document01": "urn:uuid:d1"})
        rec.assigned_uids = {"Document01": "1.2.1", "Document02": "1.2.2"}
        state.add(rec)
        return state, rec

    def test_use_id_through_testdir(self, testkit: Testkit) -> None:
        state, _ = self._state(testkit)
        query = next(s for s in testkit.tests["12021"].steps if s.section == "query")
        assert state.bindings(query) == {"$docuid1$": "1.2.1", "$docuid2$": "1.2.2"}

    def test_implicit_reports(self, testkit: Testkit) -> None:
        _, rec = self._state(testkit)
        assert rec.report("Document01_uid") == "1.2.1"
        assert rec.report("Document01_uuid") == "urn:uuid:d1"
        assert rec.report("$patientid$") == "P1"
        assert rec.report("nothing") is None

    def test_use_report_by_section(self, testkit: Testkit) -> None:
        state, _ = self._state(testkit)
        retrieve = next(s for s in testkit.tests["12021"].steps if s.section == "retrieve")
        use = UseReport("Document02_uid", "$docuid2$", "submit", "submit", None)
        assert state.resolve_use_report(retrieve, use) == "1.2.2"

    def test_section_this(self, testkit: Testkit) -> None:
        state, _ = self._state(testkit)
        other = next(s for s in testkit.tests["12021"].steps if s.section == "submit")
        use = UseReport("Document01_uid", "$d$", "submit", "THIS", None)
        assert state.resolve_use_report(other, use) == "1.2.1"

    def test_step_named_without_its_section(self, testkit: Testkit) -> None:
        state, _ = self._state(testkit)
        retrieve = next(s for s in testkit.tests["12021"].steps if s.section == "retrieve")
        assert (
            state.resolve_use_id(retrieve, UseId("$x$", "AssignedUids", "Document01", "submit", None))
            == "1.2.1"
        )

    def test_missing(self, testkit: Testkit) -> None:
        state, _ = self._state(testkit)
        retrieve = next(s for s in testkit.tests["12021"].steps if s.section == "retrieve")
        with pytest.raises(MissingSymbol, match="not produced"):
            state.resolve_use_id(retrieve, UseId("$x$", "AssignedUids", "Folder", "submit", "../submit"))
        with pytest.raises(MissingSymbol, match="has not run"):
            state.resolve_use_id(retrieve, UseId("$x$", "AssignedUids", "Document01", "other", "../query"))
