"""ITI-41 Provide and Register over HTTP on loopback: submissions/s and latency at 1, 4 and 16 clients,
against the floor of the same server stack.

    python bench/pnr.py [--count 1500] [--clients 1,4,16] [--workers 1] [--database-url URL] [--json out.json]
                        [--before CHECKOUT [--before-env NAME=VALUE]] [--stages] [--profile-dir DIR]

Starts the server (bench/floor.py: ``xds-server serve`` plus a trivial endpoint) on a fresh data dir, SQLite
by default or a throw-away schema of ``--database-url`` (PostgreSQL), profile ``ihe`` with an anonymous actor.
Each submission is the NIST PnrXop metadata (SubmissionSet, one DocumentEntry, one HasMember) with fresh ids
and one 10 KB CDA-sized document of distinct bytes in an MTOM part: every request stores one new blob
(fsync'd) and commits its metadata before it is answered. For each client count it sends ``--count``
submissions over keep-alive connections, then the same request bytes to ``POST /bench/floor`` (reads the body,
answers a fixed RegistryResponse), and prints submissions/s, p50/p99 and the ratio to the floor.

``--before CHECKOUT`` starts a second server on the code of another checkout (e.g. ``/work/main``) with the
same settings and its own data dir, and runs every row against both, alternately, in the same run: the
before/after ratios then share the machine's load. ``--stages`` records each ITI-41 row of the server(s)
with ``py-spy record --gil`` (py-spy must be installed) and prints the server CPU per submission split into
the stages of ITI-41 (bench/stages.py); ``--profile-dir`` keeps the raw profiles.

Targets (issue 12): >= 500 submissions/s on SQLite, p99 <= 50 ms at 16 clients; >= 300/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import stages
from bench.common import (
    LoadResult,
    Server,
    cli,
    drive,
    http_request,
    print_table,
    server,
    server_env,
    soap_success,
    write_json,
)
from tests.repository.messages import NIST_PATIENT, Doc, pnr_message

REPOSITORY_ID = "1.3.6.1.4.1.21367.2010.1.2.1125"
PATH = "/xds/repository"


def cda(index: int, size: int = 10 * 1024) -> bytes:
    """A 10 KB CDA-like body whose bytes differ per submission (one new blob each)."""
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?><ClinicalDocument xmlns="urn:hl7-org:v3">'
        f'<id root="2.25.{uuid.uuid4().int}"/><title>Compte rendu {index}</title><component><nonXMLBody>'
        f"<text>"
    ).encode()
    tail = b"</text></nonXMLBody></component></ClinicalDocument>"
    filler = (b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 200)[
        : size - len(head) - len(tail)
    ]
    return head + filler + tail


def messages(count: int) -> list[tuple[bytes, str]]:
    return [pnr_message([Doc(cda(i), "text/xml")]) for i in range(count)]


def scratch_schema(database_url: str | None) -> str | None:
    """A throw-away PostgreSQL schema for this run (created by the migrations, dropped at the end)."""
    return f"bench_{uuid.uuid4().hex[:10]}" if database_url else None


def drop_schema(database_url: str, schema: str) -> None:
    from sqlalchemy import text

    from xds_server.storage.database import Database

    database = Database(database_url)
    with database.engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    database.dispose()


@dataclass
class Row:
    """One client count against one server: ITI-41, its floor, and the stage profile if recorded."""

    variant: str
    iti41: LoadResult
    floor: LoadResult
    stages: list[list[str]] = field(default_factory=list)


async def run_rows(args: argparse.Namespace, servers: list[tuple[str, Server]], profiles: Path) -> list[Row]:
    rows = []
    for _name, srv in servers:
        warm = [http_request(PATH, body, ctype) for body, ctype in messages(20)]
        await drive("warm-up", srv.host, srv.port, warm, 2, soap_success)
    for clients in args.clients:
        requests = [http_request(PATH, body, ctype) for body, ctype in messages(args.count)]
        floor = [r.replace(f"POST {PATH} ".encode(), b"POST /bench/floor ", 1) for r in requests]
        # alternate the order from one client count to the next: neither variant always runs first
        order = servers if clients % 2 == 0 or len(servers) == 1 else list(reversed(servers))
        for name, srv in order:
            raw = profiles / f"{name}-{clients}.raw"
            with py_spy(srv.pid, raw, enabled=args.stages, rate=args.rate):
                iti41 = await drive("ITI-41", srv.host, srv.port, requests, clients, soap_success, srv.pid)
            trivial = await drive("floor", srv.host, srv.port, floor, clients, soap_success, srv.pid)
            row = Row(name, iti41, trivial)
            if args.stages and raw.exists():
                counted, total = stages.breakdown(raw)
                row.stages = stages.rows(counted, total, iti41.cpu_ms_each)
            rows.append(row)
    return rows


@contextmanager
def py_spy(pid: int, out: Path, *, enabled: bool, rate: int = 100) -> Iterator[None]:
    """``py-spy record --gil`` of the server (and its workers) while the block runs."""
    if not enabled:
        yield
        return
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    spy = subprocess.Popen(
        [
            exe,
            "record",
            "-p",
            str(pid),
            "-s",
            "--gil",
            "--nonblocking",
            "-r",
            str(rate),
            "-f",
            "raw",
            "-o",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # attached before the load starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1500, help="submissions per client count")
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL (default: SQLite in the data dir)"
    )
    parser.add_argument("--before", type=Path, default=None, help="another checkout, run alongside")
    parser.add_argument(
        "--before-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable of the --before server only (e.g. XDS_BENCH_HTTP=h11)",
    )
    parser.add_argument("--stages", action="store_true", help="py-spy the ITI-41 rows: CPU per stage")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second (--stages)")
    parser.add_argument("--profile-dir", type=Path, default=None, help="keep the py-spy raw files here")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xds-bench-pnr-"))
    profiles = args.profile_dir or work / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    variants = [("after", None)] + ([("before", args.before.resolve())] if args.before else [])
    schemas = {name: scratch_schema(args.database_url) for name, _ in variants}
    load = os.getloadavg()
    try:
        with ExitStack() as stack:
            servers = []
            for name, root in variants:
                schema = schemas[name]
                env = server_env(
                    work / name / "data",
                    args.database_url,
                    profile="ihe",
                    anonymous_actor="bench",
                    repository_unique_id=REPOSITORY_ID,
                    **({"database_schema": schema} if schema else {}),
                )
                if root is not None:
                    env["XDS_BENCH_SERVER_ROOT"] = str(root)
                    env["PYTHONPATH"] = str(root)
                    env.update(item.split("=", 1) for item in args.before_env)
                cli(env, "db", "upgrade")
                cli(env, "patients", "add", NIST_PATIENT, "--state", "activated")
                servers.append((name, stack.enter_context(server(env, workers=args.workers))))
            results = asyncio.run(run_rows(args, servers, profiles))
    finally:
        if args.profile_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            shutil.rmtree(work / "after", ignore_errors=True)
            shutil.rmtree(work / "before", ignore_errors=True)
        for schema in schemas.values():
            if args.database_url and schema:
                drop_schema(args.database_url, schema)
    load_after = os.getloadavg()
    report(args, results, load, load_after)


def report(
    args: argparse.Namespace,
    results: list[Row],
    load: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    backend = "PostgreSQL" if args.database_url else "SQLite"
    target = 300 if args.database_url else 500
    table = []
    for row in results:
        iti41, floor = row.iti41, row.floor
        if iti41.failures:
            print(f"{iti41.failures} ITI-41 failures, first: {iti41.first_failure}", file=sys.stderr)
        table.append(
            [
                row.variant,
                iti41.clients,
                f"{iti41.per_second:.0f}",
                f"{iti41.percentile(50):.1f}",
                f"{iti41.percentile(99):.1f}",
                f"{floor.per_second:.0f}",
                f"{floor.percentile(99):.1f}",
                f"{iti41.per_second / floor.per_second:.2f}",
                f"{iti41.cpu_ms_each:.2f}",
                f"{floor.cpu_ms_each:.2f}",
                f"{iti41.per_second / target:.2f}",
                iti41.failures,
            ]
        )
    print_table(
        f"ITI-41 10 KB over HTTP, {backend}, {args.workers} worker(s), {args.count} submissions per row; "
        f"load average {load[0]:.1f} at start, {load_after[0]:.1f} at end",
        [
            "server",
            "clients",
            "subm/s",
            "p50 ms",
            "p99 ms",
            "floor/s",
            "floor p99",
            "÷ floor",
            "cpu ms",
            "floor cpu",
            f"÷ {target}/s",
            "failed",
        ],
        table,
    )
    if args.before:
        ratios = []
        for clients in args.clients:
            pair = {r.variant: r.iti41 for r in results if r.iti41.clients == clients}
            after, before = pair["after"], pair["before"]
            ratios.append(
                [
                    clients,
                    f"{after.per_second / before.per_second:.2f}",
                    f"{after.percentile(99) / before.percentile(99):.2f}",
                    f"{after.cpu_ms_each / before.cpu_ms_each:.2f}",
                ]
            )
        print_table(
            "after ÷ before, same run",
            ["clients", "subm/s", "p99", "cpu ms"],
            ratios,
        )
    for row in results:
        if row.stages:
            print_table(
                f"server CPU per submission by stage: {row.variant}, {row.iti41.clients} clients, "
                f"{row.iti41.cpu_ms_each:.2f} ms (py-spy --gil samples)",
                ["what", "share", "ms"],
                row.stages,
            )
    write_json(
        args.json,
        {
            "bench": "pnr",
            "backend": backend,
            "workers": args.workers,
            "target_per_second": target,
            "load_average": [load, load_after],
            "rows": [
                {
                    "server": r.variant,
                    "iti41": r.iti41.as_json(),
                    "floor": r.floor.as_json(),
                    "stages": r.stages,
                }
                for r in results
            ],
        },
    )
    if any(r.iti41.failures for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
