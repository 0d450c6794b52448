"""Repository benchmark: resident memory of the server for a 1 GiB document in (ITI-41) and out (ITI-43), and
the throughput of ITI-41 with a 10 KB document.

Starts the real server (``python -m xds_server.cli serve``) as a subprocess on a fresh data directory (SQLite,
file blob store; ``--database-url`` for PostgreSQL), samples its RSS from ``/proc/<pid>/status`` every 10 ms,
and prints one line per figure plus the ratios. The client streams the request body from a generator and
spools the answer to disk, so neither side holds the document in memory.

    .venv/bin/python bench/repository_bench.py [--size-mib 1024] [--pnr-count 300] [--concurrency 4]

Pass criterion of the issue: RSS growth below 64 MiB for both the 1 GiB upload and the 1 GiB download.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.repository.messages import (  # noqa: E402
    BOUNDARY,
    NIST_PATIENT,
    PNR,
    RETRIEVE,
    Doc,
    envelope,
    pnr_message,
    provide_request,
    retrieve_request,
)
from xds_server.soap.mtom import MultipartLimits, read_multipart  # noqa: E402

REPOSITORY_ID = "1.3.6.1.4.1.21367.2010.1.2.1125"
MIB = 1024 * 1024
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Peak RSS of a process over a window, sampled every ``interval`` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))


@contextmanager
def server(data_dir: Path, database_url: str | None) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "XDS_DATA_DIR": str(data_dir),
        "XDS_PROFILE": "ihe",
        "XDS_REPOSITORY_UNIQUE_ID": REPOSITORY_ID,
        "XDS_MAX_REQUEST_BYTES": str(4 * 1024 * MIB),
        "XDS_LOG_LEVEL": "WARNING",
    }
    if database_url:
        env["XDS_DATABASE_URL"] = database_url
    cli = [sys.executable, "-m", "xds_server.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*cli, "patients", "add", NIST_PATIENT, "--state", "activated"],
        env=env,
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"server did not start: {process.stderr.read().decode() if process.stderr else ''}"
                )
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def status_of(xml: bytes) -> tuple[str, list[str]]:
    root = etree.fromstring(xml)
    response = next(root.iter(f"{{{RS}}}RegistryResponse"))
    codes = [e.get("errorCode", "") for e in response.iter(f"{{{RS}}}RegistryError")]
    return response.get("status", "").rsplit(":", 1)[-1], codes


async def root_of(response: httpx.Response, spool: Path) -> tuple[bytes, dict[str, tuple[int, str]]]:
    """The SOAP root of an (MTOM) answer and {content-id: (size, sha1)} of its parts, streamed to disk."""
    content_type = response.headers["content-type"]
    if not content_type.startswith("multipart/related"):
        return await response.aread(), {}
    message = await read_multipart(
        response.aiter_bytes(),
        content_type,
        limits=MultipartLimits(max_request_bytes=1 << 40),
        spool_dir=spool,
    )
    with message:
        return message.root, {cid: (p.size, p.sha1) for cid, p in message.parts.items()}


def big_document(size: int) -> tuple[Doc, AsyncIterator[bytes], hashlib._Hash]:
    """A document of ``size`` bytes produced chunk by chunk; its SHA-1 is complete once the body is sent."""
    block = os.urandom(MIB)
    digest = hashlib.sha1()
    doc = Doc(b"", "application/octet-stream")
    root = envelope(PNR, provide_request([doc]))
    crlf = b"\r\n"
    head = crlf.join(
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
    tail = crlf + b"--" + BOUNDARY.encode() + b"--" + crlf

    async def body() -> AsyncIterator[bytes]:
        yield head
        sent = 0
        index = 0
        while sent < size:
            chunk = index.to_bytes(8, "big") + block[8:]
            chunk = chunk[: size - sent]
            digest.update(chunk)
            sent += len(chunk)
            index += 1
            yield chunk
        yield tail

    return doc, body(), digest


MTOM_TYPE = (
    f'multipart/related; type="application/xop+xml"; boundary="{BOUNDARY}"; '
    f'start="<root.message@cxf.apache.org>"; start-info="application/soap+xml"; action="{PNR}"'
)


async def big_round_trip(base: str, pid: int, size: int, spool: Path) -> None:
    url = f"{base}/xds/repository"
    async with httpx.AsyncClient(timeout=None) as client:
        # warm-up: every module and code path loaded before the baseline is taken
        small = Doc(b"warm-up", "text/plain")
        body, content_type = pnr_message([small])
        await client.post(url, content=body, headers={"Content-Type": content_type})
        retrieve = envelope(RETRIEVE, retrieve_request(REPOSITORY_ID, small.unique_id))
        await client.post(url, content=retrieve, headers={"Content-Type": "application/soap+xml"})
        await asyncio.sleep(0.5)
        baseline = rss_bytes(pid)

        doc, stream, digest = big_document(size)
        started, cpu = time.monotonic(), cpu_seconds(pid)
        with RssSampler(pid) as upload:
            response = await client.post(url, content=stream, headers={"Content-Type": MTOM_TYPE})
            xml, _ = await root_of(response, spool)
        upload_seconds, upload_cpu = time.monotonic() - started, cpu_seconds(pid) - cpu
        status, codes = status_of(xml)
        if status != "Success":
            raise RuntimeError(f"1 GiB ITI-41 failed: {status} {codes}")

        request = envelope(RETRIEVE, retrieve_request(REPOSITORY_ID, doc.unique_id))
        started, cpu = time.monotonic(), cpu_seconds(pid)
        with RssSampler(pid) as download:
            async with client.stream(
                "POST", url, content=request, headers={"Content-Type": "application/soap+xml"}
            ) as response:
                xml, parts = await root_of(response, spool)
        download_seconds, download_cpu = time.monotonic() - started, cpu_seconds(pid) - cpu
        status, codes = status_of(xml)
        ((got_size, got_sha1),) = parts.values()
        if status != "Success" or (got_size, got_sha1) != (size, digest.hexdigest()):
            raise RuntimeError(f"1 GiB ITI-43 failed: {status} {codes} {got_size} {got_sha1}")

    mib = size / MIB
    print(f"document size                 {mib:10.0f} MiB")
    print(f"server RSS baseline           {baseline / MIB:10.1f} MiB")
    print(
        f"ITI-41 in:  RSS peak growth   {(upload.peak - baseline) / MIB:10.1f} MiB   "
        f"({mib / upload_seconds:.0f} MiB/s, server CPU {upload_cpu:.1f} s for {upload_seconds:.1f} s)"
    )
    print(
        f"ITI-43 out: RSS peak growth   {(download.peak - baseline) / MIB:10.1f} MiB   "
        f"({mib / download_seconds:.0f} MiB/s, server CPU {download_cpu:.1f} s for {download_seconds:.1f} s)"
    )
    worst = max(upload.peak, download.peak) - baseline
    print(
        f"RSS growth / 64 MiB budget    {worst / (64 * MIB):10.2f}   "
        f"({'PASS' if worst < 64 * MIB else 'FAIL'})"
    )


async def pnr_throughput(base: str, count: int, concurrency: int) -> None:
    url = f"{base}/xds/repository"
    payload = (b"0123456789abcdef" * 640)[: 10 * 1024]
    messages = []
    for index in range(count):
        doc = Doc(payload[:-8] + index.to_bytes(8, "big"), "text/plain")  # 10 KB, one blob each
        messages.append(pnr_message([doc]))
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    failures: list[str] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body, content_type = queue.get_nowait()
            response = await client.post(url, content=body, headers={"Content-Type": content_type})
            xml, _ = await root_of(response, Path(tempfile.gettempdir()))
            status, codes = status_of(xml)
            if status != "Success":
                failures.append(f"{status} {codes}")

    async with httpx.AsyncClient(timeout=60) as client:
        started = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.monotonic() - started
    if failures:
        raise RuntimeError(f"{len(failures)} PnR failed, first: {failures[0]}")
    print(
        f"ITI-41 10 KB: {count} requests, concurrency {concurrency}: {count / seconds:8.1f} requests/s "
        f"({1000 * seconds / count:.1f} ms per request on average)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--pnr-count", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--database-url", default=None, help="PostgreSQL URL (default: SQLite in the data dir)"
    )
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xds-repo-bench-"))
    try:
        with server(work / "data", args.database_url) as (base, pid):
            print(
                f"server pid {pid} on {base}, data {work / 'data'}, database {args.database_url or 'SQLite'}"
            )
            if not args.skip_big:
                spool = work / "client-spool"
                spool.mkdir()
                asyncio.run(big_round_trip(base, pid, args.size_mib * MIB, spool))
            asyncio.run(pnr_throughput(base, args.pnr_count, 1))
            asyncio.run(pnr_throughput(base, args.pnr_count, args.concurrency))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
