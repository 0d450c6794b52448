"""Cost of the access trail (issue 11) on ITI-18 and ITI-41 throughput: the same requests through the SOAP
router with the audit hook (the server as shipped) and without it (a router subclass defined HERE, for this
bench only: the server has no switch to stop tracing), in alternating rounds on one database, so both modes
see the same machine load and database size.

    .venv/bin/python bench/audit_bench.py [--requests 300] [--rounds 4] [--database-url postgresql+psycopg://...]

Runs in-process (``Router.handle``, no HTTP), ``dmp-test`` profile (the DMP rules), one patient, one
thread; every request carries its own signed VIHF assertion (signed before the clock starts; verification
is timed, as in production). ITI-18 is FindDocuments by an authorised médecin over ~50 documents
(ObjectRef); ITI-41 a 10 KB document in base64 (non-MTOM). Prints requests per second (wall clock, and per
CPU second of the request thread: less sensitive to other load) per mode and round, the means over rounds
and the ratios traced/untraced.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.core.builders import DMP_PATIENT, dmp_document, dmp_submission  # noqa: E402
from tests.identity_helpers import install_authority, sign  # noqa: E402
from xds_server.app import build_services  # noqa: E402
from xds_server.config import Settings  # noqa: E402
from xds_server.core.audit import AuditOutcome, ClientInfo  # noqa: E402
from xds_server.core.metadata import Author  # noqa: E402
from xds_server.core.policy import AccessContext  # noqa: E402
from xds_server.core.ports import PatientState  # noqa: E402
from xds_server.core.vocabulary import SoapAction  # noqa: E402
from xds_server.ebxml.encoding import encode_submission  # noqa: E402
from xds_server.identity.dev_authority import DevAuthority, Identity  # noqa: E402
from xds_server.soap.envelope import SoapRequest  # noqa: E402
from xds_server.soap.router import Route, Router  # noqa: E402
from xds_server.storage.database import Database, sqlite_url_for, url_with_schema  # noqa: E402
from xds_server.storage.migrate import upgrade  # noqa: E402
from xds_server.storage.patients import SqlPatientDirectory  # noqa: E402
from xds_server.storage.records import SqlRecordStore  # noqa: E402
from xds_server.wiring import Services  # noqa: E402
from xds_server.wiring.audit import RequestAudit  # noqa: E402

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
XDSB = "urn:ihe:iti:xds-b:2007"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
CONTENT = b"%PDF-1.4 " + b"x" * 10_000
PS_OID = "1.2.250.1.71.4.2.1"
MEDECIN = Identity(national_id="810000000002", structure="S-BENCH", patient=DMP_PATIENT)


class _Untraced(RequestAudit):
    """No trace: the handler's services unchanged, nothing written."""

    def bind(self, services: Services) -> Services:
        return services

    def finish(self, outcome: AuditOutcome, description: str | None = None) -> None:
        return None


class UntracedRouter(Router):
    def _audit(
        self, route: Route, request: SoapRequest, actor: AccessContext | None, client_address: str | None
    ) -> RequestAudit:
        return _Untraced(self.services, route.transaction, actor, ClientInfo())


def envelope(action: str, body: str) -> bytes:
    return (
        f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{secrets.token_hex(16)}</wsa:MessageID></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def find_message() -> bytes:
    body = (
        '<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
        'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">'
        '<query:ResponseOption returnType="ObjectRef" returnComposedObjects="true"/>'
        f'<rim:AdhocQuery id="{FIND_DOCUMENTS}">'
        '<rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList>'
        f"<rim:Value>'{escape(DMP_PATIENT)}'</rim:Value>"
        "</rim:ValueList></rim:Slot>"
        f"<rim:Slot name=\"$XDSDocumentEntryStatus\"><rim:ValueList><rim:Value>('{APPROVED}')</rim:Value>"
        "</rim:ValueList></rim:Slot></rim:AdhocQuery></query:AdhocQueryRequest>"
    )
    return envelope(SoapAction.STORED_QUERY, body)


def provide_message(repository: str) -> bytes:
    doc = dmp_document(
        f"urn:uuid:{uuid.uuid4()}",
        authors=(Author(person=f"{MEDECIN.national_id}^BENCH^Doc^^^^^^&{PS_OID}&ISO^D^^^IDNPS"),),
        hash=hashlib.sha1(CONTENT).hexdigest(),
        size=str(len(CONTENT)),
        repository_unique_id=repository,
    )
    submission = etree.tostring(encode_submission(dmp_submission(doc))).decode()
    body = (
        f'<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="{XDSB}">{submission}'
        f'<xdsb:Document id="{doc.entry_uuid}">{base64.b64encode(CONTENT).decode()}</xdsb:Document>'
        "</xdsb:ProvideAndRegisterDocumentSetRequest>"
    )
    return envelope(SoapAction.PROVIDE_AND_REGISTER, body)


def throughput(router: Router, messages: list[bytes], check: bytes) -> tuple[float, float]:
    """(requests per wall-clock second, requests per CPU second of this thread): the CPU figure is less
    sensitive to other load on the machine."""
    start, cpu = time.perf_counter(), time.thread_time()
    for message in messages:
        answer = router.handle(message)
        body = answer.body if isinstance(answer.body, bytes) else b""
        assert answer.status == 200 and check in body, body[:600]
    return len(messages) / (time.perf_counter() - start), len(messages) / (time.thread_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300, help="requests per mode and round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="xds-audit-bench-"))
    url = sqlite_url_for(data_dir)
    schema = None
    if args.database_url:
        schema = f"audit_bench_{secrets.token_hex(4)}"
        url = url_with_schema(args.database_url, schema)
    database = Database(url, schema=schema)
    upgrade(database)
    # the DMP rules with the test authority (the production profile never trusts it)
    settings = Settings(data_dir=data_dir, profile="dmp-test", dev_authority="on")
    authority: DevAuthority = install_authority(data_dir)
    services = build_services(settings, database)
    with database.transaction() as connection:
        SqlPatientDirectory(connection).add(DMP_PATIENT, PatientState.ACTIVATED)
        SqlRecordStore(connection).authorize(DMP_PATIENT, MEDECIN.national_id)
    routers = {"traced": Router(services), "untraced": UntracedRouter(services)}
    repository = settings.repository_unique_id
    success = b"ResponseStatusType:Success"
    # ~50 documents in the record, so the queries return something
    throughput(
        routers["untraced"],
        [sign(provide_message(repository), authority, MEDECIN) for _ in range(50)],
        success,
    )

    workloads: dict[str, Callable[[], bytes]] = {
        "ITI-18": find_message,
        "ITI-41": lambda: provide_message(repository),
    }
    print(
        f"backend {database.dialect_name}, {args.requests} requests per mode and round, {args.rounds} rounds"
    )
    for name, make in workloads.items():
        wall: dict[str, list[float]] = {"traced": [], "untraced": []}
        cpu: dict[str, list[float]] = {"traced": [], "untraced": []}
        for round_ in range(args.rounds):
            order = ("traced", "untraced") if round_ % 2 == 0 else ("untraced", "traced")
            for mode in order:
                messages = [sign(make(), authority, MEDECIN) for _ in range(args.requests)]
                rate, cpu_rate = throughput(routers[mode], messages, success)
                wall[mode].append(rate)
                cpu[mode].append(cpu_rate)
                print(f"{name} round {round_ + 1} {mode:9s} {rate:8.1f} req/s  ({cpu_rate:8.1f} req/CPU-s)")
        for label, figures in (("wall", wall), ("cpu", cpu)):
            traced, untraced = statistics.mean(figures["traced"]), statistics.mean(figures["untraced"])
            print(
                f"{name} {label}: traced {traced:.1f}, untraced {untraced:.1f} req/s, ratio traced/untraced "
                f"{traced / untraced:.3f} (cost {100 * (1 - traced / untraced):.1f} %)"
            )
    database.dispose()
    if schema is not None:
        admin = Database(args.database_url)
        with admin.engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
