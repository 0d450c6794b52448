"""Read NIST testkit test plans (the testkit itself, not a copy) and order them.

Theory of operation: a test is a folder `tests/<id>/` whose `index.idx` lists its sections in run order;
each section folder holds a `testplan.xml` with `TestStep`s. A step carries at most one transaction element
(RegisterTransaction, StoredQueryTransaction, ...); a step without one only changes the runner's state
(`NewPatientId`). Tests reference each other through `UseId testdir=` / `UseReport test=` and, for the
data loaders, through their readme ("relies on test 12346"); those references give the run order: every
test runs after the tests it needs, otherwise in id order. Several roots can be read together (the copied
NIST testkit and our local cases); test ids must not collide.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

from .xmlutil import children, local, parse_xml, text_of

#: testplan element -> transaction label used in reports.
TRANSACTIONS: dict[str, str] = {
    "RegisterTransaction": "ITI-42",
    "ProvideAndRegisterTransaction": "ITI-41",
    "StoredQueryTransaction": "ITI-18",
    "RetrieveTransaction": "ITI-43",
    "MuTransaction": "ITI-57",
    "RemoveMetadataTransaction": "ITI-62",
    "MPQTransaction": "ITI-51",
    "PatientIdentityFeedTransaction": "ITI-8",
    "NullTransaction": "eval",
    "HttpTransaction": "ITI-41",  # raw PnR bodies (type pr.b)
}

#: engine flags read from the transaction element (presence only).
FLAGS = frozenset(
    {
        "XDSb",
        "AssignUuids",
        "NoPatientId",
        "AltPatientId",
        "NewPatientId",
        "CreateNewPatientId",
        "NoMetadata",
    }
)

_README_DEP = re.compile(r"\btests?\s+(\d{5}[a-z]?)\b", re.IGNORECASE)


class PlanError(ValueError):
    """The testkit data cannot be read as a plan."""


@dataclass(frozen=True)
class UseId:
    symbol: str
    section: str  # AssignedUuids | AssignedUids | AssignedPatientId
    object_id: str
    step: str
    testdir: str | None


@dataclass(frozen=True)
class UseReport:
    report_name: str
    use_as: str
    step: str
    section: str | None
    test: str | None


@dataclass(frozen=True)
class ReportDef:
    name: str
    source: str  # InputMetadata | Result
    xpath: str


@dataclass(frozen=True)
class Assertion:
    id: str
    xpath: str


@dataclass(frozen=True)
class ContentCheck:
    """One child of ExpectedContents: its name, attributes and (for MustOnlyInclude) its XML."""

    name: str
    attrs: tuple[tuple[str, str], ...] = ()
    xml: bytes = b""

    def attr(self, key: str) -> str | None:
        return dict(self.attrs).get(key)


def step_label(test_id: str, section: str, step_id: str) -> str:
    """``test/section/step``, or ``test/step`` for a test without sections (reports and log lines)."""
    return f"{test_id}/{section}/{step_id}" if section else f"{test_id}/{step_id}"


@dataclass(frozen=True)
class Step:
    test_id: str
    section: str
    step_id: str
    test_dir: Path
    section_dir: Path
    element: str | None  # transaction element name, None for a state-only step
    expected_status: str
    expected_error_codes: tuple[str, ...] = ()
    expected_error_messages: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    step_flags: frozenset[str] = frozenset()  # NewPatientId / AltPatientId written on the step itself
    no_assign_uids: tuple[str, ...] | None = None  # None: assign all; () : assign none; ids: keep these
    parse_metadata: bool = True
    metadata_files: tuple[Path, ...] = ()
    documents: tuple[tuple[str, Path], ...] = ()
    body_file: Path | None = None
    headers: tuple[tuple[str, str], ...] = ()
    http_type: str | None = None
    use_ids: tuple[UseId, ...] = ()
    use_reports: tuple[UseReport, ...] = ()
    reports: tuple[ReportDef, ...] = ()
    contents: tuple[ContentCheck, ...] | None = None
    assertions: tuple[Assertion, ...] = ()
    reference_documents: tuple[tuple[str, str], ...] = ()  # (uid symbol, path as written)
    reference_metadata: tuple[str | None, str] | None = None  # (testdir, step)
    wait_before_ms: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.test_id, self.section, self.step_id)

    @property
    def label(self) -> str:
        return step_label(self.test_id, self.section, self.step_id)

    @property
    def transaction(self) -> str:
        return TRANSACTIONS.get(self.element or "", "setup")


@dataclass(frozen=True)
class Section:
    name: str
    directory: Path
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # not a pytest class
    id: str
    directory: Path
    title: str
    sections: tuple[Section, ...]
    depends_on: tuple[str, ...]
    origin: str  # "nist" or "local"

    @property
    def steps(self) -> list[Step]:
        return [s for sec in self.sections for s in sec.steps]


@dataclass
class Testkit:
    __test__ = False  # not a pytest class
    tests: dict[str, TestCase] = field(default_factory=dict)

    def select(self, only: Sequence[str] = ()) -> list[TestCase]:
        """`order(only)`, where an `id/section` entry keeps only that section of the test, the sections
        it references and the earlier patient-setting sections (NewPatientId, feeds)."""
        wanted: dict[str, set[str]] = {}
        for item in only:
            tid, _, sec = item.partition("/")
            if sec:
                wanted.setdefault(tid, set()).add(sec)
            else:
                wanted[tid] = set()
        out = []
        for test in self.order(only):
            secs = wanted.get(test.id)
            if not secs:
                out.append(test)
                continue
            unknown = secs - {s.name for s in test.sections}
            if unknown:
                raise PlanError(f"test {test.id} has no section {sorted(unknown)[0]!r}")
            keep = _section_closure(test, secs)
            out.append(replace(test, sections=tuple(s for s in test.sections if s.name in keep)))
        return out

    def order(self, only: Sequence[str] = ()) -> list[TestCase]:
        """Tests in run order: dependencies first, otherwise by id; `only` keeps those and what they need."""
        wanted = sorted(self.tests) if not only else [t.split("/")[0] for t in only]
        for t in wanted:
            if t not in self.tests:
                raise PlanError(f"unknown test {t!r}")
        out: list[str] = []
        state: dict[str, int] = {}

        def visit(tid: str) -> None:
            if state.get(tid) == 2:
                return
            if state.get(tid) == 1:  # a cycle: keep going, the later reference finds missing symbols
                return
            state[tid] = 1
            for dep in sorted(self.tests[tid].depends_on):
                if dep in self.tests:
                    visit(dep)
            state[tid] = 2
            out.append(tid)

        for tid in wanted:
            visit(tid)
        return [self.tests[t] for t in out]


def _section_refs(test: TestCase, section: Section) -> set[str]:
    """Sections of the same test that the steps of `section` read from."""
    refs: set[str] = set()
    where = {st.step_id: sec.name for sec in test.sections for st in sec.steps}
    root = test.directory.parent
    for st in section.steps:
        dirs = [u.testdir for u in st.use_ids] + ([st.reference_metadata[0]] if st.reference_metadata else [])
        for u in st.use_ids:
            if not u.testdir and u.step not in {x.step_id for x in section.steps} and u.step in where:
                refs.add(where[u.step])
        for td in dirs:
            target = resolve_testdir(root, test.id, section.name, td) if td else None
            if target and target[0] == test.id:
                refs.add(target[1])
        for r in st.use_reports:
            if r.section and (not r.test or r.test == test.id):
                refs.add(r.section)
    return refs


def _section_closure(test: TestCase, wanted: set[str]) -> set[str]:
    keep = set(wanted)
    todo = list(wanted)
    by_name = {s.name: s for s in test.sections}
    while todo:
        sec = by_name.get(todo.pop())
        if sec is None:
            continue
        for ref in _section_refs(test, sec) - keep:
            keep.add(ref)
            todo.append(ref)
    last = max(i for i, s in enumerate(test.sections) if s.name in keep)
    for s in test.sections[:last]:
        if all(st.element in (None, "PatientIdentityFeedTransaction") for st in s.steps):
            keep.add(s.name)
    return keep


def _index(test_dir: Path) -> list[str]:
    idx = test_dir / "index.idx"
    if idx.exists():
        lines = [ln.strip() for ln in idx.read_text(encoding="utf-8", errors="replace").splitlines()]
        secs = [ln for ln in lines if ln and not ln.startswith("#")]
        if secs:
            return secs
    if (test_dir / "testplan.xml").exists():
        return [""]
    return sorted(d.name for d in test_dir.iterdir() if (d / "testplan.xml").exists())


def resolve_testdir(tests_root: Path, test_id: str, section: str, testdir: str) -> tuple[str, str] | None:
    """A `testdir` is relative to the section folder (`../submit`, `../../12346/single_doc`); a few plans
    write it relative to the test folder (`submit`). Returns (test id, section) or None."""
    base = tests_root / test_id
    for start in (base / section if section else base, base):
        target = Path(os.path.normpath(start / testdir))
        try:
            rel = target.relative_to(tests_root)
        except ValueError:
            continue
        parts = rel.parts
        if parts and (tests_root / parts[0]).is_dir() and (target / "testplan.xml").exists():
            return parts[0], "/".join(parts[1:])
        if parts and len(parts) == 1 and (tests_root / parts[0]).is_dir():
            return parts[0], ""
    return None


def _flag_children(tx: etree._Element) -> frozenset[str]:
    return frozenset(local(c) for c in tx if isinstance(c.tag, str) and local(c) in FLAGS)


def _parse_step(
    el: etree._Element, tests_root: Path, test_id: str, section: str, section_dir: Path
) -> tuple[Step, set[str]]:
    step_id = el.get("id") or "step"
    status_el = children(el, "ExpectedStatus")
    expected = text_of(status_el[0]) if status_el else "Success"
    codes = tuple(text_of(c) for c in children(el, "ExpectedErrorCode"))
    messages = tuple(text_of(c) for c in children(el, "ExpectedErrorMessage"))
    step_flags = frozenset(
        local(c) for c in el if isinstance(c.tag, str) and local(c) in ("NewPatientId", "AltPatientId")
    )
    tx = next((c for c in el if isinstance(c.tag, str) and local(c) in TRANSACTIONS), None)
    deps: set[str] = set()
    test_dir = tests_root / test_id
    if tx is None:
        return (
            Step(
                test_id,
                section,
                step_id,
                test_dir,
                section_dir,
                None,
                expected,
                codes,
                messages,
                step_flags=step_flags,
            ),
            deps,
        )
    no_assign: tuple[str, ...] | None = None
    for c in children(tx, "NoAssignUids"):
        oid = c.get("id")
        if oid is None:
            no_assign = ()
            break
        no_assign = (*(no_assign or ()), oid)
    if no_assign is not None and len(no_assign) == 0:
        no_assign = ()
    parse_md = True
    for c in children(tx, "ParseMetadata"):
        parse_md = text_of(c).lower() != "false"
    use_ids = []
    for u in children(tx, "UseId"):
        td = u.get("testdir")
        use_ids.append(
            UseId(u.get("symbol", ""), u.get("section", ""), u.get("id", ""), u.get("step", ""), td)
        )
        if td:
            r = resolve_testdir(tests_root, test_id, section, td)
            if r and r[0] != test_id:
                deps.add(r[0])
    use_reports = []
    for u in children(tx, "UseReport"):
        use_reports.append(
            UseReport(
                u.get("reportName", ""),
                u.get("useAs", ""),
                u.get("step", ""),
                u.get("section"),
                u.get("test"),
            )
        )
        if u.get("test") and u.get("test") != test_id:
            deps.add(u.get("test", ""))
    reports = tuple(
        ReportDef(r.get("name", ""), r.get("section", "Result"), text_of(r)) for r in children(tx, "Report")
    )
    contents: tuple[ContentCheck, ...] | None = None
    ec = children(tx, "ExpectedContents")
    if ec:
        contents = tuple(
            ContentCheck(local(c), tuple((str(k), str(v)) for k, v in c.attrib.items()), etree.tostring(c))
            for c in ec[0]
            if isinstance(c.tag, str)
        )
    assertions: list[Assertion] = []
    for a in children(tx, "Assertions"):
        assertions.extend(Assertion(x.get("id", "assert"), text_of(x)) for x in children(a, "Assert"))
    ref_md = None
    for rm in children(tx, "ReferenceMetadata"):
        ref_md = (rm.get("testdir"), rm.get("step", ""))
    headers: list[tuple[str, str]] = []
    for h in children(tx, "Headers"):
        for line in (h.text or "").splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                headers.append((k.strip(), v.strip()))
    body = children(tx, "BodyFile")
    wait = children(tx, "WaitBefore")
    step = Step(
        test_id=test_id,
        section=section,
        step_id=step_id,
        test_dir=test_dir,
        section_dir=section_dir,
        element=local(tx),
        expected_status=expected,
        expected_error_codes=codes,
        expected_error_messages=messages,
        flags=_flag_children(tx) | step_flags,
        step_flags=step_flags,
        no_assign_uids=no_assign,
        parse_metadata=parse_md,
        metadata_files=tuple(section_dir / text_of(m) for m in children(tx, "MetadataFile")),
        documents=tuple((d.get("id", ""), section_dir / text_of(d)) for d in children(tx, "Document")),
        body_file=section_dir / text_of(body[0]) if body else None,
        headers=tuple(headers),
        http_type=tx.get("type"),
        use_ids=tuple(use_ids),
        use_reports=tuple(use_reports),
        reports=reports,
        contents=contents,
        assertions=tuple(assertions),
        reference_documents=tuple((d.get("uid", ""), text_of(d)) for d in children(tx, "ReferenceDocument")),
        reference_metadata=ref_md,
        wait_before_ms=int(text_of(wait[0]) or 0) if wait else 0,
    )
    return step, deps


def load_test(tests_root: Path, test_id: str, origin: str, known_ids: Iterable[str] = ()) -> TestCase:
    test_dir = tests_root / test_id
    readme = test_dir / "readme.txt"
    readme_text = readme.read_text(encoding="utf-8", errors="replace") if readme.exists() else ""
    title = next((ln.strip() for ln in readme_text.splitlines() if ln.strip()), test_id)
    known = set(known_ids)
    deps = {m.group(1) for m in _README_DEP.finditer(readme_text) if m.group(1) in known}
    sections = []
    for sec in _index(test_dir):
        sdir = test_dir / sec if sec else test_dir
        tp = sdir / "testplan.xml"
        if not tp.exists():
            raise PlanError(f"{test_id}: section {sec!r} has no testplan.xml")
        root = parse_xml(tp.read_bytes())
        steps = []
        for el in children(root, "TestStep"):
            step, step_deps = _parse_step(el, tests_root, test_id, sec, sdir)
            steps.append(step)
            deps |= step_deps
        sections.append(Section(sec, sdir, tuple(steps)))
    deps.discard(test_id)
    return TestCase(test_id, test_dir, title, tuple(sections), tuple(sorted(deps)), origin)


def load_testkit(roots: Sequence[tuple[Path, str]]) -> Testkit:
    """Read every test under each (tests root, origin) pair."""
    kit = Testkit()
    ids: dict[str, Path] = {}
    for root, _origin in roots:
        for d in sorted(root.iterdir()):
            if d.is_dir():
                if d.name in ids:
                    raise PlanError(f"test id {d.name} exists in {ids[d.name]} and {root}")
                ids[d.name] = root
    for root, origin in roots:
        for d in sorted(root.iterdir()):
            if d.is_dir():
                kit.tests[d.name] = load_test(root, d.name, origin, ids)
    return kit
