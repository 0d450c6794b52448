"""Cost of the access trail on ITI-41 and ITI-18 throughput over HTTP, both variants in one run.

    python bench/audit_http.py [--count 300] [--rounds 4] [--clients 4] [--database-url URL] [--json out.json]

Starts two servers as ``xds-server serve`` runs them (bench/floor.py) on ONE data dir and database, profile
``ihe`` with an anonymous actor: one as shipped (every transaction traced in its transaction) and one with
``XDS_BENCH_AUDIT=off`` (the SOAP router's audit hook removed by bench/floor.py, bench only). Rounds
alternate which variant goes first. First ``--rounds`` rounds of ``--count`` ITI-18 FindDocuments
(ObjectRef) per variant on a record of 100 documents (unchanged while they run), then ``--rounds`` rounds of
``--count`` ITI-41 submissions per variant (NIST PnrXop metadata and one distinct 10 KB CDA in an MTOM
part, as bench/pnr.py). Prints, per transaction, requests per second and the
server CPU per request (steadier when other jobs share the machine), their means over rounds and the
ratios traced / untraced.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import cli, drive, http_request, print_table, server, server_env, soap_success, write_json
from bench.pnr import REPOSITORY_ID, drop_schema, messages, scratch_schema
from tests.repository.messages import NIST_PATIENT

REGISTRY = "/xds/registry"
REPOSITORY = "/xds/repository"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
SOAP = "application/soap+xml"
RECORD = 100  # documents in the record before the ITI-18 rounds (ObjectRef answers of 100 entries)


def find_documents() -> bytes:
    body = (
        '<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
        'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">'
        '<query:ResponseOption returnType="ObjectRef" returnComposedObjects="true"/>'
        f'<rim:AdhocQuery id="{FIND_DOCUMENTS}">'
        f"<rim:Slot name=\"$XDSDocumentEntryPatientId\"><rim:ValueList><rim:Value>'{escape(NIST_PATIENT)}'"
        "</rim:Value></rim:ValueList></rim:Slot>"
        f"<rim:Slot name=\"$XDSDocumentEntryStatus\"><rim:ValueList><rim:Value>('{APPROVED}')</rim:Value>"
        "</rim:ValueList></rim:Slot></rim:AdhocQuery></query:AdhocQueryRequest>"
    )
    envelope = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
        '<wsa:Action env:mustUnderstand="true">urn:ihe:iti:2007:RegistryStoredQuery</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    )
    return http_request(REGISTRY, envelope.encode(), SOAP)


async def one_round(
    servers: dict[str, tuple[str, int, int]],
    order: tuple[str, str],
    transaction: str,
    count: int,
    clients: int,
) -> dict[str, tuple[float, float]]:
    """{variant: (requests/s, server CPU ms per request)} of one round of one transaction."""
    figures: dict[str, tuple[float, float]] = {}
    for variant in order:
        host, port, pid = servers[variant]
        if transaction == "ITI-41":
            requests = [http_request(REPOSITORY, body, ctype) for body, ctype in messages(count)]
        else:
            requests = [find_documents() for _ in range(count)]
        result = await drive(transaction, host, port, requests, clients, soap_success, pid)
        if result.failures:
            raise RuntimeError(f"{variant} {transaction}: {result.failures} failed: {result.first_failure}")
        figures[variant] = (result.per_second, result.cpu_ms_each)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="requests per transaction, variant, round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xds-bench-audit-"))
    schema = scratch_schema(args.database_url)
    rounds: dict[str, list[dict[str, tuple[float, float]]]] = {}
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
        with server(env) as traced, server({**env, "XDS_BENCH_AUDIT": "off"}) as untraced:
            servers = {
                "traced": (traced.host, traced.port, traced.pid),
                "untraced": (untraced.host, untraced.port, untraced.pid),
            }
            # the record the queries read: RECORD documents, unchanged during the ITI-18 rounds
            asyncio.run(one_round(servers, ("traced", "untraced"), "ITI-41", RECORD // 2, 2))
            for transaction in ("ITI-18", "ITI-41"):
                for index in range(args.rounds):
                    order = ("traced", "untraced") if index % 2 == 0 else ("untraced", "traced")
                    figures = asyncio.run(one_round(servers, order, transaction, args.count, args.clients))
                    rounds.setdefault(transaction, []).append(figures)
                    line = ", ".join(f"{v} {r:.0f}/s {c:.2f} cpu ms" for v, (r, c) in figures.items())
                    print(f"{transaction} round {index + 1}: {line}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.database_url and schema:
            drop_schema(args.database_url, schema)
    rows = []
    report: dict[str, object] = {"bench": "audit_http", "rounds": args.rounds, "count": args.count}
    for transaction in ("ITI-41", "ITI-18"):
        measured = rounds[transaction]
        rate = {v: statistics.mean(r[v][0] for r in measured) for v in ("traced", "untraced")}
        cpu = {v: statistics.mean(r[v][1] for r in measured) for v in ("traced", "untraced")}
        rows.append(
            [
                transaction,
                f"{rate['traced']:.0f}",
                f"{rate['untraced']:.0f}",
                f"{rate['traced'] / rate['untraced']:.3f}",
                f"{cpu['traced']:.2f}",
                f"{cpu['untraced']:.2f}",
                f"{cpu['untraced'] / cpu['traced']:.3f}",
            ]
        )
        report[transaction] = {"per_second": rate, "cpu_ms_each": cpu}
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print_table(
        f"Cost of the access trail over HTTP, {backend}, {args.clients} clients, {args.count} requests x "
        f"{args.rounds} rounds per variant",
        [
            "transaction",
            "traced/s",
            "untraced/s",
            "ratio /s",
            "traced cpu ms",
            "untraced cpu ms",
            "ratio cpu",
        ],
        rows,
    )
    write_json(args.json, report)


if __name__ == "__main__":
    main()
