"""The cost of hostile requests, before and after the hardening of issue 14: prints one line per finding.

    python bench/hardening_bench.py                      # this checkout
    PYTHONPATH=/path/to/older/checkout python bench/hardening_bench.py   # the same figures for another one

Each case starts a real server process (``python -m xds_server.cli serve``, ``ihe`` profile, anonymous actor,
SQLite in a temporary directory; PYTHONPATH decides which checkout runs) and measures: the wall time of the
case's requests, the server's peak memory growth (VmHWM from /proc, after start-up), the bytes added to the
data directory, and the answer. The requests are built before the clock starts.

Cases
    slots       one ITI-41 whose DocumentEntry carries 200 000 Slots (finding: stored, 15.9 s, +340 MB)
    patterns    an ITI-18 FindDocuments with 1500 authorPerson patterns (finding: "Expression tree is too
                large", a bare XDSRegistryError)
    refused     ten ITI-41 of a 5 MiB document for an unknown patient (finding: the store grew by 50 MiB)
    anonymous   eight concurrent anonymous 30 MiB SOAP envelopes on dmp-test (finding: 32 of them, 850 MB)
    upload      one anonymous 200 MiB MTOM upload on dmp-test: peak staging disk (finding: 4 x 250 MB, 936 MB)
    half-open   500 connections sending half a request header: how many the server still holds 12 s later
                (finding: 3000 held forever)
    slow-body   a Content-Length of 100 000 with 13 bytes sent: seconds until the server lets go
                (finding: 90 s and more; the wait is capped at 100 s)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(1, str(ROOT))  # the tests' message builders (after PYTHONPATH: the checkout measured)

import httpx  # noqa: E402

from tests.repository.messages import LCM, NIST_PATIENT, RIM, Doc, envelope, pnr_message, provide_request  # noqa: E402
from tests.server_helpers import free_port  # noqa: E402

PNR = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Server:
    """``xds-server serve`` of the checkout on PYTHONPATH, on a free local port, stopped at the end."""

    def __init__(self, data_dir: Path, profile: str = "ihe") -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, "XDS_DATA_DIR": str(data_dir), "XDS_PROFILE": profile,
                    "XDS_LOG_LEVEL": "WARNING"}  # fmt: skip
        if profile == "ihe":
            self.env["XDS_ANONYMOUS_ACTOR"] = "bench"
        self.port = free_port()

    def __enter__(self) -> Server:
        cli = [sys.executable, "-m", "xds_server.cli"]
        if self.env["XDS_PROFILE"] == "ihe":
            subprocess.run([*cli, "patients", "add", NIST_PATIENT, "--state", "activated"],
                           env=self.env, check=True, capture_output=True)  # fmt: skip
        self.process = subprocess.Popen(
            [*cli, "serve", "--port", str(self.port)], env=self.env, stderr=subprocess.DEVNULL
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.client.get("/health").status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start")

    def __exit__(self, *_exc: object) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=30)

    def post(self, path: str, content: bytes, content_type: str = "application/soap+xml") -> httpx.Response:
        return self.client.post(path, content=content, headers={"Content-Type": content_type})


def status(content: bytes) -> str:
    text = content.decode("utf-8", "replace")
    for word in ("Success", "PartialSuccess", "Failure"):
        if f"ResponseStatusType:{word}" in text:
            codes = sorted({part.split('"')[0] for part in text.split('errorCode="')[1:]})
            return f"{word} {','.join(codes)}".strip()
    return "fault" if "Fault" in text else text[:80]


def case_slots() -> Callable[[Server], str]:
    request = provide_request([Doc(b"a document with 200 000 slots", form="inline")])
    entry = request.find(
        f"{{{LCM}}}SubmitObjectsRequest/{{{RIM}}}RegistryObjectList/{{{RIM}}}ExtrinsicObject"
    )
    assert entry is not None
    for i in range(200_000):
        slot = etree.Element(f"{{{RIM}}}Slot", name=f"urn:bench:{i}")
        etree.SubElement(etree.SubElement(slot, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value").text = "v"
        entry.insert(0, slot)
    message = envelope(PNR, request)

    def run(server: Server) -> str:
        answer = server.post("/xds/repository", message)
        return f"ITI-41, {len(message) / 1e6:.1f} MB -> {answer.status_code} {status(answer.content)}"

    return run


def case_patterns() -> Callable[[Server], str]:
    patterns = ",".join(f"'%a{i}%'" for i in range(1500))
    body = (
        '<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
        'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">'
        '<query:ResponseOption returnType="ObjectRef"/>'
        '<rim:AdhocQuery id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d">'
        '<rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList>'
        f"<rim:Value>'{escape(NIST_PATIENT)}'</rim:Value>"
        "</rim:ValueList></rim:Slot>"
        '<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList><rim:Value>'
        "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')</rim:Value></rim:ValueList></rim:Slot>"
        f'<rim:Slot name="$XDSDocumentEntryAuthorPerson"><rim:ValueList><rim:Value>({patterns})</rim:Value>'
        "</rim:ValueList></rim:Slot></rim:AdhocQuery></query:AdhocQueryRequest>"
    )
    wrapped = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
        f"<wsa:Action>{QUERY}</wsa:Action><wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        f"</env:Header><env:Body>{body}</env:Body></env:Envelope>"
    ).encode()

    def run(server: Server) -> str:
        answer = server.post("/xds/registry", wrapped)
        return f"-> {answer.status_code} {status(answer.content)}"

    return run


def case_refused() -> Callable[[Server], str]:
    messages = [
        pnr_message([Doc(os.urandom(5 * 1024 * 1024))], patient="UNKNOWN^^^&1.2.3.4&ISO") for _ in range(10)
    ]

    def run(server: Server) -> str:
        results = {status(server.post("/xds/repository", body, kind).content) for body, kind in messages}
        return f"10 x 5 MiB -> {', '.join(sorted(results))}"

    return run


def case_anonymous() -> Callable[[Server], str]:
    head = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
        f"<wsa:Action>{QUERY}</wsa:Action><wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
        "</env:Header><env:Body><x>"
    ).encode()
    message = head + b"A" * (30 * 1024 * 1024) + b"</x></env:Body></env:Envelope>"

    def run(server: Server) -> str:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: server.post("/xds/registry", message).status_code, range(8)))
        return f"8 x 30 MiB anonymous -> HTTP {sorted(set(codes))}"

    return run


def _peak_staging(server: Server, stop: threading.Event, peak: list[int]) -> None:
    staging = server.data_dir / "blobs" / ".staging"
    while not stop.is_set():
        with contextlib.suppress(FileNotFoundError):
            peak[0] = max(peak[0], dir_bytes(staging))
        time.sleep(0.02)


def case_upload() -> Callable[[Server], str]:
    document = Doc(b"", "application/pdf")
    root, content_type = pnr_message([document])  # the parts are streamed below, not held in memory
    head, _, tail = root.rpartition(b"\r\n\r\n")
    boundary_end = tail  # the (empty) part's closing delimiter

    def body() -> Iterator[bytes]:
        yield head + b"\r\n\r\n"
        block = os.urandom(1024 * 1024)
        for _ in range(200):
            yield block
        yield boundary_end

    def run(server: Server) -> str:
        stop, peak = threading.Event(), [0]
        watcher = threading.Thread(target=_peak_staging, args=(server, stop, peak))
        watcher.start()
        try:
            answer = server.client.post(
                "/xds/repository", content=body(), headers={"Content-Type": content_type}
            )
            code = str(answer.status_code)
        except httpx.TransportError as error:
            code = type(error).__name__
        finally:
            stop.set()
            watcher.join()
        return f"200 MiB anonymous MTOM -> {code}, peak staging {peak[0] / 2**20:.1f} MiB"

    return run


def case_half_open() -> Callable[[Server], str]:
    def run(server: Server) -> str:
        socks = []
        for _ in range(500):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(b"POST /xds/registry HTTP/1.1\r\nHost: x\r\n")
            socks.append(sock)
        time.sleep(12)
        held = 0
        for sock in socks:
            sock.setblocking(False)
            try:
                held += sock.recv(1) != b""
            except BlockingIOError:
                held += 1
            except OSError:
                pass
            sock.close()
        return f"{held} of 500 half-open connections still held after 12 s"

    return run


def case_slow_body() -> Callable[[Server], str]:
    def run(server: Server) -> str:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(
                b"POST /xds/registry HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n"
                b"Content-Length: 100000\r\n\r\n<env:Envelope"
            )
            started = time.monotonic()
            sock.settimeout(100)
            try:
                while sock.recv(65536):
                    pass
                outcome = "closed"
            except TimeoutError:
                outcome = "still open (capped)"
            except ConnectionResetError:
                outcome = "reset"
            return f"{outcome} after {time.monotonic() - started:.1f} s"

    return run


CASES: dict[str, Callable[[], Callable[[Server], str]]] = {
    "slots": case_slots,
    "patterns": case_patterns,
    "refused": case_refused,
    "anonymous": case_anonymous,
    "upload": case_upload,
    "half-open": case_half_open,
    "slow-body": case_slow_body,
}
PROFILES = {"anonymous": "dmp-test", "upload": "dmp-test"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    args = parser.parse_args()
    import xds_server

    print(f"xds_server from {Path(xds_server.__file__).resolve().parent}")
    for name in args.case or sorted(CASES):
        run = CASES[name]()
        with (
            tempfile.TemporaryDirectory(prefix="xds-bench-") as folder,
            Server(Path(folder), PROFILES.get(name, "ihe")) as server,
        ):
            disk, peak = dir_bytes(server.data_dir), peak_mb(server.process.pid)
            started = time.perf_counter()
            result = run(server)
            elapsed = time.perf_counter() - started
            grown = dir_bytes(server.data_dir) - disk
            memory = peak_mb(server.process.pid) - peak
        print(
            f"{name:9} {elapsed:7.2f} s  server peak RSS +{memory:6.0f} MB  data +{grown / 2**20:6.1f} MiB"
            f"  {result}"
        )


if __name__ == "__main__":
    main()
