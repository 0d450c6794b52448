"""The one list of steps the runner does not hold against the server, and of known testkit deviations.

`conformance/nist-out-of-scope.toml` holds `[[step]]` entries, each with a `reason`:
- `kind = "not-implemented"`: the server does not offer the transaction yet. Such a step is SKIPped only
  when the server really says so (wsa:ActionNotSupported or no such endpoint); any other failure counts.
- `kind = "out-of-scope"`: not something this server will do; a failure is reported as SKIP.
- `kind = "deviation"`: the testkit disagrees with the IHE TF; the runner checks the TF expectation given
  here (`expected_status`, `expected_error_codes`, `counts = {Documents = 5}`, `documents = "submitted"`:
  compare a retrieved document with the bytes the run submitted) instead of the plan's; or a request
  fix (`assign_uids = ["SubmissionSet01"]`: fresh uniqueIds for those objects despite NoAssignUids).
`match` is a glob on `test/section/step` (`12364/*`, `11897/leafclass/leafclass`); `transaction` (e.g.
"ITI-57") restricts an entry to one transaction. The list only shrinks.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from .plan import Step

KINDS = ("not-implemented", "out-of-scope", "deviation")


@dataclass(frozen=True)
class Entry:
    match: str
    kind: str
    reason: str
    transaction: str | None = None
    expected_status: str | None = None
    expected_error_codes: tuple[str, ...] | None = None
    counts: tuple[tuple[str, int], ...] = ()
    documents: str | None = None  # "submitted": compare retrieved bytes with what the run submitted
    assign_uids: tuple[str, ...] = ()  # objects given a fresh uniqueId despite NoAssignUids

    def applies(self, step: Step) -> bool:
        if self.transaction and step.transaction != self.transaction:
            return False
        key = f"{step.test_id}/{step.section}/{step.step_id}"
        return fnmatchcase(key, self.match) or fnmatchcase(f"{step.test_id}/{step.section}", self.match)


@dataclass
class Scope:
    entries: list[Entry] = field(default_factory=list)

    def find(self, step: Step, kind: str) -> Entry | None:
        return next((e for e in self.entries if e.kind == kind and e.applies(step)), None)


class ScopeError(ValueError):
    pass


def load_scope(path: Path) -> Scope:
    if not path.exists():
        return Scope()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = []
    for i, raw in enumerate(data.get("step", [])):
        kind = raw.get("kind")
        if kind not in KINDS:
            raise ScopeError(f"{path.name} entry {i}: kind must be one of {KINDS}")
        if not raw.get("reason") or not raw.get("match"):
            raise ScopeError(f"{path.name} entry {i}: match and reason are required")
        codes = raw.get("expected_error_codes")
        entries.append(
            Entry(
                match=raw["match"],
                kind=kind,
                reason=raw["reason"],
                transaction=raw.get("transaction"),
                expected_status=raw.get("expected_status"),
                expected_error_codes=tuple(codes) if codes is not None else None,
                counts=tuple((str(k), int(v)) for k, v in raw.get("counts", {}).items()),
                documents=raw.get("documents"),
                assign_uids=tuple(raw.get("assign_uids", ())),
            )
        )
    return Scope(entries)
