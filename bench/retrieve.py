"""ITI-43 and ITI-68 Retrieve of a 1 GiB document against a plain file-to-socket copy of the same file in the
same run, the server's peak RSS growth, and the latency of a small query while a 1 GiB document is being
uploaded.

    python bench/retrieve.py [--size-mib 1024] [--json out.json]
    XDS_BENCH_SERVER_ROOT=/path/to/other/checkout python bench/retrieve.py   # the same against other code

Steps (one server: bench/floor.py, SQLite, profile ``ihe``):

1. Upload: one ITI-41 with a ``--size-mib`` document streamed as an MTOM part (the client never holds it).
   Meanwhile a probe sends a small ITI-18 FindDocuments (ObjectRef, one patient) every 20 ms on another
   connection: its p50/p99/max during the upload, against the same probe with the server idle, shows whether
   the upload stalls the event loop (hashing and spooling a part inline would).
2. Retrieve: ITI-43 of that document; the client reads the MTOM answer from the socket and discards it.
3. MHD Retrieve: ITI-67 finds the document's DocumentReference (patient, status current), and ITI-68 GETs
   the URL its ``content.attachment.url`` gives; the client reads the bytes and discards them.
4. Plain copy: the same blob file sent by ``socket.sendfile`` from a bare TCP server in this process to the
   same kind of reading client: the ceiling for "file to socket" on this machine.

The RSS growth of a step is the server's peak RSS during it minus its RSS before the upload.

Targets (issue 12): each retrieve >= 50 % of the plain copy's MB/s; server RSS growth <= 32 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    FHIR_JSON,
    MIB,
    Connection,
    RssSampler,
    bundle_entries,
    cli,
    find_document_references,
    http_get,
    http_request,
    percentile,
    print_table,
    server,
    server_env,
    tree_rss,
    write_json,
)
from tests.query.builders import adhoc
from tests.repository.messages import (
    BOUNDARY,
    NIST_PATIENT,
    PNR,
    RETRIEVE,
    Doc,
    envelope,
    provide_request,
    retrieve_request,
)

REPOSITORY_ID = "1.3.6.1.4.1.21367.2010.1.2.1125"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
MTOM_TYPE = (
    f'multipart/related; type="application/xop+xml"; boundary="{BOUNDARY}"; '
    f'start="<root.message@cxf.apache.org>"; start-info="application/soap+xml"; action="{PNR}"'
)


def upload_head(doc: Doc) -> bytes:
    root = envelope(PNR, provide_request([doc]))
    crlf = b"\r\n"
    return crlf.join(
        [
            b"--" + BOUNDARY.encode(),
            b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"',
            b"Content-ID: <root.message@cxf.apache.org>",
            b"",
            root,
            b"--" + BOUNDARY.encode(),
            b"Content-Type: application/octet-stream",
            b"Content-Transfer-Encoding: binary",
            f"Content-ID: <{doc.content_id}>".encode(),
            b"",
            b"",
        ]
    )


async def upload(host: str, port: int, doc: Doc, size: int) -> tuple[float, bytes]:
    """Stream the ITI-41 request (Content-Length known up front); the seconds and the answer."""
    head = upload_head(doc)
    tail = b"\r\n--" + BOUNDARY.encode() + b"--\r\n"
    reader, writer = await asyncio.open_connection(host, port)
    started = time.perf_counter()
    writer.write(
        (
            f"POST /xds/repository HTTP/1.1\r\nHost: {host}\r\nContent-Type: {MTOM_TYPE}\r\n"
            f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n"
        ).encode()
        + head
    )
    block = os.urandom(MIB)
    sent = 0
    index = 0
    while sent < size:
        chunk = (index.to_bytes(8, "big") + block[8:])[: size - sent]
        writer.write(chunk)
        await writer.drain()
        sent += len(chunk)
        index += 1
    writer.write(tail)
    await writer.drain()
    connection = Connection(reader, writer)
    status, body = await connection.exchange(b"")
    seconds = time.perf_counter() - started
    await connection.close()
    if status != 200 or b"ResponseStatusType:Success" not in body:
        raise RuntimeError(f"1 GiB ITI-41 failed: {status} {body[:400]!r}")
    return seconds, body


async def probe(host: str, port: int, stop: asyncio.Event, interval: float = 0.02) -> list[float]:
    query = envelope(
        STORED_QUERY,
        __import__("lxml.etree").etree.fromstring(
            adhoc(
                FIND_DOCUMENTS,
                {
                    "$XDSDocumentEntryPatientId": f"'{NIST_PATIENT}'",
                    "$XDSDocumentEntryStatus": "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')",
                },
            )
        ),
    )
    request = http_request("/xds/registry", query, "application/soap+xml")
    connection = await Connection.open(host, port)
    latencies = []
    try:
        while not stop.is_set():
            started = time.perf_counter()
            status, body = await connection.exchange(request)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200 or b"ResponseStatusType:Success" not in body:
                raise RuntimeError(f"probe query failed: {status} {body[:300]!r}")
            await asyncio.sleep(interval)
    finally:
        await connection.close()
    return latencies


async def read_all(reader: asyncio.StreamReader) -> int:
    """Read a whole HTTP answer (Content-Length or chunked, or until close) and discard it: its body size."""
    head = await reader.readuntil(b"\r\n\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in head.decode("latin-1").split("\r\n")[1:])
    }
    total = 0
    if "content-length" in headers:
        remaining = int(headers["content-length"])
        while remaining:
            data = await reader.read(min(remaining, 4 * MIB))
            if not data:
                raise RuntimeError("answer cut short")
            remaining -= len(data)
            total += len(data)
        return total
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return total
            remaining = size + 2
            while remaining:
                data = await reader.read(min(remaining, 4 * MIB))
                remaining -= len(data)
            total += size
    while data := await reader.read(4 * MIB):
        total += len(data)
    return total


async def timed_read(host: str, port: int, request: bytes) -> tuple[float, int]:
    """Send one request on a new connection and read its whole answer: the seconds and the body's size."""
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    started = time.perf_counter()
    writer.write(request)
    await writer.drain()
    size = await read_all(reader)
    seconds = time.perf_counter() - started
    writer.close()
    return seconds, size


async def retrieve(host: str, port: int, unique_id: str) -> tuple[float, int]:
    request = http_request(
        "/xds/repository",
        envelope(RETRIEVE, retrieve_request(REPOSITORY_ID, unique_id)),
        "application/soap+xml",
    )
    return await timed_read(host, port, request)


async def attachment_url(host: str, port: int, unique_id: str) -> str:
    """The ITI-68 URL of a document as its DocumentReference (ITI-67) gives it."""
    connection = await Connection.open(host, port)
    search = find_document_references(NIST_PATIENT, count=100)
    status, body = await connection.exchange(http_get(search, {"Accept": FHIR_JSON}))
    await connection.close()
    bundle_entries(status, body)  # a complete searchset Bundle
    for entry in json.loads(body).get("entry", []):
        resource = entry["resource"]
        if resource.get("masterIdentifier", {}).get("value") == f"urn:oid:{unique_id}":
            return str(resource["content"][0]["attachment"]["url"])
    raise RuntimeError(f"ITI-67 found no DocumentReference of the document {unique_id}")


async def mhd_retrieve(host: str, port: int, url: str) -> tuple[float, int]:
    """ITI-68: GET the attachment URL (on this server: its path)."""
    path = urlsplit(url).path
    return await timed_read(host, port, http_get(path, {"Accept": "application/octet-stream"}))


def sendfile_server(path: Path) -> tuple[int, threading.Thread]:
    """A bare TCP server sending ``path`` once (an HTTP/1.1 head, then ``socket.sendfile``)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                size = path.stat().st_size
                conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
                with open(path, "rb") as handle:
                    conn.sendfile(handle)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


async def plain_copy(path: Path) -> tuple[float, int]:
    port, thread = sendfile_server(path)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    started = time.perf_counter()
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    size = await read_all(reader)
    seconds = time.perf_counter() - started
    writer.close()
    thread.join()
    return seconds, size


async def run(args: argparse.Namespace, host: str, port: int, pid: int, data: Path) -> dict[str, object]:
    size = args.size_mib * MIB
    # warm-up: one small document, and the probe alone (server idle)
    small = Doc(b"warm-up", "text/plain")
    await upload(host, port, small, 0)
    stop = asyncio.Event()
    task = asyncio.create_task(probe(host, port, stop))
    await asyncio.sleep(3)
    stop.set()
    idle = await task
    await asyncio.sleep(0.5)
    baseline = tree_rss(pid)

    doc = Doc(b"", "application/octet-stream")
    stop = asyncio.Event()
    probing = asyncio.create_task(probe(host, port, stop))
    with RssSampler(pid) as up_rss:
        up_seconds, _ = await upload(host, port, doc, size)
    stop.set()
    during = await probing

    with RssSampler(pid) as down_rss:
        down_seconds, got = await retrieve(host, port, doc.unique_id)
    if got < size:
        raise RuntimeError(f"ITI-43 answer of {got} bytes for a {size}-byte document")

    url = await attachment_url(host, port, doc.unique_id)
    with RssSampler(pid) as mhd_rss:
        mhd_seconds, got = await mhd_retrieve(host, port, url)
    if got != size:
        raise RuntimeError(f"ITI-68 answer of {got} bytes for a {size}-byte document")
    blobs = [p for p in (data / "blobs").rglob("*") if p.is_file() and p.stat().st_size == size]
    copy_seconds, copied = await plain_copy(blobs[0])
    mib = size / MIB
    return {
        "size_mib": mib,
        "baseline_rss_mib": baseline / MIB,
        "upload_mib_s": mib / up_seconds,
        "upload_rss_growth_mib": (up_rss.peak - baseline) / MIB,
        "retrieve_mib_s": mib / down_seconds,
        "retrieve_rss_growth_mib": (down_rss.peak - baseline) / MIB,
        "mhd_retrieve_mib_s": mib / mhd_seconds,
        "mhd_retrieve_rss_growth_mib": (mhd_rss.peak - baseline) / MIB,
        "plain_copy_mib_s": copied / MIB / copy_seconds,
        "probe_idle_ms": {"p50": percentile(idle, 50), "p99": percentile(idle, 99), "max": max(idle)},
        "probe_during_upload_ms": {
            "p50": percentile(during, 50),
            "p99": percentile(during, 99),
            "max": max(during),
            "count": len(during),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xds-bench-retrieve-", dir=os.environ.get("XDS_BENCH_TMP")))
    try:
        env = server_env(
            work / "data",
            None,
            profile="ihe",
            anonymous_actor="bench",
            repository_unique_id=REPOSITORY_ID,
            max_request_bytes=str(4 * 1024 * MIB),
        )
        cli(env, "db", "upgrade")
        cli(env, "patients", "add", NIST_PATIENT, "--state", "activated")
        with server(env) as srv:
            report = asyncio.run(run(args, srv.host, srv.port, srv.pid, work / "data"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = report["retrieve_mib_s"] / report["plain_copy_mib_s"]  # type: ignore[operator]
    mhd_ratio = report["mhd_retrieve_mib_s"] / report["plain_copy_mib_s"]  # type: ignore[operator]
    growth = max(
        float(report[key])  # type: ignore[arg-type]
        for key in ("upload_rss_growth_mib", "retrieve_rss_growth_mib", "mhd_retrieve_rss_growth_mib")
    )
    idle, during = report["probe_idle_ms"], report["probe_during_upload_ms"]
    origin = os.environ.get("XDS_BENCH_SERVER_ROOT") or "this checkout"
    print_table(
        f"1 document of {args.size_mib} MiB, server code from {origin}",
        ["what", "figure", "target", "ratio"],
        [
            ["ITI-41 upload MiB/s", f"{report['upload_mib_s']:.0f}", "", ""],
            ["ITI-43 retrieve MiB/s", f"{report['retrieve_mib_s']:.0f}", "", ""],
            ["ITI-68 retrieve MiB/s", f"{report['mhd_retrieve_mib_s']:.0f}", "", ""],
            ["plain file-to-socket MiB/s", f"{report['plain_copy_mib_s']:.0f}", "", ""],
            ["ITI-43 retrieve ÷ plain copy", f"{ratio:.2f}", ">= 0.50", f"{ratio / 0.5:.2f}"],
            ["ITI-68 retrieve ÷ plain copy", f"{mhd_ratio:.2f}", ">= 0.50", f"{mhd_ratio / 0.5:.2f}"],
            ["RSS growth upload MiB", f"{report['upload_rss_growth_mib']:.1f}", "<= 32", ""],
            ["RSS growth ITI-43 retrieve MiB", f"{report['retrieve_rss_growth_mib']:.1f}", "<= 32", ""],
            [
                "RSS growth ITI-68 retrieve MiB",
                f"{report['mhd_retrieve_rss_growth_mib']:.1f}",
                "<= 32",
                f"{growth / 32:.2f}",
            ],
            ["ITI-18 probe idle p50/p99 ms", f"{idle['p50']:.1f} / {idle['p99']:.1f}", "", ""],  # type: ignore[index]
            [
                "ITI-18 probe during upload p50/p99/max ms",
                f"{during['p50']:.1f} / {during['p99']:.1f} / {during['max']:.0f}",  # type: ignore[index]
                "",
                "",
            ],
        ],
    )
    report["retrieve_over_plain"] = ratio
    report["mhd_retrieve_over_plain"] = mhd_ratio
    write_json(args.json, {"bench": "retrieve", **report})


if __name__ == "__main__":
    main()
