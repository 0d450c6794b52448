"""The out-of-scope / deviation list: loadable, every entry justified and still pointing at real steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.nist.cli import SCOPE_FILE
from conformance.nist.plan import Testkit
from conformance.nist.scope import KINDS, ScopeError, load_scope


def test_the_file_loads_and_every_entry_has_a_kind_and_a_reason() -> None:
    scope = load_scope(SCOPE_FILE)
    assert scope.entries
    assert all(e.kind in KINDS and len(e.reason) > 20 for e in scope.entries)


def test_every_entry_still_matches_a_step(testkit: Testkit) -> None:
    steps = [s for t in testkit.tests.values() for s in t.steps]
    stale = [e.match for e in load_scope(SCOPE_FILE).entries if not any(e.applies(s) for s in steps)]
    assert stale == []


def test_deviation_fields(tmp_path: Path, testkit: Testkit) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[[step]]\nmatch = "20004/*_update/update"\nkind = "deviation"\nreason = "r"\n'
        'assign_uids = ["SubmissionSet01"]\nexpected_error_codes = ["X"]\ncounts = { Documents = 5 }\n'
    )
    [entry] = load_scope(path).entries
    assert entry.assign_uids == ("SubmissionSet01",) and entry.expected_error_codes == ("X",)
    assert entry.counts == (("Documents", 5),)
    matched = [s.label for t in testkit.tests.values() for s in t.steps if entry.applies(s)]
    assert matched == ["20004/failed_update/update", "20004/success_update/update"]


def test_transaction_filter(tmp_path: Path, testkit: Testkit) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[[step]]\nmatch = "12021/*"\ntransaction = "ITI-43"\nkind = "out-of-scope"\nreason = "r"\n'
    )
    [entry] = load_scope(path).entries
    assert [s.label for s in testkit.tests["12021"].steps if entry.applies(s)] == [
        "12021/retrieve/retrieve_double"
    ]


@pytest.mark.parametrize(
    "body",
    ['[[step]]\nmatch = "x"\nkind = "maybe"\nreason = "r"\n', '[[step]]\nmatch = "x"\nkind = "deviation"\n'],
)
def test_bad_entries_are_refused(tmp_path: Path, body: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(body)
    with pytest.raises(ScopeError):
        load_scope(path)
