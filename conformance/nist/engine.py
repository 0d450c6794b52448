"""Run test plans against a server: build each step's request, send it, check its expectations.

Theory of operation. Tests run in `Testkit.order()`; sections in index.idx order; steps in file order.
A step's symbols come from earlier steps (`RunState`) plus engine symbols (patient ids, `$now$`). The
request is rendered from the step's files, sent with the step's WS-Addressing action (registry endpoint
for ITI-42/18/51/57/62, repository endpoint for ITI-41/43), and the response is checked (`expect`).

Outcomes: PASS, FAIL, or SKIP with a reason. The ITI-8 feed steps and NewPatientId set-ups send the testkit's
ADT^A01 for a fresh patient to the server's MLLP listener (`feed.MllpFeeder`): PASS on MSA AA, FAIL otherwise.
SKIP is reserved for
- the ITI-8 feed steps and NewPatientId steps when the runner has no MLLP address (it then registers the
  patients itself);
- steps whose transaction the server says it does not offer (wsa:ActionNotSupported, or no endpoint),
  when `nist-out-of-scope.toml` lists them as not implemented (otherwise they FAIL);
- steps listed as out of scope whose check failed;
- later steps of a test (or of a test depending on it) that fail after such a skip ("blocked by").
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from lxml import etree

from . import expect
from .feed import FeedError, MllpFeeder
from .metadata import PATIENT_ID_SCHEMES, UNIQUE_ID_SCHEMES, prepare_submission
from .patients import PatientPool, RegistrationError
from .plan import ContentCheck, Step, TestCase, UseId, resolve_testdir, step_label
from .scope import Entry, Scope
from .soap import (
    Request,
    Response,
    SecurityHeader,
    decode_response,
    document_bytes,
    envelope,
    insert_header_block,
    mtom_request,
    plain_request,
    xop_document,
)
from .state import Ids, MissingSymbol, RunState, StepRecord, builtin_symbols, substitute
from .translate import translate_to_v3
from .xmlutil import XDSB, XmlError, children, descendants, parse_xml, text_of

ACTIONS = {
    "RegisterTransaction": "urn:ihe:iti:2007:RegisterDocumentSet-b",
    "ProvideAndRegisterTransaction": "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
    "StoredQueryTransaction": "urn:ihe:iti:2007:RegistryStoredQuery",
    "RetrieveTransaction": "urn:ihe:iti:2007:RetrieveDocumentSet",
    "MuTransaction": "urn:ihe:iti:2010:UpdateDocumentSet",
    "RemoveMetadataTransaction": "urn:ihe:iti:2010:DeleteDocumentSet",
    "MPQTransaction": "urn:ihe:iti:2009:MultiPatientStoredQuery",
}
REPOSITORY_ELEMENTS = frozenset({"ProvideAndRegisterTransaction", "RetrieveTransaction", "HttpTransaction"})
#: NIST orchestration parameters: test data written for fixed feeds (12361 loads one patient per file).
ORCHESTRATION_PATIENTS = {"$patient_id1$": "15819", "$patient_id2$": "15820"}
DEFAULT_PATIENT_TEST = "15817"
REQUEST_TIMEOUT = 30.0


@dataclass
class StepResult:
    test_id: str
    section: str
    step_id: str
    transaction: str
    outcome: str  # PASS | FAIL | SKIP
    reason: str = ""
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return step_label(self.test_id, self.section, self.step_id)


class Transport:
    """httpx with a timeout on every request; transport errors become Response.error."""

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT, client: httpx.Client | None = None):
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))
        self.registry_url = f"{self.base_url}/xds/registry"
        self.repository_url = f"{self.base_url}/xds/repository"

    def post(self, url: str, req: Request) -> Response:
        try:
            r = self.client.post(url, content=req.body, headers={"Content-Type": req.content_type})
        except httpx.HTTPError as exc:
            return Response(0, None, error=f"transport error: {type(exc).__name__}: {exc}")
        resp = decode_response(r.status_code, r.headers.get("content-type", ""), r.content)
        if resp.error and r.status_code in (404, 405):
            resp.error = f"endpoint missing (HTTP {r.status_code} on {url})"
        return resp

    def close(self) -> None:
        self.client.close()


class StepFailed(Exception):
    """The request could not even be built (bad data, missing symbol)."""


def _not_implemented(resp: Response | None) -> str | None:
    if resp is None:
        return None
    if resp.action_not_supported:
        return "server answered wsa:ActionNotSupported"
    if resp.error.startswith("endpoint missing"):
        return resp.error
    return None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StepFailed(f"cannot read {path.name}: {exc}") from exc


def _find_file(step: Step, written: str) -> Path:
    for base in (step.section_dir, step.test_dir):
        p = base / written
        if p.exists():
            return p
    raise StepFailed(f"file {written!r} not found")


class Runner:
    def __init__(
        self,
        transport: Transport,
        pool: PatientPool,
        scope: Scope,
        state: RunState | None = None,
        ids: Ids | None = None,
        security: SecurityHeader | None = None,
        on_result: Callable[[StepResult], None] | None = None,
        feeder: MllpFeeder | None = None,
    ):
        self.transport = transport
        self.feeder = feeder
        self.pool = pool
        self.scope = scope
        self.state = state or RunState()
        self.ids = ids or Ids()
        self.security = security
        self.on_result = on_result
        self.pif_patients: dict[str, str] = {}
        self.test_patient: dict[str, str] = {}
        self.blocked: dict[str, str] = {}  # test id -> label of the skipped step blocking it
        self.depends: dict[str, tuple[str, ...]] = {}
        self.results: list[StepResult] = []
        self.deadline: float | None = None  # time.monotonic() after which no request is sent
        self.section_records: list[StepRecord] = []  # steps of the running section, in run order
        self.submitted: dict[str, bytes] = {}  # document uniqueId -> bytes sent by a PnR step

    # ------------------------------------------------------------------ patients

    def pif_patient(self, test_id: str) -> str:
        if test_id not in self.pif_patients:
            self.pif_patients[test_id] = self.pool.new()
        return self.pif_patients[test_id]

    def step_patient(self, step: Step, bind: dict[str, str]) -> str:
        if "$patientid$" in bind:  # UseReport ... useAs="$patientid$" selects the step's patient
            return bind["$patientid$"]
        if "AltPatientId" in step.flags:
            return self.pool.unknown()
        return self.test_patient.get(step.test_id) or self.pif_patient(DEFAULT_PATIENT_TEST)

    # ------------------------------------------------------------------ running

    def run(self, tests: list[TestCase]) -> list[StepResult]:
        for t in tests:
            self.depends[t.id] = t.depends_on
            self.state.tests_roots[t.id] = t.directory.parent
        for t in tests:
            for section in t.sections:
                self.section_records = []
                for step in section.steps:
                    if self.deadline is not None and time.monotonic() > self.deadline:
                        res = StepResult(step.test_id, step.section, step.step_id, step.transaction, "FAIL")
                        res.reason = "not run: the run's time budget is exhausted"
                        self._emit(res)
                        continue
                    self._emit(self.run_step(step))
        return self.results

    def _emit(self, res: StepResult) -> None:
        self.results.append(res)
        if self.on_result:
            self.on_result(res)

    def _blocker(self, test_id: str) -> str | None:
        if test_id in self.blocked:
            return self.blocked[test_id]
        for dep in self.depends.get(test_id, ()):
            if dep in self.blocked:
                return self.blocked[dep]
        return None

    def run_step(self, step: Step) -> StepResult:
        started = time.monotonic()
        res = StepResult(step.test_id, step.section, step.step_id, step.transaction, "PASS")
        resp: Response | None = None
        try:
            if step.wait_before_ms:
                time.sleep(min(step.wait_before_ms, 10_000) / 1000)
            if step.element in (None, "PatientIdentityFeedTransaction"):
                self._feed(step, res)
                res.seconds = time.monotonic() - started
                return res
            problems, resp = self._execute(step)
        except MissingSymbol as exc:
            problems = [f"unresolved reference: {exc}"]
        except (StepFailed, XmlError) as exc:
            problems = [f"cannot build request: {exc}"]
        except RegistrationError as exc:
            problems = [f"patient registration failed: {exc}"]
        res.seconds = time.monotonic() - started
        self._judge(step, res, problems, resp)
        return res

    def _judge(self, step: Step, res: StepResult, problems: list[str], resp: Response | None) -> None:
        deviation = self.scope.find(step, "deviation")
        if deviation:
            res.details.append(f"known testkit deviation: {deviation.reason}")
        if not problems:
            if resp is not None and resp.errors():  # what the server said, e.g. on an expected Failure
                res.details.append("server errors: " + ", ".join(e["errorCode"] for e in resp.errors()))
            listed = self.scope.find(step, "not-implemented") or self.scope.find(step, "out-of-scope")
            if listed:
                res.details.append(f"passes although listed as {listed.kind}: remove it from the list")
            return
        res.details.extend(problems)
        missing = _not_implemented(resp)
        if missing:
            entry = self.scope.find(step, "not-implemented")
            if entry:
                res.outcome, res.reason = (
                    "SKIP",
                    f"transaction not implemented yet ({missing}): {entry.reason}",
                )
                self.blocked.setdefault(step.test_id, res.label)
                return
            res.outcome, res.reason = "FAIL", f"transaction not implemented yet ({missing}), not listed"
            return
        entry = self.scope.find(step, "out-of-scope")
        if entry:
            res.outcome, res.reason = "SKIP", f"out of scope: {entry.reason}"
            self.blocked.setdefault(step.test_id, res.label)
            return
        blocker = self._blocker(step.test_id)
        if blocker:
            res.outcome, res.reason = "SKIP", f"blocked by skipped step {blocker}"
            return
        res.outcome, res.reason = "FAIL", problems[0]

    def _feed(self, step: Step, res: StepResult) -> None:
        """ITI-8 feed / NewPatientId: through the server's MLLP listener when there is one, else the runner
        registers the patient itself (SKIP)."""
        if self.feeder is not None:
            self._feed_mllp(step, res, self.feeder)
            return
        if "CreateNewPatientId" in step.flags or "NewPatientId" in step.flags:
            pid = self.pool.new()
        elif step.element == "PatientIdentityFeedTransaction":
            pid = self.pif_patient(step.test_id)
        else:
            pid = self.pool.new()
        self.test_patient[step.test_id] = pid
        self.state.add(StepRecord(step, patient_id=pid, reports={"$patientid$": pid}))
        res.outcome = "SKIP"
        what = "ITI-8 patient feed" if step.element else "NewPatientId"
        res.reason = f"{what} replaced by the runner (registered {pid})"

    def _feed_mllp(self, step: Step, res: StepResult, feeder: MllpFeeder) -> None:
        new = "CreateNewPatientId" in step.flags or "NewPatientId" in step.flags or step.element is None
        if new or step.test_id not in self.pif_patients:
            pid = self.pool.unknown()  # a fresh id: this feed is what makes the server know it
            if not new:
                self.pif_patients[step.test_id] = pid
        else:
            pid = self.pif_patients[step.test_id]
        try:
            code, reason = feeder.send(pid)
        except FeedError as exc:
            res.outcome, res.reason = "FAIL", f"ITI-8 feed of {pid} failed: {exc}"
            return
        self.test_patient[step.test_id] = pid
        self.state.add(StepRecord(step, patient_id=pid, reports={"$patientid$": pid}))
        what = "ITI-8 patient feed" if step.element else "NewPatientId (ITI-8 feed)"
        if code == "AA":
            res.details.append(f"{what} of {pid} to {feeder.address}: MSA AA")
            return
        res.outcome, res.reason = "FAIL", f"{what} of {pid}: MSA {code or '?'} {reason}".strip()

    # ------------------------------------------------------------------ one request

    def _bindings(self, step: Step) -> dict[str, str]:
        bind = builtin_symbols()
        files = b"".join(_read(f) for f in step.metadata_files if f.exists())
        for sym, test in ORCHESTRATION_PATIENTS.items():
            if sym.encode() in files:
                bind[sym] = self.pif_patient(test)
        bind.update(self.state.bindings(step))
        if any(u.use_as == "$patientid$" for u in step.use_reports):
            # the patient a plan names this way stays the test's patient for its later steps (12346)
            self.test_patient[step.test_id] = bind["$patientid$"]
        if "NewPatientId" in step.step_flags and step.element is not None:
            self.test_patient[step.test_id] = self.pool.new()
        patient = self.step_patient(step, bind)
        bind.setdefault("$patientid$", patient)
        bind.setdefault("$patient_id$", patient)
        bind["__patient__"] = patient
        return bind

    def _security(self, action: str) -> bytes | None:
        return self.security(action) if self.security else None

    def _render(self, step: Step, bind: dict[str, str], index: int = 0) -> etree._Element:
        if len(step.metadata_files) <= index:
            raise StepFailed("no MetadataFile")
        text = _read(step.metadata_files[index]).decode("utf-8")
        return translate_to_v3(parse_xml(substitute(text, bind, escape=True).encode("utf-8")))

    def _execute(self, step: Step) -> tuple[list[str], Response | None]:
        bind = self._bindings(step)
        patient = bind.pop("__patient__")
        rec = StepRecord(step, patient_id=patient)
        el = step.element or ""
        resp: Response | None = None
        doc_for_asserts: etree._Element | None = None
        if el == "NullTransaction":
            prev = [r for r in self.section_records if r.output is not None]
            doc_for_asserts = prev[-1].output if prev else None
        elif el == "HttpTransaction":
            resp = self._http(step, patient, rec)
        else:
            resp = self._soap(step, el, bind, patient, rec)
        if resp is not None:
            rec.output = resp.body
            doc_for_asserts = resp.body
        self._reports(step, rec)
        self.state.add(rec)
        self.section_records.append(rec)
        problems: list[str] = []
        exp_status, exp_codes, counts = self._expectations(step)
        if resp is not None:
            problems += expect.check_status(resp, exp_status)
            if not problems:
                problems += expect.check_errors(resp, exp_codes, step.expected_error_messages)
        if step.contents and (resp is None or not problems):
            problems += self._contents(step, bind, counts, doc_for_asserts)
        if step.assertions and not problems:
            if doc_for_asserts is None:
                problems.append("no output in this section to evaluate")
            else:  # DataRef file="THIS": the section's log, as NIST writes it
                log = expect.section_log(
                    [
                        (r.step.step_id, r.step.element or "", r.input_xml, r.output)
                        for r in self.section_records
                    ]
                )
                problems += expect.check_assertions(step.assertions, log, bind)
        if el == "RetrieveTransaction" and resp is not None and not problems:
            problems += self._retrieve_checks(step, bind, resp)
        return problems, resp

    def _expectations(self, step: Step) -> tuple[str, tuple[str, ...], dict[str, int]]:
        status, codes = step.expected_status, step.expected_error_codes
        counts: dict[str, int] = {}
        dev: Entry | None = self.scope.find(step, "deviation")
        if dev:
            status = dev.expected_status or status
            codes = dev.expected_error_codes if dev.expected_error_codes is not None else codes
            counts = dict(dev.counts)
        return status, codes, counts

    def _contents(
        self, step: Step, bind: dict[str, str], counts: dict[str, int], body: etree._Element | None
    ) -> list[str]:
        checks = list(step.contents or ())
        if counts:
            checks = [c for c in checks if c.name not in counts]
            checks += [ContentCheck(n, (("count", str(v)),)) for n, v in counts.items()]
        include = None
        for c in checks:
            if c.name == "DocumentEntries" and b"MustOnlyInclude" in c.xml:
                inner = {}
                root = parse_xml(c.xml)
                for u in descendants(root, "UseId"):
                    use = UseId(u.get("symbol", ""), u.get("section", ""), u.get("id", ""), u.get("step", ""),
                                u.get("testdir"))  # fmt: skip
                    inner[use.symbol] = self.state.resolve_use_id(step, use)
                include = expect.must_only_include(c, {**bind, **inner})
        return expect.check_contents(checks, body, include)

    def _reports(self, step: Step, rec: StepRecord) -> None:
        for r in step.reports:
            src = rec.input_xml if r.source == "InputMetadata" else rec.output
            value = expect.xpath_value(src, r.xpath)
            if value is not None:
                rec.reports[r.name] = value

    def _soap(self, step: Step, el: str, bind: dict[str, str], patient: str, rec: StepRecord) -> Response:
        action = ACTIONS[el]
        url = self.transport.repository_url if el in REPOSITORY_ELEMENTS else self.transport.registry_url
        body = self._render(step, bind)
        if (
            el in ("RegisterTransaction", "ProvideAndRegisterTransaction", "MuTransaction")
            and step.parse_metadata
        ):
            assigned = prepare_submission(
                body,
                patient_id=None if "NoPatientId" in step.flags else patient,
                no_assign_uids=step.no_assign_uids,
                assign_uuids="AssignUuids" in step.flags,
                new_uid=self.ids.oid,
                new_uuid=self.ids.uuid,
                force_uids=dev.assign_uids if (dev := self.scope.find(step, "deviation")) else (),
            )
            rec.assigned_uuids, rec.assigned_uids, rec.assigned_pids = (
                assigned.uuids,
                assigned.uids,
                assigned.pids,
            )
        rec.input_xml = body
        to = url
        if el == "ProvideAndRegisterTransaction":
            wrapper = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB})
            wrapper.append(body)
            attachments: dict[str, tuple[str, bytes]] = {}
            mime = {e.get("id", ""): e.get("mimeType", "") for e in descendants(body, "ExtrinsicObject")}
            for n, (doc_id, path) in enumerate(step.documents, start=1):
                real_id = rec.assigned_uuids.get(doc_id, doc_id)
                cid = f"doc{n}.{self.ids.uuid()[9:]}@conformance.local"
                data = _read(path)
                attachments[cid] = (mime.get(real_id) or "application/octet-stream", data)
                if doc_id in rec.assigned_uids:
                    self.submitted[rec.assigned_uids[doc_id]] = data
                wrapper.append(xop_document(real_id, cid))
            env = envelope(action, to, wrapper, self._security(action))
            return self.transport.post(url, mtom_request(action, env, attachments))
        env = envelope(action, to, body, self._security(action))
        if el == "RetrieveTransaction":
            return self.transport.post(url, mtom_request(action, env, {}))
        return self.transport.post(url, plain_request(action, env))

    def _http(self, step: Step, patient: str, rec: StepRecord) -> Response:
        """A verbatim testkit body: fresh patient id and uniqueIds, then sent as written."""
        if step.body_file is None:
            raise StepFailed("HttpTransaction without BodyFile")
        text = _read(step.body_file).decode("latin-1")
        replacements: dict[str, str] = {}
        for tag in re.finditer(r"<(?:[\w.-]+:)?ExternalIdentifier\b[^>]*>", text):
            attrs = dict(re.findall(r'([\w:.-]+)\s*=\s*"([^"]*)"', tag.group(0)))
            scheme, value = attrs.get("identificationScheme", ""), attrs.get("value")
            if value is None:
                continue
            owner = str(attrs.get("registryObject", value))
            if scheme in PATIENT_ID_SCHEMES:
                replacements[value] = patient.replace("&", "&amp;")
                rec.assigned_pids[owner] = patient
            elif scheme in UNIQUE_ID_SCHEMES:
                replacements.setdefault(value, self.ids.oid())
                rec.assigned_uids[owner] = replacements[value]
        for old, new in replacements.items():
            text = text.replace(f'value="{old}"', f'value="{new}"')
        data = text.encode("latin-1")
        headers = dict(step.headers)
        ctype = headers.get("Content-Type", "application/soap+xml")
        action_m = re.search(r'action="([^"]+)"', ctype)
        block = self._security(action_m.group(1) if action_m else ACTIONS["ProvideAndRegisterTransaction"])
        if block:
            data = insert_header_block(data, block)
        rec.patient_id = patient
        return self.transport.post(self.transport.repository_url, Request(ctype, data))

    def _retrieve_checks(self, step: Step, bind: dict[str, str], resp: Response) -> list[str]:
        problems = []
        responses: dict[str, etree._Element] = {}
        if resp.body is not None:
            for dr in descendants(resp.body, "DocumentResponse"):
                uid = text_of(next(iter(children(dr, "DocumentUniqueId")), None))
                responses[uid] = dr
        dev = self.scope.find(step, "deviation")
        for uid_sym, written in step.reference_documents:
            uid = bind.get(uid_sym, uid_sym)
            if dev is not None and dev.documents == "submitted":
                if uid not in self.submitted:
                    problems.append(f"document {uid} was not submitted by this run")
                    continue
                expected = self.submitted[uid]
            else:
                expected = _read(_find_file(step, written))
            found = responses.get(uid)
            if found is None:
                problems.append(f"document {uid} not returned")
                continue
            docs = children(found, "Document")
            got = document_bytes(resp, docs[0]) if docs else b""
            if got != expected:
                problems.append(
                    f"document {uid}: {len(got)} bytes returned differ from the {len(expected)} submitted"
                )
        if step.reference_metadata:
            testdir, ref_step = step.reference_metadata
            ref = self._record_for(step, testdir, ref_step)
            if ref is None or ref.output is None:
                problems.append(f"ReferenceMetadata step {ref_step} has no output")
            else:
                mimes = {}
                for eo in descendants(ref.output, "ExtrinsicObject"):
                    for ei in children(eo, "ExternalIdentifier"):
                        if ei.get("identificationScheme") == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab":
                            mimes[ei.get("value", "")] = eo.get("mimeType", "")
                for uid, dr in responses.items():
                    got_mime = text_of(next(iter(children(dr, "mimeType")), None))
                    if uid in mimes and got_mime != mimes[uid]:
                        problems.append(
                            f"document {uid}: mimeType {got_mime!r}, metadata says {mimes[uid]!r}"
                        )
        return problems

    def _record_for(self, step: Step, testdir: str | None, step_id: str) -> StepRecord | None:
        test, section = step.test_id, step.section
        if testdir:
            target = resolve_testdir(step.test_dir.parent, step.test_id, step.section, testdir)
            if target is None:
                return None
            test, section = target
        return self.state.records.get((test, section, step_id))
