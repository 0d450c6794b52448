"""Stored-query benchmark: FindDocuments latency (p50/p99) over N DocumentEntries.

Data go through the real write path: each patient's record is one ITI-42 style submission (SubmissionSet +
its DocumentEntries + HasMember associations) registered by the core ``register`` use case (validation,
planning) on ``SqlRegistryStore`` with the real ebRIM encoder; several submissions share one transaction
to keep generation time reasonable. Codes are drawn from small realistic value sets (a few dozen class,
type, event codes; 3 confidentiality codes), authors from a pool, creation times over ten years.

Queries run like the ITI-18 handler runs them: one read transaction each, ``run_stored_query`` on
``SqlQueryPort``. The timed mix: FindDocuments for a random patient, Approved, with 0-3 code filters
(class, type, event) and, half the time, a creationTime range; ObjectRef and LeafClass timed separately.
The EXPLAIN of FindDocuments with three code filters and a time range is printed at the end.

    .venv/bin/python bench/query_bench.py [--entries 100000] [--per-patient 20] [--queries 2000]
                                          [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Target of the issue: FindDocuments p99 <= 10 ms at 1M entries on 2 cores.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xds_server.core.metadata import (  # noqa: E402
    Association,
    Author,
    Code,
    DocumentEntry,
    LocalizedText,
    Slot,
    Submission,
    SubmissionSet,
)
from xds_server.core.ports import PatientState  # noqa: E402
from xds_server.core.profile import IHE_DEFAULT  # noqa: E402
from xds_server.core.query import (  # noqa: E402
    EVERYTHING,
    DocumentCriteria,
    QuerySettings,
    StoredQueryRequest,
    TimeRange,
    run_stored_query,
)
from xds_server.core.query.queries import FindDocuments  # noqa: E402
from xds_server.core.usecases.register import register  # noqa: E402
from xds_server.core.vocabulary import AssociationType, ObjectType, SlotName, Status  # noqa: E402
from xds_server.ebxml.encoding import encode_object_xml  # noqa: E402
from xds_server.storage.database import Database, url_with_schema  # noqa: E402
from xds_server.storage.migrate import upgrade  # noqa: E402
from xds_server.storage.patients import SqlPatientDirectory  # noqa: E402
from xds_server.storage.query_sql import SqlQueryPort, explain  # noqa: E402
from xds_server.storage.registry import SqlRegistryStore  # noqa: E402

SCHEME = "1.2.250.1.213.1.1.4.1"
CONF_SCHEME = "2.16.840.1.113883.5.25"
CLASS_CODES = [f"C{i}" for i in range(20)]
TYPE_CODES = [f"T{i}" for i in range(60)]
EVENT_CODES = [f"E{i}" for i in range(40)]
CONF_CODES = ["N", "R", "V"]
AUTHORS = [f"{800000000 + i}^Name{i}^Given{i}^^^^^^&1.2.250.1.71.4.2.1&ISO" for i in range(500)]
APPROVED = Status.APPROVED.value


def patient_id(n: int) -> str:
    return f"P{n:09d}^^^&1.2.250.1.213.1.4.8&ISO"


def year_time(rng: random.Random) -> str:
    month, day, hour = rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23)
    return f"{rng.randint(2015, 2024)}{month:02d}{day:02d}{hour:02d}0000"


class Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def new_uuid(self) -> str:
        return f"urn:uuid:{_uuid_text(self.rng.getrandbits(128))}"


def _uuid_text(value: int) -> str:
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


class Clock:
    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC)


def code(value: str, scheme: str = SCHEME) -> Code:
    return Code(value, scheme, value)


def record(rng: random.Random, ids: Ids, patient: str, count: int, serial: int) -> Submission:
    ss = SubmissionSet(
        entry_uuid=ids.new_uuid(),
        patient_id=patient,
        unique_id=f"1.2.250.1.999.2.{serial}",
        source_id="1.2.250.1.999.3",
        submission_time="20250101000000",
        authors=(Author(person=rng.choice(AUTHORS), institutions=("Hospital",)),),
        content_type_code=code("04"),
    )
    documents, members = [], []
    for index in range(count):
        doc = DocumentEntry(
            entry_uuid=ids.new_uuid(),
            title=LocalizedText("document"),
            mime_type="application/pdf",
            patient_id=patient,
            unique_id=f"1.2.250.1.999.1.{serial}.{index}",
            creation_time=year_time(rng),
            language_code="fr-FR",
            source_patient_id=patient,
            service_start_time=year_time(rng),
            hash=f"{rng.getrandbits(160):040x}",
            size=str(rng.randint(1000, 10**6)),
            repository_unique_id="1.2.250.1.999.4",
            authors=(Author(person=rng.choice(AUTHORS), institutions=("Hospital",)),),
            class_code=code(rng.choice(CLASS_CODES)),
            type_code=code(rng.choice(TYPE_CODES)),
            format_code=code("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3"),
            healthcare_facility_type_code=code("SA01", "1.2.250.1.71.4.2.4"),
            practice_setting_code=code("AMBULATOIRE", "1.2.250.1.213.1.1.4.9"),
            event_codes=tuple({code(e) for e in rng.sample(EVENT_CODES, rng.randint(0, 3))}),
            confidentiality_codes=(code(rng.choice(CONF_CODES), CONF_SCHEME),),
        )
        documents.append(doc)
        members.append(
            Association(
                entry_uuid=ids.new_uuid(),
                association_type=AssociationType.HAS_MEMBER.value,
                source=ss.entry_uuid,
                target=doc.entry_uuid,
                slots=(Slot(SlotName.SUBMISSION_SET_STATUS.value, ("Original",)),),
            )
        )
    return Submission(submission_sets=(ss,), documents=tuple(documents), associations=tuple(members))


def generate(database: Database, entries: int, per_patient: int, seed: int) -> int:
    """Register ``entries`` DocumentEntries, ``per_patient`` per patient; returns the number of patients."""
    rng = random.Random(seed)
    ids = Ids(rng)
    patients = max(1, entries // per_patient)
    batch = 50  # submissions per transaction
    started = time.perf_counter()
    done = 0
    for first in range(0, patients, batch):
        with database.transaction() as connection:
            directory = SqlPatientDirectory(connection)
            store = SqlRegistryStore(connection, encode_object_xml)
            for n in range(first, min(first + batch, patients)):
                count = per_patient if n < patients - 1 else entries - per_patient * (patients - 1)
                directory.add(patient_id(n), PatientState.ACTIVATED)
                register(
                    record(rng, ids, patient_id(n), count, n),
                    store=store,
                    profile=IHE_DEFAULT,
                    clock=Clock(),
                    ids=ids,
                )
                done += count
        if first // batch % 20 == 0:
            rate = done / (time.perf_counter() - started)
            print(f"  registered {done:>9} entries ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    print(f"generated {entries} entries for {patients} patients in {time.perf_counter() - started:.1f} s")
    return patients


def quoted(*values: str) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def random_request(rng: random.Random, patients: int, return_type: str) -> StoredQueryRequest:
    slots = [
        Slot("$XDSDocumentEntryPatientId", (f"'{patient_id(rng.randrange(patients))}'",)),
        Slot("$XDSDocumentEntryStatus", (quoted(APPROVED),)),
    ]
    filters = [
        ("$XDSDocumentEntryClassCode", CLASS_CODES),
        ("$XDSDocumentEntryTypeCode", TYPE_CODES),
        ("$XDSDocumentEntryEventCodeList", EVENT_CODES),
    ]
    for name, pool in rng.sample(filters, rng.randint(0, 3)):
        slots.append(Slot(name, (quoted(*(f"{c}^^{SCHEME}" for c in rng.sample(pool, 2))),)))
    if rng.random() < 0.5:
        low = rng.randint(2015, 2022)
        slots.append(Slot("$XDSDocumentEntryCreationTimeFrom", (str(low),)))
        slots.append(Slot("$XDSDocumentEntryCreationTimeTo", (str(low + 2),)))
    return StoredQueryRequest(FindDocuments.query_id, return_type=return_type, slots=tuple(slots))


def timed(database: Database, requests: list[StoredQueryRequest]) -> tuple[list[float], list[float], int]:
    """Wall-clock and CPU (this thread) milliseconds per query, and the objects returned."""
    settings = QuerySettings()
    wall, cpu, returned = [], [], 0
    for request in requests:
        started, started_cpu = time.perf_counter(), time.thread_time()
        with database.transaction(readonly=True) as connection:
            result = run_stored_query(request, SqlQueryPort(connection), settings=settings, scope=EVERYTHING)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
        returned += len(result.objects)
    return wall, cpu, returned


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return (
        f"p50 {pct(50):6.2f}  p90 {pct(90):6.2f}  p99 {pct(99):6.2f}  max {ordered[-1]:7.2f}  "
        f"mean {statistics.fmean(ordered):6.2f} ms"
    )


def report(label: str, wall: list[float], cpu: list[float], returned: int) -> None:
    print(f"{label:<24} wall  {percentiles(wall)}  ({1000 / statistics.fmean(wall):,.0f} q/s on one thread)")
    print(f"{'':<24} cpu   {percentiles(cpu)}  (avg {returned / len(wall):.1f} objects returned)")


def print_explain(database: Database) -> None:
    criteria = DocumentCriteria(
        patient_ids=frozenset({patient_id(7)}),
        statuses=frozenset({APPROVED}),
        object_types=frozenset({ObjectType.STABLE_DOCUMENT.value}),
        class_codes=frozenset({f"C1^^{SCHEME}", f"C2^^{SCHEME}"}),
        type_codes=frozenset({f"T1^^{SCHEME}", f"T2^^{SCHEME}"}),
        event_codes=(frozenset({f"E1^^{SCHEME}", f"E2^^{SCHEME}"}),),
        creation_time=TimeRange("20180101000000", "20200101000000"),
    )
    with database.transaction(readonly=True) as connection:
        port = SqlQueryPort(connection)
        plan = explain(connection, port.documents_statement(criteria, EVERYTHING, 10_001, False))
    print(f"\nEXPLAIN ({database.dialect_name}) FindDocuments, 3 code filters + creationTime range:")
    for line in plan:
        print("  " + line)


def run_queries(database: Database, args: argparse.Namespace, patients: int, round_: int = 1) -> None:
    rng = random.Random(
        args.seed + round_
    )  # each round its own patients: no cache warmed by the previous one
    warmup = [random_request(rng, patients, "ObjectRef") for _ in range(200)]
    timed(database, warmup)
    print(f"\nFindDocuments on {database.dialect_name}, {args.entries} entries, {patients} patients:")
    for return_type in ("ObjectRef", "LeafClass"):
        requests = [random_request(rng, patients, return_type) for _ in range(args.queries)]
        wall, cpu, returned = timed(database, requests)
        report(f"FindDocuments {return_type}", wall, cpu, returned)


def open_database(url: str | None, workdir: Path) -> tuple[Database, Callable[[], None]]:
    if url is None:
        database = Database(f"sqlite:///{workdir / 'bench.sqlite3'}")
        return database, database.dispose
    schema = f"bench_{secrets.token_hex(4)}"
    admin = Database(url)
    with admin.engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = Database(url_with_schema(url, schema))

    def cleanup() -> None:
        database.dispose()
        with admin.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return database, cleanup


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--per-patient", type=int, default=20)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL (default: a temporary SQLite file)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="query-bench-") as workdir:
        database, cleanup = open_database(args.database_url, Path(workdir))
        try:
            upgrade(database)
            patients = generate(database, args.entries, args.per_patient, args.seed)
            if database.dialect_name == "postgresql":
                with database.engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE")
            run_queries(database, args, patients)
            print_explain(database)
        finally:
            cleanup()


if __name__ == "__main__":
    main()
