"""What the HTTP benchmarks share: a server subprocess, a lean HTTP/1.1 load client, the requests of the FHIR
(MHD) face and their credentials, percentiles, the summary table and the JSON report.

The client is deliberately thin (asyncio streams, pre-built request bytes, keep-alive, Content-Length or
chunked answers): on a 2-core machine the load generator competes with the server for the CPU, so every
microsecond it spends is a microsecond the server does not get. The floor endpoints of a benchmark are driven
by the same client, so the ratios compare like with like.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from lxml import etree
from rich.console import Console
from rich.table import Table

from fhir_api.mapping.codes import oid_uri, system_uri
from xds_server.core.identifiers import parse_cx
from xds_server.identity import dev_authority

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
console = Console(width=150)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> dict[str, Any]:
    """What the figures came from (the README quotes it next to them)."""
    with open("/proc/cpuinfo") as cpuinfo:
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?"
        )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (uvicorn workers) so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for child in _children(pid):
        with suppress(FileNotFoundError, ProcessLookupError):
            total += cpu_seconds(child)
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def tree_rss(pid: int) -> int:
    """RSS of a process and its children (uvicorn workers)."""
    total = rss_bytes(pid)
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        children = []
    for child in children:
        with suppress(FileNotFoundError, ProcessLookupError):
            total += tree_rss(int(child))
    return total


class RssSampler:
    """Peak RSS of a process tree over a window, sampled every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = tree_rss(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))


@dataclass
class Server:
    base: str
    host: str
    port: int
    pid: int
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)


def server_env(data_dir: Path, database_url: str | None, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDS_")}
    env.update(
        {
            "XDS_DATA_DIR": str(data_dir),
            "XDS_LOG_LEVEL": "WARNING",
            **{f"XDS_{name.upper()}": value for name, value in settings.items()},
        }
    )
    if database_url:
        env["XDS_DATABASE_URL"] = database_url
    return env


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "xds_server.cli", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"xds-server {' '.join(args)} failed: {done.stderr}")
    return done.stdout


@contextmanager
def server(env: dict[str, str], *, workers: int = 1, floor: bool = True) -> Iterator[Server]:
    """The server as ``xds-server serve`` runs it, plus (``floor``) the trivial endpoints of bench/floor.py
    on the same stack (same uvicorn, same FastAPI app, same workers)."""
    port = free_port()
    command = (
        [sys.executable, str(ROOT / "bench" / "floor.py")]
        if floor
        else [sys.executable, "-m", "xds_server.cli"]
    )
    command += ["serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = (
                    process.stderr.read().decode() if process.stderr and process.poll() is not None else ""
                )
                raise RuntimeError(f"server did not start: {stderr}")
            time.sleep(0.2)
        yield Server(base, "127.0.0.1", port, process.pid, Path(env["XDS_DATA_DIR"]), env)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- a lean HTTP/1.1 client ------------------------------------------------------------------------------


def http_request(path: str, body: bytes, content_type: str, host: str = "127.0.0.1") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    return head + body


def http_get(path: str, headers: Mapping[str, str] | None = None, host: str = "127.0.0.1") -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection:
    """One keep-alive connection: ``exchange(request bytes) -> (status, body)``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            return status, await self.reader.readexactly(int(headers["content-length"]))
        body = bytearray()
        while True:  # chunked
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return status, bytes(body)
            body += await self.reader.readexactly(size)
            await self.reader.readexactly(2)

    async def close(self) -> None:
        self.writer.close()
        with suppress(ConnectionError):
            await self.writer.wait_closed()


@dataclass
class LoadResult:
    label: str
    clients: int
    count: int
    seconds: float
    latencies_ms: list[float]
    failures: int
    first_failure: str = ""
    server_cpu_seconds: float = 0.0

    @property
    def cpu_ms_each(self) -> float:
        """Server CPU (all its processes) per request: what the machine pays, whatever the contention."""
        return 1000 * self.server_cpu_seconds / self.count if self.count else 0.0

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies_ms, p)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "clients": self.clients,
            "count": self.count,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "max_ms": round(max(self.latencies_ms, default=0.0), 2),
            "failures": self.failures,
            "server_cpu_ms_each": round(self.cpu_ms_each, 2),
        }


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def drive(
    label: str,
    host: str,
    port: int,
    requests: Sequence[bytes],
    clients: int,
    ok: Any,
    pid: int | None = None,
) -> LoadResult:
    """Send ``requests`` over ``clients`` keep-alive connections, each taking the next unsent request;
    ``ok(status, body) -> str | None`` says what went wrong with an answer (None: success)."""
    connections = [await Connection.open(host, port) for _ in range(clients)]
    latencies: list[float] = []
    failures: list[str] = []
    cursor = iter(requests)

    async def worker(connection: Connection) -> None:
        for request in cursor:
            started = time.perf_counter()
            status, body = await connection.exchange(request)
            latencies.append((time.perf_counter() - started) * 1000)
            problem = ok(status, body)
            if problem:
                failures.append(problem)

    cpu = cpu_seconds(pid) if pid else 0.0
    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu if pid else 0.0
    for connection in connections:
        await connection.close()
    first = (failures or [""])[0]
    return LoadResult(label, clients, len(requests), seconds, latencies, len(failures), first, cpu)


def soap_success(status: int, body: bytes) -> str | None:
    if status == 200 and b"ResponseStatusType:Success" in body:
        return None
    return f"HTTP {status}: {body[:300]!r}"


# ---- the FHIR face (MHD ITI-67 / ITI-68) ----------------------------------------------------------------

FHIR_JSON = "application/fhir+json"


def fhir_token(code: str) -> str:
    """An XDS code as the registry keeps it (``code^^codingScheme``) as a FHIR token ``system|code``: the
    system is the one the DocumentReferences carry (fhir_api.mapping.codes), so the server maps it back to
    the same codingScheme. Commas and backslashes are escaped (FHIR search: ``,`` separates alternatives)."""
    value, separator, scheme = code.partition("^^")
    if not separator or not scheme:
        raise ValueError(f"{code!r} is not code^^codingScheme")
    return f"{_escape(system_uri(scheme))}|{_escape(value)}"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,")


def fhir_date(dtm: str) -> str:
    """An HL7 DTM of year, month or day precision (``2017``, ``201701``, ``20170101``) as a FHIR date; a
    finer DTM would need a time zone in FHIR and is refused."""
    if not dtm.isdigit() or len(dtm) not in (4, 6, 8):
        raise ValueError(f"{dtm!r}: a YYYY, YYYYMM or YYYYMMDD date is expected")
    return "-".join(part for part in (dtm[:4], dtm[4:6], dtm[6:8]) if part)


def patient_identifier(cx: str) -> str:
    """A patient id in CX form (``ID^^^&OID&ISO``) as the token of ITI-67's ``patient.identifier``.

    The server rebuilds ``ID^^^&OID&ISO`` from it and canonicalises it under its profile: the DMP profiles add
    the INS type (``^NH``), the ``ihe`` profile adds nothing, so under ``ihe`` this token does not name a CX
    stored with a type code (see ``patient_reference``)."""
    parsed = parse_cx(cx)
    return f"{oid_uri(parsed.authority)}|{parsed.id}"


def patient_reference(cx: str) -> str:
    """``Patient/cx-<base32 of the whole CX>``: the logical id fhir_api.mapping.patient gives a CX that has
    no short form, which names exactly this CX, type code included, under every profile."""
    return "Patient/cx-" + base64.b32encode(cx.encode("utf-8")).decode("ascii").rstrip("=").lower()


def find_document_references(
    patient: str,
    codes: Sequence[tuple[str, Sequence[str]]] = (),
    creation: tuple[str, str] | None = None,
    count: int = 1000,
    *,
    by_reference: bool = False,
) -> str:
    """The path of the ITI-67 search asking what an ITI-18 FindDocuments of Approved entries asks.

    ``patient``: the CX of $XDSDocumentEntryPatientId, sent as ``patient.identifier`` or (``by_reference``)
    as ``patient=Patient/cx-...``; ``codes``: (FHIR parameter, XDS codes ORed) pairs, e.g.
    ``("category", [...])`` for $XDSDocumentEntryClassCode, ``type``, ``setting``, ``event`` ...;
    ``creation``: the (From, To) DTMs of $XDSDocumentEntryCreationTimeFrom/To (From inclusive, To
    exclusive, as in XDS); ``count``: ``_count``, to be at least the largest answer so that one page holds
    all of it (the server caps it at 1000)."""
    params = [
        ("patient", patient_reference(patient))
        if by_reference
        else ("patient.identifier", patient_identifier(patient)),
        ("status", "current"),
    ]
    params += [(name, ",".join(fhir_token(code) for code in values)) for name, values in codes]
    if creation is not None:
        low, high = creation
        params += [("creation", f"ge{fhir_date(low)}"), ("creation", f"lt{fhir_date(high)}")]
    params.append(("_count", str(count)))
    return f"/fhir/DocumentReference?{urlencode(params)}"


def bearer(
    authority: dev_authority.DevAuthority,
    identity: dev_authority.Identity | None = None,
    ttl: timedelta = timedelta(hours=4),
) -> str:
    """An ``Authorization`` value: a dev bearer token (RS256 JWT of the data dir's test authority) naming
    ``identity`` (a professional; with ``identity.patient`` the record he acts on)."""
    token = dev_authority.mint_token(authority, dev_authority.token_claims(identity, ttl=ttl))
    return f"Bearer {token}"


def bundle_entries(status: int, body: bytes) -> int:
    """The number of resources of a complete searchset Bundle; RuntimeError for a failure or a Bundle
    with a next page (the answer was cut: ``_count`` too small)."""
    if status != 200:
        raise RuntimeError(f"ITI-67 answered HTTP {status}: {body[:300]!r}")
    bundle = json.loads(body)
    if bundle.get("resourceType") != "Bundle":
        raise RuntimeError(f"ITI-67 answered no Bundle: {body[:300]!r}")
    if any(link.get("relation") == "next" for link in bundle.get("link", [])):
        raise RuntimeError("ITI-67 answered a Bundle with a next page: raise _count")
    return len(bundle.get("entry", []))


RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


def registry_objects(status: int, body: bytes) -> int:
    """The number of objects (ObjectRefs or ExtrinsicObjects ...) of a successful ITI-18 answer."""
    problem = soap_success(status, body)
    if problem:
        raise RuntimeError(f"ITI-18 failed: {problem}")
    found = etree.fromstring(body).find(f".//{{{RIM}}}RegistryObjectList")
    return 0 if found is None else len(found)


def fhir_success(status: int, body: bytes) -> str | None:
    """``drive``'s check of an ITI-67 answer: a Bundle without a next page (a byte search, cheap on the
    client's side; ``bundle_entries`` reads it properly)."""
    if status == 200 and b'"Bundle"' in body[:100] and b'"relation":"next"' not in body:
        return None
    return f"HTTP {status}: {body[:300]!r}"


# ---- output ---------------------------------------------------------------------------------------------


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column not in ("what", "target", "verdict") else "left")
    for row in rows:
        table.add_row(*(f"{cell:.2f}" if isinstance(cell, float) else str(cell) for cell in row))
    console.print(table)


def write_json(path: Path | None, report: dict[str, Any]) -> None:
    if path is None:
        return
    report = {"machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **report}
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"JSON written to {path}")


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0
