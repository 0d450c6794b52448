"""ITI-67 Find Document References next to ITI-18 FindDocuments, over HTTP, on the same data and server.

Generates the registry as query_bench.py does (the real write path, N entries, P per patient), starts
``xds-server serve --profile ihe`` on it (a real process, its own dev authority), then times, from one
client thread with a keep-alive connection, the same random questions asked both ways, interleaved:

* ITI-18: SOAP FindDocuments LeafClass (signed VIHF assertion, minted once and reused: the server verifies it
  on every request) on ``/xds/registry``;
* ITI-67: ``GET /fhir/DocumentReference`` JSON (bearer token minted once, verified on every request), the
  same patient / status / class / type / event filters and creation range, ``_count`` = 100 (one page:
  every answer is complete, as ITI-18's is).

Prints p50 / p90 / p99 / mean latency (client-observed wall time) per face and the ITI-67 / ITI-18 ratios.

    .venv/bin/python bench/mhd_query.py [--entries 20000] [--per-patient 20] [--queries 1000]
                                        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from query_bench import (  # noqa: E402
    APPROVED,
    CLASS_CODES,
    EVENT_CODES,
    SCHEME,
    TYPE_CODES,
    generate,
    open_database,
    patient_id,
)

from bench.common import (  # noqa: E402
    FHIR_JSON,
    bearer,
    bundle_entries,
    find_document_references,
    registry_objects,
    server,
    server_env,
)
from xds_server.identity import dev_authority  # noqa: E402
from xds_server.storage.database import SQLITE_FILE_NAME, Database  # noqa: E402
from xds_server.storage.migrate import upgrade  # noqa: E402

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"


def question(rng: random.Random, patients: int) -> dict[str, object]:
    """A random FindDocuments question: a patient, 0-3 code filters, half the time a creation range."""
    q: dict[str, object] = {"patient": rng.randrange(patients)}
    for name, pool in rng.sample(
        [("class", CLASS_CODES), ("type", TYPE_CODES), ("event", EVENT_CODES)], rng.randint(0, 3)
    ):
        q[name] = rng.sample(pool, 2)
    if rng.random() < 0.5:
        start = rng.randint(2015, 2022)
        q["creation"] = (start, start + 2)
    return q


def _slot(name: str, value: str) -> str:
    text = escape(value)
    return f'<rim:Slot name="{name}"><rim:ValueList><rim:Value>{text}</rim:Value></rim:ValueList></rim:Slot>'


def soap_body(q: dict[str, object]) -> str:
    def codes(values: object) -> str:
        return "(" + ",".join(f"'{c}^^{SCHEME}'" for c in values) + ")"  # type: ignore[attr-defined]

    slots = [
        _slot("$XDSDocumentEntryPatientId", f"'{patient_id(int(q['patient']))}'"),  # type: ignore[call-overload]
        _slot("$XDSDocumentEntryStatus", f"('{APPROVED}')"),
        _slot(
            "$XDSDocumentEntryType",
            "('urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1','urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248')",
        ),
    ]
    for key, slot in (("class", "ClassCode"), ("type", "TypeCode"), ("event", "EventCodeList")):
        if key in q:
            slots.append(_slot(f"$XDSDocumentEntry{slot}", codes(q[key])))
    if "creation" in q:
        low, high = q["creation"]  # type: ignore[misc]
        slots.append(_slot("$XDSDocumentEntryCreationTimeFrom", f"{low}0101000000"))
        slots.append(_slot("$XDSDocumentEntryCreationTimeTo", f"{high}0101000000"))
    return (
        f'<query:AdhocQueryRequest xmlns:query="{QUERY}" xmlns:rim="{RIM}">'
        '<query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>'
        f'<rim:AdhocQuery id="{FIND_DOCUMENTS}">{"".join(slots)}</rim:AdhocQuery></query:AdhocQueryRequest>'
    )


def soap_message(q: dict[str, object], security: str) -> bytes:
    return (
        f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{STORED_QUERY}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>{security}</env:Header>"
        f"<env:Body>{soap_body(q)}</env:Body></env:Envelope>"
    ).encode()


def fhir_path(q: dict[str, object]) -> str:
    """The ITI-67 search of the same question (``_count`` = 100: one page holds every answer)."""
    codes = [
        (name, [f"{c}^^{SCHEME}" for c in q[key]])  # type: ignore[attr-defined]
        for key, name in (("class", "category"), ("type", "type"), ("event", "event"))
        if key in q
    ]
    creation = None
    if "creation" in q:
        low, high = q["creation"]  # type: ignore[misc]
        creation = (f"{low}0101", f"{high}0101")
    return find_document_references(patient_id(int(q["patient"])), codes, creation, 100)  # type: ignore[call-overload]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    at = lambda p: ordered[min(len(ordered) - 1, int(p * len(ordered)))]  # noqa: E731
    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "mean": statistics.fmean(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--per-patient", type=int, default=20)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=67)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite in a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mhd-bench-") as workdir:
        data_dir = Path(workdir)
        if args.database_url:
            database, cleanup = open_database(args.database_url, data_dir)
            server_url: str | None = str(database.engine.url.render_as_string(hide_password=False))
        else:
            database = Database(f"sqlite:///{data_dir / SQLITE_FILE_NAME}")
            cleanup, server_url = database.dispose, None
        try:
            upgrade(database)
            patients = generate(database, args.entries, args.per_patient, args.seed)
            if database.dialect_name == "postgresql":
                with database.engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE")
            database.dispose()
            authority = dev_authority.init(data_dir)
            # the data dir's test authority signs the credentials: trusted with dev_authority=on
            env = server_env(data_dir, server_url, profile="ihe", dev_authority="on")
            with server(env, floor=False) as srv:
                run(srv.base, authority, patients, args)
        finally:
            cleanup()


def run(url: str, authority: dev_authority.DevAuthority, patients: int, args: argparse.Namespace) -> None:
    from lxml import etree

    assertion = dev_authority.mint_assertion(authority, dev_authority.Identity(), ttl=timedelta(hours=2))
    security = etree.tostring(dev_authority.security_header(assertion)).decode()
    authorization = bearer(authority, ttl=timedelta(hours=2))
    rng = random.Random(args.seed)
    soap_times: list[float] = []
    fhir_times: list[float] = []
    soap_found = fhir_found = 0
    with httpx.Client(timeout=30) as client:
        headers_soap = {"Content-Type": "application/soap+xml"}
        headers_fhir = {"Authorization": authorization, "Accept": FHIR_JSON}
        for index in range(200 + args.queries):
            q = question(rng, patients)
            message = soap_message(q, security)
            started = time.perf_counter()
            soap = client.post(f"{url}/xds/registry", content=message, headers=headers_soap)
            soap_time = time.perf_counter() - started
            started = time.perf_counter()
            fhir = client.get(f"{url}{fhir_path(q)}", headers=headers_fhir)
            fhir_time = time.perf_counter() - started
            soap_count = registry_objects(soap.status_code, soap.content)
            fhir_count = bundle_entries(fhir.status_code, fhir.content)  # complete: no next page
            if soap_count != fhir_count:
                raise SystemExit(f"the faces disagree on {q}: ITI-18 {soap_count}, ITI-67 {fhir_count}")
            if index >= 200:  # after the warm-up
                soap_times.append(soap_time)
                fhir_times.append(fhir_time)
                soap_found += soap_count
                fhir_found += fhir_count
    s, f = percentiles(soap_times), percentiles(fhir_times)
    print(
        f"\n{args.queries} questions, {args.entries} entries, {patients} patients, "
        "one client thread, HTTP keep-alive"
    )
    print(f"{'':22}{'p50':>9}{'p90':>9}{'p99':>9}{'mean':>9}   avg docs")
    for label, stats, found in (
        ("ITI-18 FindDocuments", s, soap_found),
        ("ITI-67 DocumentRef.", f, fhir_found),
    ):
        cells = "".join(f"{stats[k] * 1000:8.2f}m" for k in ("p50", "p90", "p99", "mean"))
        print(f"{label:22}{cells}   {found / len(soap_times):.1f}")
    ratios = "".join(f"{f[k] / s[k]:9.2f}" for k in ("p50", "p90", "p99", "mean"))
    print(f"{'ratio ITI-67/ITI-18':22}{ratios}")


if __name__ == "__main__":
    main()
