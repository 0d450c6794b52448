"""What earlier steps produced, and `$placeholder$` substitution from it.

Each executed step leaves a `StepRecord`: the ids the runner assigned (AssignedUuids, AssignedUids,
AssignedPatientId, keyed by the symbolic id written in the metadata file), the named reports
(`Report name=`), the request as sent and the response. The NIST engine also publishes implicit reports
that plans rely on: `<symbolicId>_uuid`, `<symbolicId>_uid` and `$patientid$` (the patient the step used).
`UseId` / `UseReport` look those up and bind a symbol; the symbol is then replaced literally in the request
files (XML-escaped) and in assertion XPaths (raw).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lxml import etree

from .plan import Step, UseId, UseReport, resolve_testdir

SECTIONS = ("AssignedUuids", "AssignedUids", "AssignedPatientId")


class MissingSymbol(LookupError):
    """A UseId / UseReport points at something no earlier step produced."""


@dataclass
class StepRecord:
    step: Step
    patient_id: str | None = None
    assigned_uuids: dict[str, str] = field(default_factory=dict)
    assigned_uids: dict[str, str] = field(default_factory=dict)
    assigned_pids: dict[str, str] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    input_xml: etree._Element | None = None
    output: etree._Element | None = None

    def lookup(self, section: str, object_id: str) -> str | None:
        table = {
            "AssignedUuids": self.assigned_uuids,
            "AssignedUids": self.assigned_uids,
            "AssignedPatientId": self.assigned_pids,
        }.get(section, {})
        return table.get(object_id)

    def report(self, name: str) -> str | None:
        if name in self.reports:
            return self.reports[name]
        if name in ("$patientid$", "$patient_id$") and self.patient_id:
            return self.patient_id
        for suffix, table in (("_uuid", self.assigned_uuids), ("_uid", self.assigned_uids)):
            if name.endswith(suffix) and name[: -len(suffix)] in table:
                return table[name[: -len(suffix)]]
        return None


class Ids:
    """Fresh identifiers for one run: UUIDs and uniqueIds (OIDs under 2.25, unique without coordination)."""

    def uuid(self) -> str:
        return f"urn:uuid:{uuid.uuid4()}"

    def oid(self) -> str:
        return f"2.25.{uuid.uuid4().int}"


@dataclass
class RunState:
    tests_roots: dict[str, Path] = field(default_factory=dict)  # test id -> the tests root holding it
    records: dict[tuple[str, str, str], StepRecord] = field(default_factory=dict)
    last_by_step: dict[tuple[str, str], StepRecord] = field(default_factory=dict)  # (test, step id)

    def add(self, rec: StepRecord) -> None:
        self.records[rec.step.key] = rec
        self.last_by_step[(rec.step.test_id, rec.step.step_id)] = rec

    def _find(self, step: Step, test: str, section: str | None, step_id: str) -> StepRecord | None:
        rec = self.records.get((test, section, step_id)) if section is not None else None
        if rec is None and (section is None or test == step.test_id):
            # a step id named without its section: the latest run of that step in the test (12344/rplc)
            rec = self.last_by_step.get((test, step_id))
        return rec

    def resolve_use_id(self, step: Step, use: UseId) -> str:
        test, section = step.test_id, step.section
        if use.testdir:
            root = self.tests_roots.get(step.test_id)
            target = resolve_testdir(root, step.test_id, step.section, use.testdir) if root else None
            if target is None:
                raise MissingSymbol(f"UseId {use.symbol}: testdir {use.testdir!r} not found")
            test, section = target
        rec = self._find(step, test, section, use.step)
        if rec is None:
            raise MissingSymbol(f"UseId {use.symbol}: step {test}/{section}/{use.step} has not run")
        value = rec.lookup(use.section, use.object_id)
        if value is None:
            raise MissingSymbol(
                f"UseId {use.symbol}: {use.section}[{use.object_id}] not produced by {rec.step.label}"
            )
        return value

    def resolve_use_report(self, step: Step, use: UseReport) -> str:
        test = use.test or step.test_id
        section = step.section if use.section == "THIS" and not use.test else use.section
        rec = self._find(step, test, section, use.step)
        if rec is None:
            raise MissingSymbol(f"UseReport {use.use_as}: step {test}/{use.section}/{use.step} has not run")
        value = rec.report(use.report_name)
        if value is None:
            raise MissingSymbol(
                f"UseReport {use.use_as}: report {use.report_name!r} missing in {rec.step.label}"
            )
        return value

    def bindings(self, step: Step) -> dict[str, str]:
        """Symbol -> value for one step (UseId first, UseReport wins on the same symbol as NIST does)."""
        out: dict[str, str] = {}
        for u in step.use_ids:
            out[u.symbol] = self.resolve_use_id(step, u)
        for r in step.use_reports:
            out[r.use_as] = self.resolve_use_report(step, r)
        return out


def builtin_symbols(now: datetime | None = None) -> dict[str, str]:
    """Engine-provided symbols: `$DATE$` is today (UTC). `$now$` is an exclusive upper bound in 11899, so
    it is taken one second ahead, so that an object stored within the current second still falls before it."""
    t = (now or datetime.now(UTC)) + timedelta(seconds=1)
    return {
        "$DATE$": (now or datetime.now(UTC)).strftime("%Y%m%d"),
        "$now$": t.strftime("%Y%m%d%H%M%S"),
        "$lastyear$": (t - timedelta(days=365)).strftime("%Y%m%d%H%M%S"),
    }


def substitute(text: str, bindings: dict[str, str], escape: bool) -> str:
    """Replace every bound symbol literally, longest first (so `$uuid1$` is not eaten by `$uuid$`)."""
    from .xmlutil import xml_escape

    if not bindings:
        return text
    keys = sorted((k for k in bindings if k), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys))
    return pattern.sub(lambda m: xml_escape(bindings[m.group(0)]) if escape else bindings[m.group(0)], text)


def unresolved_symbols(text: str) -> list[str]:
    return sorted(set(re.findall(r"\$[A-Za-z_][A-Za-z0-9_]*\$", text)))
