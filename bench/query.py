"""ITI-18 FindDocuments over HTTP at growing registry sizes, with and without the DMP policy.

    python bench/query.py [--sizes 10000,100000,1000000] [--per-patient 20] [--queries 1000]
                          [--data-root DIR] [--json out.json]

Each size has its own data dir, ``DIR/<size>`` (``xds-server bench generate --no-bodies``, records of
``--per-patient`` documents, seed 18). With ``--data-root`` the dirs are kept and a later run reuses every
one that already holds its records (generating 1 M entries takes minutes); without it they live in a
temporary folder removed at the end. At each size the server (bench/floor.py, one worker) is started three
times on that data dir and the same queries are sent, one client at a time (latency), after 100 warm-up
queries:

- ``ihe``: profile ``ihe``, no credentials (anonymous actor): the query engine alone;
- ``ihe+saml``: profile ``ihe`` with a signed VIHF assertion per request: adds WS-Security verification;
- ``dmp``: profile ``dmp-test`` (the DMP rules; unlike ``dmp`` it trusts the data dir's test authority) with
  the same assertions, the record authorising the professional: adds the DMP rules (record state,
  consent, block list, habilitation matrix and masking filters in SQL).

The policy's share is (dmp - ihe+saml) / dmp, of the mean latency and of the server CPU per query (the
CPU figure is the steadier one on a shared machine). Each query: a random patient of a pool of
200, status Approved, 1 to 3 code filters (classCode, typeCode, practiceSettingCode, each with 1-2 values
drawn from the codes present in the registry) and, one query in two, a two-year creationTime range;
ObjectRef answers. The growth ratio is p99 at the largest size / p99 at the smallest.

Targets (issue 12): p99 <= 10 ms at 1 M entries, growth 10 k -> 1 M <= 1.5x, policy share <= 5 %.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    LoadResult,
    cli,
    drive,
    http_request,
    mean,
    print_table,
    server,
    server_env,
    soap_success,
    write_json,
)
from tests.query.builders import adhoc
from tests.repository.messages import envelope
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
PROFESSIONAL = Identity()  # a médecin généraliste of the test structure
POOL = 200


def generate(data: Path, patients: int, per_patient: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable, "-m", "xds_server.cli", "bench", "generate",
            "--patients", str(patients), "--documents-per-patient", str(per_patient),
            "--data-dir", str(data), "--seed", "18", "--no-bodies",
        ],
        check=True,
        env={**os.environ, "XDS_PROFILE": "dmp"},
    )  # fmt: skip
    return time.perf_counter() - started


def existing_entries(data: Path) -> int:
    """DocumentEntries already in a kept data dir (``--data-root``); 0 for none (or no database)."""
    if not (data / "registry.sqlite3").exists():
        return 0
    with sqlite3.connect(data / "registry.sqlite3") as db:
        try:
            return int(db.execute("SELECT count(*) FROM document_entry").fetchone()[0])
        except sqlite3.OperationalError:  # not migrated
            return 0


def pool_and_codes(data: Path, rng: random.Random) -> tuple[list[str], dict[str, list[str]]]:
    """A pool of patients, and the codes present in the registry per filterable column."""
    with sqlite3.connect(data / "registry.sqlite3") as db:
        patients = [row[0] for row in db.execute("SELECT patient_id FROM patient")]
        codes = {
            column: [row[0] for row in db.execute(f"SELECT DISTINCT {column} FROM document_entry")]
            for column in ("class_code", "type_code", "practice_setting_code")
        }
    return rng.sample(patients, min(POOL, len(patients))), codes


def authorise(data: Path, patients: list[str]) -> None:
    """The DMP mode: each pooled record authorises the professional (consent declared)."""
    from xds_server.storage.database import Database, sqlite_url_for
    from xds_server.storage.records import SqlRecordStore

    database = Database(sqlite_url_for(data))
    with database.transaction() as connection:
        records = SqlRecordStore(connection)
        for patient in patients:
            records.authorize(patient, PROFESSIONAL.national_id)
    database.dispose()


def queries(patients: list[str], codes: dict[str, list[str]], count: int, seed: int) -> list[tuple[str, str]]:
    """(patient, AdhocQueryRequest XML) pairs."""
    rng = random.Random(seed)
    slots = {
        "class_code": "$XDSDocumentEntryClassCode",
        "type_code": "$XDSDocumentEntryTypeCode",
        "practice_setting_code": "$XDSDocumentEntryPracticeSettingCode",
    }
    out = []
    for _ in range(count):
        patient = rng.choice(patients)
        params: dict[str, str | list[str]] = {
            "$XDSDocumentEntryPatientId": f"'{patient}'",
            "$XDSDocumentEntryStatus": f"('{APPROVED}')",
        }
        for column in rng.sample(sorted(slots), 1 + rng.randrange(3)):
            values = rng.sample(codes[column], min(len(codes[column]), 1 + rng.randrange(2)))
            params[slots[column]] = "(" + ",".join(f"'{v}'" for v in values) + ")"
        if rng.random() < 0.5:
            year = 2017 + rng.randrange(8)
            params["$XDSDocumentEntryCreationTimeFrom"] = f"{year}0101"
            params["$XDSDocumentEntryCreationTimeTo"] = f"{year + 2}0101"
        out.append((patient, adhoc(FIND_DOCUMENTS, params)))
    return out


def soap_requests(items: list[tuple[str, str]], headers: dict[str, bytes] | None) -> list[bytes]:
    requests = []
    for patient, body in items:
        message = envelope(STORED_QUERY, etree.fromstring(body))
        if headers is not None:
            message = message.replace(b"<soap:Header>", b"<soap:Header>" + headers[patient], 1)
        requests.append(http_request("/xds/registry", message, "application/soap+xml"))
    return requests


def assertions(data: Path, patients: list[str]) -> dict[str, bytes]:
    authority = dev_authority.load(data)
    out = {}
    for patient in patients:
        identity = Identity(patient=patient)
        assertion = dev_authority.mint_assertion(
            authority, identity, ttl=__import__("datetime").timedelta(hours=4)
        )
        out[patient] = etree.tostring(dev_authority.security_header(assertion))
    return out


async def measure(label: str, srv: Any, requests: list[bytes]) -> LoadResult:
    await drive("warm-up", srv.host, srv.port, requests[:100], 1, soap_success)
    return await drive(label, srv.host, srv.port, requests, 1, soap_success, srv.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--per-patient", type=int, default=20)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--data-root", type=Path, default=None, help="keep one data dir per size here and reuse them"
    )
    args = parser.parse_args()
    work = args.data_root or Path(tempfile.mkdtemp(prefix="xds-bench-query-"))
    rng = random.Random(18)
    results: list[dict[str, Any]] = []
    try:
        for size in args.sizes:
            data = work / str(size)
            patients = size // args.per_patient
            seconds = 0.0
            if existing_entries(data) != patients * args.per_patient:
                shutil.rmtree(data, ignore_errors=True)
                seconds = generate(data, patients, args.per_patient)
            cli(server_env(data, None, profile="dmp"), "dev", "authority", "init", "--force")
            pool, codes = pool_and_codes(data, rng)
            authorise(data, pool)
            items = queries(pool, codes, args.queries + 100, seed=size)
            signed = assertions(data, pool)
            row: dict[str, Any] = {"entries": existing_entries(data), "generate_seconds": round(seconds, 1)}
            # The assertions are signed by the data dir's test authority: trusted with dev_authority=on, and
            # by the DMP rules' dmp-test profile only (the production profile never trusts it).
            modes = [
                ("ihe", {"profile": "ihe", "anonymous_actor": "bench"}, None),
                ("ihe+saml", {"profile": "ihe", "dev_authority": "on"}, signed),
                # the dmp server checks the audience its assertions name
                (
                    "dmp",
                    {"profile": "dmp-test", "dev_authority": "on", "saml_audience": "xds-server"},
                    signed,
                ),
            ]
            for label, settings, headers in modes:
                env = server_env(data, None, **settings)
                with server(env) as srv:
                    result = asyncio.run(measure(label, srv, soap_requests(items, headers)))
                if result.failures:
                    raise RuntimeError(
                        f"{label}: {result.failures} failed queries, first {result.first_failure}"
                    )
                row[label] = {**result.as_json(), "mean_ms": round(mean(result.latencies_ms), 2)}
            results.append(row)
    finally:
        if args.data_root is None:
            shutil.rmtree(work, ignore_errors=True)
    rows = []
    for row in results:
        dmp, saml = row["dmp"], row["ihe+saml"]
        share = (dmp["mean_ms"] - saml["mean_ms"]) / dmp["mean_ms"] if dmp["mean_ms"] else 0.0
        cpu_share = (
            (dmp["server_cpu_ms_each"] - saml["server_cpu_ms_each"]) / dmp["server_cpu_ms_each"]
            if dmp["server_cpu_ms_each"]
            else 0.0
        )
        row["policy_share"] = round(share, 3)
        row["policy_share_cpu"] = round(cpu_share, 3)
        for label in ("ihe", "ihe+saml", "dmp"):
            r = row[label]
            rows.append(
                [
                    f"{row['entries']:,}",
                    label,
                    f"{r['p50_ms']:.2f}",
                    f"{r['p99_ms']:.2f}",
                    f"{r['mean_ms']:.2f}",
                    f"{r['per_second']:.0f}",
                    f"{r['server_cpu_ms_each']:.2f}",
                    f"{r['p99_ms'] / 10:.2f}",
                    f"{share:.1%} / {cpu_share:.1%}" if label == "dmp" else "",
                ]
            )
    print_table(
        "ITI-18 FindDocuments over HTTP, SQLite, one client",
        [
            "entries",
            "mode",
            "p50 ms",
            "p99 ms",
            "mean ms",
            "q/s",
            "cpu ms",
            "p99 ÷ 10 ms",
            "policy share wall / cpu",
        ],
        rows,
    )
    if len(results) > 1:
        for label in ("ihe", "dmp"):
            growth = results[-1][label]["p99_ms"] / results[0][label]["p99_ms"]
            print(
                f"growth of p99 {results[0]['entries']:,} -> {results[-1]['entries']:,} entries ({label}): "
                f"{growth:.2f}x (target <= 1.5x)"
            )
    write_json(args.json, {"bench": "query", "rows": results})


if __name__ == "__main__":
    main()
