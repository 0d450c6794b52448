"""ITI-41 Provide and Register over HTTP on loopback: submissions/s and latency at 1, 4 and 16 clients,
against the floor of the same server stack.

    python bench/pnr.py [--count 1500] [--clients 1,4,16] [--workers 1] [--database-url URL] [--json out.json]

Starts the server (bench/floor.py: ``xds-server serve`` plus a trivial endpoint) on a fresh data dir, SQLite
by default or a throw-away schema of ``--database-url`` (PostgreSQL), profile ``ihe`` with an anonymous actor.
Each submission is the NIST PnrXop metadata (SubmissionSet, one DocumentEntry, one HasMember) with fresh ids
and one 10 KB CDA-sized document of distinct bytes in an MTOM part: every request stores one new blob
(fsync'd) and commits its metadata before it is answered. For each client count it sends ``--count``
submissions over keep-alive connections, then the same request bytes to ``POST /bench/floor`` (reads the body,
answers a fixed RegistryResponse), and prints submissions/s, p50/p99 and the ratio to the floor.

Targets (issue 12): >= 500 submissions/s on SQLite, p99 <= 50 ms at 16 clients; >= 300/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    LoadResult,
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


async def run(
    args: argparse.Namespace, host: str, port: int, pid: int
) -> list[tuple[LoadResult, LoadResult]]:
    results = []
    warm = [http_request(PATH, body, ctype) for body, ctype in messages(20)]
    await drive("warm-up", host, port, warm, 2, soap_success)
    for clients in args.clients:
        requests = [http_request(PATH, body, ctype) for body, ctype in messages(args.count)]
        iti41 = await drive("ITI-41", host, port, requests, clients, soap_success, pid)
        floor = [r.replace(f"POST {PATH} ".encode(), b"POST /bench/floor ", 1) for r in requests]
        trivial = await drive("floor", host, port, floor, clients, soap_success, pid)
        results.append((iti41, trivial))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1500, help="submissions per client count")
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL (default: SQLite in the data dir)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xds-bench-pnr-"))
    schema = scratch_schema(args.database_url)
    try:
        env = server_env(
            work / "data",
            args.database_url,
            profile="ihe",
            anonymous_actor="bench",
            repository_unique_id=REPOSITORY_ID,
            **({"database_schema": schema} if schema else {}),
        )
        cli(env, "db", "upgrade")
        cli(env, "patients", "add", NIST_PATIENT, "--state", "activated")
        with server(env, workers=args.workers) as srv:
            results = asyncio.run(run(args, srv.host, srv.port, srv.pid))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.database_url and schema:
            drop_schema(args.database_url, schema)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    target = 300 if args.database_url else 500
    rows = []
    for iti41, floor in results:
        if iti41.failures:
            print(f"{iti41.failures} ITI-41 failures, first: {iti41.first_failure}", file=sys.stderr)
        rows.append(
            [
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
        f"ITI-41 10 KB over HTTP, {backend}, {args.workers} worker(s), {args.count} submissions per row",
        [
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
        rows,
    )
    write_json(
        args.json,
        {
            "bench": "pnr",
            "backend": backend,
            "workers": args.workers,
            "target_per_second": target,
            "rows": [{"iti41": a.as_json(), "floor": b.as_json()} for a, b in results],
        },
    )
    if any(a.failures for a, _ in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
