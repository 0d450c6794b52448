"""The plan reader: tests, sections and steps as the testkit writes them, and the run order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.nist.plan import PlanError, Testkit, resolve_testdir


def _manifest(nist_tests: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    data = json.loads((nist_tests.parent / "manifest.json").read_text())
    return {c["id"]: c for c in data["cases"]}


class TestLoading:
    def test_every_nist_test_and_step_is_read(self, testkit: Testkit, nist_tests: Path) -> None:
        nist = {k: v for k, v in testkit.tests.items() if v.origin == "nist"}
        assert len(nist) == 102
        assert sum(len(t.steps) for t in nist.values()) == 636

    def test_sections_steps_and_statuses_match_the_generated_manifest(
        self, testkit: Testkit, nist_tests: Path
    ) -> None:
        # the manifest is produced by another reader (gen_manifest.py): a cross-check, not our input
        for tid, case in _manifest(nist_tests).items():
            ours = testkit.tests[tid]
            theirs = [
                (s["section"] if s["section"] != "(root)" else "", st["step"], st["expected_status"])
                for s in case["sections"]
                for st in s.get("steps", [])
            ]
            assert [(s.section, s.step_id, s.expected_status) for s in ours.steps] == theirs, tid

    def test_transactions_match_the_manifest(self, testkit: Testkit, nist_tests: Path) -> None:
        labels = {"none (evaluation only)": "eval", "raw HTTP (ITI-41 body supplied verbatim)": "ITI-41"}
        for tid, case in _manifest(nist_tests).items():
            theirs = [
                labels.get(st.get("transaction"), st.get("transaction")) or "setup"
                for s in case["sections"]
                for st in s.get("steps", [])
            ]
            assert [s.transaction for s in testkit.tests[tid].steps] == theirs, tid


class TestStepDetails:
    def test_no_assign_uids_for_one_object(self, testkit: Testkit) -> None:
        step = next(s for s in testkit.tests["12004"].steps if s.step_id == "resubmit_doc")
        assert step.no_assign_uids == ("Document01",)
        assert step.use_ids[0].symbol == "$doc_uid$"

    def test_step_level_patient_flags(self, testkit: Testkit) -> None:
        alt = testkit.tests["11996"].steps[0]
        assert "AltPatientId" in alt.flags and alt.element == "RegisterTransaction"
        new = testkit.tests["12344"].steps[0]
        assert new.element is None and "NewPatientId" in new.step_flags

    def test_retrieve_reference_documents_and_metadata(self, testkit: Testkit) -> None:
        step = next(s for s in testkit.tests["12021"].steps if s.section == "retrieve")
        assert step.reference_documents == (
            ("$docuid1$", "submit/my_document.txt"),
            ("$docuid2$", "submit/my_document2.txt"),
        )
        assert step.reference_metadata == ("../query", "by_uid")

    def test_raw_http_body_and_headers(self, testkit: Testkit) -> None:
        step = next(s for s in testkit.tests["PnrXop"].steps if s.section == "Xop")
        assert step.body_file is not None and step.body_file.name == "body.txt"
        assert dict(step.headers)["Content-Type"].startswith("multipart/related")

    def test_parse_metadata_false(self, testkit: Testkit) -> None:
        removes = [s for s in testkit.tests["30001"].steps if s.element == "RemoveMetadataTransaction"]
        assert removes and not any(s.parse_metadata for s in removes)

    def test_expected_contents_and_reports(self, testkit: Testkit) -> None:
        step = next(s for s in testkit.tests["12021"].steps if s.section == "query")
        assert [(c.name, c.attr("count")) for c in step.contents or ()] == [("Documents", "2")]
        assert step.reports[0].name == "repuid" and step.reports[0].source == "Result"


class TestTestdir:
    def test_relative_to_the_section(self, nist_tests: Path) -> None:
        assert resolve_testdir(nist_tests, "11897", "approved", "../../12346/single_doc") == (
            "12346",
            "single_doc",
        )

    def test_relative_to_the_test_as_some_plans_write_it(self, nist_tests: Path) -> None:
        assert resolve_testdir(nist_tests, "12021", "retrieve", "submit") == ("12021", "submit")
        assert resolve_testdir(nist_tests, "12021", "retrieve", "../submit") == ("12021", "submit")

    def test_unknown(self, nist_tests: Path) -> None:
        assert resolve_testdir(nist_tests, "12021", "retrieve", "../nowhere") is None


class TestOrder:
    def test_index_order_of_sections(self, testkit: Testkit, nist_tests: Path) -> None:
        idx = (nist_tests / "20001" / "index.idx").read_text().split()
        assert [s.name for s in testkit.tests["20001"].sections] == idx

    def test_dependencies_run_first(self, testkit: Testkit) -> None:
        order = [t.id for t in testkit.order()]
        assert order.index("15818") < order.index("12346") < order.index("11897")
        assert order.index("15817") < order.index("11990")
        assert order.index("12361") < order.index("12364")
        assert order.index("12374") < order.index("12368")
        assert len(order) == len(set(order)) == len(testkit.tests)

    def test_only_keeps_what_the_test_needs(self, testkit: Testkit) -> None:
        assert [t.id for t in testkit.order(["11897"])] == ["15818", "12346", "11897"]
        assert [t.id for t in testkit.order(["11897/leafclass"])] == ["15818", "12346", "11897"]

    def test_unknown_test(self, testkit: Testkit) -> None:
        with pytest.raises(PlanError):
            testkit.order(["99999"])


class TestSelectSections:
    def test_a_section_brings_the_sections_it_reads(self, testkit: Testkit) -> None:
        [t] = testkit.select(["12021/retrieve"])
        assert [s.name for s in t.sections] == ["submit", "query", "retrieve"]

    def test_earlier_patient_setting_sections_are_kept(self, testkit: Testkit) -> None:
        [t] = testkit.select(["12344/rplc"])
        assert [s.name for s in t.sections] == ["new_patient_id", "submit_doc_for_rplc", "rplc"]

    def test_dependency_tests_stay_whole(self, testkit: Testkit) -> None:
        tests = testkit.select(["11897/leafclass"])
        assert [t.id for t in tests] == ["15818", "12346", "11897"]
        assert len(tests[1].sections) == 5 and [s.name for s in tests[2].sections] == ["leafclass"]

    def test_unknown_section(self, testkit: Testkit) -> None:
        with pytest.raises(PlanError, match="no section"):
            testkit.select(["12021/nope"])
