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
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
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

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {**os.environ, "XDS_DATA_DIR": str(data_dir), "XDS_PROFILE": "ihe",
                    "XDS_ANONYMOUS_ACTOR": "bench", "XDS_LOG_LEVEL": "WARNING"}  # fmt: skip
        self.port = free_port()

    def __enter__(self) -> Server:
        cli = [sys.executable, "-m", "xds_server.cli"]
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


CASES: dict[str, Callable[[], Callable[[Server], str]]] = {
    "slots": case_slots,
    "patterns": case_patterns,
    "refused": case_refused,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    args = parser.parse_args()
    import xds_server

    print(f"xds_server from {Path(xds_server.__file__).resolve().parent}")
    for name in args.case or sorted(CASES):
        run = CASES[name]()
        with tempfile.TemporaryDirectory(prefix="xds-bench-") as folder, Server(Path(folder)) as server:
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
