"""ITI-18 FindDocuments and ITI-67 Find Document References over HTTP at growing registry sizes, with and
without the DMP policy.

    python bench/query.py [--sizes 10000,100000,1000000] [--per-patient 20] [--queries 1000]
                          [--data-root DIR] [--json out.json]

Each size has its own data dir, ``DIR/<size>`` (``xds-server bench generate --no-bodies``, records of
``--per-patient`` documents, seed 18). With ``--data-root`` the dirs are kept and a later run reuses every
one that already holds its records (generating 1 M entries takes minutes); without it they live in a
temporary folder removed at the end. At each size the server (bench/floor.py, one worker) is started three
times on that data dir; on each server the same questions are asked on both faces, ITI-18 first then
ITI-67, one client at a time (latency), each after 100 warm-up queries:

- ``ihe``: profile ``ihe``, no credentials (its anonymous actor serves SOAP and FHIR requests that carry
  none): the query engine alone;
- ``ihe+saml`` / ``ihe+token``: profile ``ihe`` with a signed VIHF assertion per SOAP request, a bearer JWT
  per FHIR request (same professional, same record): adds the credential's verification;
- ``dmp``: profile ``dmp-test`` (the DMP rules; unlike ``dmp`` it trusts the data dir's test authority) with
  the same assertions and tokens, the record authorising the professional: adds the DMP rules (record
  state, consent, block list, habilitation matrix and masking filters in SQL).

The policy's share is (dmp - ihe+saml) / dmp for ITI-18, (dmp - ihe+token) / dmp for ITI-67, of the mean
latency and of the server CPU per query (the CPU figure is the steadier one on a shared machine). Each
question: a random patient of a pool of 200, status Approved, 1 to 3 code filters (classCode, typeCode,
practiceSettingCode, each with 1-2 values drawn from the codes present in the registry) and, one question in
two, a two-year creationTime range. ITI-18 asks for ObjectRefs; ITI-67 asks ``patient`` (the record's CX as
a ``Patient/cx-...`` reference: under ``ihe`` a ``patient.identifier`` token would not carry the INS's
``^NH``), ``status=current``, ``category`` / ``type`` / ``setting``, ``creation=ge..&creation=lt..`` and
``_count=1000`` (every answer on one page; a next page fails the run). Before measuring, each server answers
the first questions on both faces until one with a creation range finds documents; every pair compared
must count the same documents (the run stops otherwise). The growth ratio is p99 (and server CPU per query)
at the largest size / at the smallest.

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
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    FHIR_JSON,
    LoadResult,
    Server,
    bearer,
    bundle_entries,
    cli,
    drive,
    fhir_success,
    find_document_references,
    http_get,
    http_request,
    mean,
    print_table,
    registry_objects,
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
WARM_UP = 100


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


#: the filterable columns: (ITI-18 parameter, ITI-67 parameter)
FILTERS = {
    "class_code": ("$XDSDocumentEntryClassCode", "category"),
    "type_code": ("$XDSDocumentEntryTypeCode", "type"),
    "practice_setting_code": ("$XDSDocumentEntryPracticeSettingCode", "setting"),
}
#: ITI-67 ``_count``: the server's cap, far above a record's documents (every answer on one page)
FHIR_COUNT = 1000
FACES = ("ITI-18", "ITI-67")


@dataclass(frozen=True, slots=True)
class Question:
    """One FindDocuments question, asked on either face."""

    patient: str
    codes: tuple[tuple[str, tuple[str, ...]], ...]  # (registry column, codes ORed)
    creation: tuple[str, str] | None  # (From, To) DTMs

    def adhoc_query(self) -> str:
        params: dict[str, str | list[str]] = {
            "$XDSDocumentEntryPatientId": f"'{self.patient}'",
            "$XDSDocumentEntryStatus": f"('{APPROVED}')",
        }
        for column, values in self.codes:
            params[FILTERS[column][0]] = "(" + ",".join(f"'{v}'" for v in values) + ")"
        if self.creation is not None:
            params["$XDSDocumentEntryCreationTimeFrom"] = self.creation[0]
            params["$XDSDocumentEntryCreationTimeTo"] = self.creation[1]
        return adhoc(FIND_DOCUMENTS, params)

    def fhir_path(self) -> str:
        codes = [(FILTERS[column][1], values) for column, values in self.codes]
        return find_document_references(self.patient, codes, self.creation, FHIR_COUNT, by_reference=True)


def queries(patients: list[str], codes: dict[str, list[str]], count: int, seed: int) -> list[Question]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        patient = rng.choice(patients)
        chosen = []
        for column in rng.sample(sorted(FILTERS), 1 + rng.randrange(3)):
            values = rng.sample(codes[column], min(len(codes[column]), 1 + rng.randrange(2)))
            chosen.append((column, tuple(values)))
        creation = None
        if rng.random() < 0.5:
            year = 2017 + rng.randrange(8)
            creation = (f"{year}0101", f"{year + 2}0101")
        out.append(Question(patient, tuple(chosen), creation))
    return out


def soap_message(question: Question, headers: dict[str, bytes] | None) -> bytes:
    """The SOAP envelope of a question, with the record's WS-Security header when the mode sends one."""
    message = envelope(STORED_QUERY, etree.fromstring(question.adhoc_query()))
    if headers is not None:
        message = message.replace(b"<soap:Header>", b"<soap:Header>" + headers[question.patient], 1)
    return message


def fhir_headers(question: Question, tokens: dict[str, str] | None) -> dict[str, str]:
    headers = {"Accept": FHIR_JSON}
    if tokens is not None:
        headers["Authorization"] = tokens[question.patient]
    return headers


def soap_requests(items: list[Question], headers: dict[str, bytes] | None) -> list[bytes]:
    return [http_request("/xds/registry", soap_message(q, headers), "application/soap+xml") for q in items]


def fhir_requests(items: list[Question], tokens: dict[str, str] | None) -> list[bytes]:
    return [http_get(q.fhir_path(), fhir_headers(q, tokens)) for q in items]


def assertions(data: Path, patients: list[str]) -> dict[str, bytes]:
    """A signed VIHF assertion per record: the professional acting on that patient's record."""
    authority = dev_authority.load(data)
    out = {}
    for patient in patients:
        assertion = dev_authority.mint_assertion(authority, Identity(patient=patient), ttl=timedelta(hours=4))
        out[patient] = etree.tostring(dev_authority.security_header(assertion))
    return out


def tokens(data: Path, patients: list[str]) -> dict[str, str]:
    """The same professional and records as ``assertions``, as bearer tokens."""
    authority = dev_authority.load(data)
    return {patient: bearer(authority, Identity(patient=patient)) for patient in patients}


def same_answers(
    srv: Server,
    label: str,
    items: list[Question],
    headers: dict[str, bytes] | None,
    tokens: dict[str, str] | None,
) -> dict[str, int]:
    """Ask the first questions on both faces until one with a creation range finds documents; every pair
    must count the same documents (SystemExit otherwise). The question checked and its count."""
    with httpx.Client(base_url=srv.base, timeout=60) as client:
        for index, question in enumerate(items[:200]):
            answer = client.post(
                "/xds/registry",
                content=soap_message(question, headers),
                headers={"Content-Type": "application/soap+xml"},
            )
            found_18 = registry_objects(answer.status_code, answer.content)
            answer = client.get(question.fhir_path(), headers=fhir_headers(question, tokens))
            found_67 = bundle_entries(answer.status_code, answer.content)
            if found_18 != found_67:
                raise SystemExit(
                    f"{label}: ITI-18 found {found_18} documents, ITI-67 {found_67}, for {question}"
                )
            if found_18 and question.creation is not None:
                return {"question": index, "documents": found_18}
    raise SystemExit(f"{label}: none of the first 200 questions with a creation range found a document")


async def measure(label: str, srv: Any, requests: list[bytes], ok: Any) -> LoadResult:
    """The first 100 requests warm the server up; the others are measured."""
    await drive("warm-up", srv.host, srv.port, requests[:WARM_UP], 1, ok)
    return await drive(label, srv.host, srv.port, requests[WARM_UP:], 1, ok, srv.pid)


def share(dmp: dict[str, Any], base: dict[str, Any], key: str) -> float:
    return (dmp[key] - base[key]) / dmp[key] if dmp[key] else 0.0


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
            items = queries(pool, codes, args.queries + WARM_UP, seed=size)
            signed = assertions(data, pool)
            bearers = tokens(data, pool)
            row: dict[str, Any] = {
                "entries": existing_entries(data),
                "generate_seconds": round(seconds, 1),
                **{face: {} for face in FACES},
                "checked": {},
            }
            # The credentials are signed by the data dir's test authority: trusted with dev_authority=on, and
            # by the DMP rules' dmp-test profile only (the production profile never trusts it).
            modes = [
                # (ITI-18 label, ITI-67 label, settings, assertions, tokens)
                ("ihe", "ihe", {"profile": "ihe", "anonymous_actor": "bench"}, None, None),
                ("ihe+saml", "ihe+token", {"profile": "ihe", "dev_authority": "on"}, signed, bearers),
                # the dmp server checks the audience its assertions name
                (
                    "dmp",
                    "dmp",
                    {"profile": "dmp-test", "dev_authority": "on", "saml_audience": "xds-server"},
                    signed,
                    bearers,
                ),
            ]
            for soap_label, fhir_label, settings, headers, bearer_tokens in modes:
                env = server_env(data, None, **settings)
                with server(env) as srv:
                    row["checked"][soap_label] = same_answers(srv, soap_label, items, headers, bearer_tokens)
                    faces = (
                        ("ITI-18", soap_label, soap_requests(items, headers), soap_success),
                        ("ITI-67", fhir_label, fhir_requests(items, bearer_tokens), fhir_success),
                    )
                    for face, label, requests, ok in faces:
                        result = asyncio.run(measure(label, srv, requests, ok))
                        if result.failures:
                            raise RuntimeError(
                                f"{face} {label}: {result.failures} failed queries, "
                                f"first {result.first_failure}"
                            )
                        row[face][label] = {
                            **result.as_json(),
                            "mean_ms": round(mean(result.latencies_ms), 2),
                        }
            results.append(row)
    finally:
        if args.data_root is None:
            shutil.rmtree(work, ignore_errors=True)
    rows = []
    for row in results:
        for face, credentials in (("ITI-18", "ihe+saml"), ("ITI-67", "ihe+token")):
            figures = row[face]
            wall = share(figures["dmp"], figures[credentials], "mean_ms")
            cpu = share(figures["dmp"], figures[credentials], "server_cpu_ms_each")
            figures["policy_share"], figures["policy_share_cpu"] = round(wall, 3), round(cpu, 3)
            for label in ("ihe", credentials, "dmp"):
                r = figures[label]
                rows.append(
                    [
                        f"{row['entries']:,}",
                        face,
                        label,
                        f"{r['p50_ms']:.2f}",
                        f"{r['p99_ms']:.2f}",
                        f"{r['mean_ms']:.2f}",
                        f"{r['per_second']:.0f}",
                        f"{r['server_cpu_ms_each']:.2f}",
                        f"{r['p99_ms'] / 10:.2f}",
                        f"{wall:.1%} / {cpu:.1%}" if label == "dmp" else "",
                    ]
                )
    print_table(
        "ITI-18 FindDocuments and ITI-67 Find Document References over HTTP, SQLite, one client",
        [
            "entries",
            "face",
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
    for row in results:
        checked = ", ".join(
            f"{label} {c['documents']} (question {c['question']})" for label, c in row["checked"].items()
        )
        print(f"{row['entries']:,} entries, the same documents on both faces: {checked}")
    if len(results) > 1:
        first, last = results[0], results[-1]
        for face in FACES:
            for label in ("ihe", "dmp"):
                p99 = last[face][label]["p99_ms"] / first[face][label]["p99_ms"]
                cpu = last[face][label]["server_cpu_ms_each"] / first[face][label]["server_cpu_ms_each"]
                print(
                    f"growth {first['entries']:,} -> {last['entries']:,} entries, {face} {label}: "
                    f"p99 {p99:.2f}x, cpu per query {cpu:.2f}x (target <= 1.5x)"
                )
    write_json(args.json, {"bench": "query", "rows": results})


if __name__ == "__main__":
    main()
