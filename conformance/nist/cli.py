"""`xds-server conformance run nist`: load the plans, get a server, run, print, report."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .engine import Runner, Transport
from .feed import MllpFeeder, MllpRegistrar
from .identity import AuthorityError, dev_security
from .patients import PatientPool, Registrar, RegistrationError, make_registrar
from .plan import PlanError, TestCase, Testkit, load_testkit
from .report import step_line, summary_line, table, write_json
from .scope import ScopeError, load_scope
from .server import LocalServer, ServerStartError, xds_server_command
from .soap import SecurityHeader

CONFORMANCE_DIR = Path(__file__).resolve().parent.parent
NIST_TESTS = CONFORMANCE_DIR / "nist-testkit" / "tests"
LOCAL_TESTS = CONFORMANCE_DIR / "local-cases" / "tests"
SCOPE_FILE = CONFORMANCE_DIR / "nist-out-of-scope.toml"
#: the whole run stops sending requests after this many seconds (remaining steps FAIL as not run).
RUN_BUDGET_SECONDS = float(os.environ.get("XDS_CONFORMANCE_BUDGET", "900"))


def load_default_testkit() -> Testkit:
    roots = [(NIST_TESTS, "nist")]
    if LOCAL_TESTS.is_dir():
        roots.append((LOCAL_TESTS, "local"))
    return load_testkit(roots)


def patients_needed(tests: Sequence[TestCase]) -> int:
    """Patients a run registers: one per feed test and per NewPatientId/CreateNewPatientId, plus the
    default and the two MPQ orchestration patients."""
    n = 3
    for t in tests:
        for s in t.steps:
            if (
                s.element == "PatientIdentityFeedTransaction"
                or s.element is None
                or "NewPatientId" in s.step_flags
            ):
                n += 1
    return n


def run(
    base_url: str | None,
    start: bool,
    only: list[str],
    report: Path | None,
    *,
    data_dir: Path | None = None,
    out: Callable[[str], None] | None = None,
    security: SecurityHeader | None = None,
    mllp: str | None = None,
) -> int:
    """Run the NIST testkit (and our local cases); returns the exit status (0 only if nothing failed).

    `security`, when given, returns a serialized SOAP header block (e.g. `wsse:Security` with a SAML
    assertion) for an action; it is added to every request (the XUA hook). With `start` and no `security`,
    the started server gets a dev authority and every request a fresh dev assertion (identity.py).

    Patients come from ITI-8 feeds to the server's MLLP listener: the started server's, or `mllp`
    (``HOST:PORT``) with `base_url`; without one, the runner registers them with `patients add` and reports
    the feed steps as SKIP."""
    emit = out or (lambda line: print(line, flush=True))
    if bool(base_url) == bool(start):
        emit("error: give exactly one of --base-url URL or --start")
        return 2
    try:
        kit = load_default_testkit()
        tests = kit.select(only)
        scope = load_scope(SCOPE_FILE)
    except (PlanError, ScopeError, OSError) as exc:
        emit(f"error: {exc}")
        return 2
    server: LocalServer | None = None
    feeder: MllpFeeder | None = None
    if mllp:
        host, _, port = mllp.rpartition(":")
        if not host or not port.isdigit():
            emit(f"error: --mllp {mllp!r}: expected HOST:PORT")
            return 2
        feeder = MllpFeeder(host, int(port))
    started = time.monotonic()
    try:
        try:
            if start:
                server = LocalServer()
                emit(f"starting xds-server on {server.base_url} (data {server.data_dir})")
                emit(f"server log: {server.log_path}")
                server.start()
                url = server.base_url
                feeder = MllpFeeder("127.0.0.1", server.mllp_port)
                emit(f"patient identity feed (ITI-8): {feeder.address}")
                registrar: Registrar = MllpRegistrar(feeder)
                if security is None:  # no identity, no transaction: sign every request (dev authority)
                    security = dev_security(server.data_dir, xds_server_command(), server.env)
            else:
                url = str(base_url)
                registrar = (
                    MllpRegistrar(feeder) if feeder else make_registrar(xds_server_command(), data_dir, None)
                )
            pool = PatientPool(registrar)
            pool.reserve(patients_needed(tests))
            transport = Transport(url)
            runner = Runner(
                transport,
                pool,
                scope,
                security=security,
                on_result=lambda r: emit(step_line(r)),
                feeder=feeder,
            )
            runner.deadline = started + RUN_BUDGET_SECONDS
            try:
                results = runner.run(tests)
            finally:
                transport.close()
        except (ServerStartError, RegistrationError, AuthorityError) as exc:
            emit(f"error: {exc}")
            if server is not None:
                server.stop()
                _keep_log(server, report, emit)
            return 2
        if server is not None:
            server.stop()
        emit("")
        for line in table(results):
            emit(line)
        if report is not None:
            meta: dict[str, object] = {
                "base_url": url,
                "started_server": start,
                "only": only,
                "seconds": round(time.monotonic() - started, 1),
                "patients_registered": len(pool.registered),
                "iti8_messages": feeder.sent if feeder else 0,
            }
            write_json(report, results, meta)
        if server is not None:
            _keep_log(server, report, emit)
        emit(summary_line(results))  # the very last line of the output
        return 1 if any(r.outcome == "FAIL" for r in results) else 0
    finally:
        if feeder is not None:
            feeder.close()
        if server is not None:  # whatever happened: no server left running, no temporary data left
            server.stop()
            server.cleanup()


def _keep_log(server: LocalServer, report: Path | None, emit: Callable[[str], None]) -> None:
    if report is None:
        return
    dest = report.with_name(report.stem + ".server.log")
    try:
        shutil.copyfile(server.log_path, dest)
        emit(f"server log: {dest}")
    except OSError:
        pass
