"""Connection bounds of ``xds-server serve`` (issue 14, item 5), from the attacker's side against a real
server process: half-sent headers and stalled bodies are cut, connections beyond the caps are closed at
once, a client past its request rate gets 429, each refusal is counted in /metrics by reason, and each
condition is logged once per interval however often it happens.

The waits below are failure bounds (the test fails if the server holds on much longer than configured), not
speed measurements.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.server_helpers import free_port

pytestmark = pytest.mark.slow

LIMITS = {
    "XDS_HEADER_TIMEOUT": "1",
    "XDS_BODY_TIMEOUT": "1",
    "XDS_MAX_CONNECTIONS": "50",
    "XDS_MAX_CONNECTIONS_PER_CLIENT": "8",
    "XDS_REQUESTS_PER_SECOND": "5",
}


class Server:
    def __init__(self, port: int, log: Path, process: subprocess.Popen[bytes]) -> None:
        self.port, self.log, self.process = port, log, process
        self.url = f"http://127.0.0.1:{port}"

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def metric(self, reason: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith(f'xds_refusals_total{{reason="{reason}"}}'):
                return float(line.split()[-1])
        return 0.0


@contextmanager
def start(tmp_path: Path, *options: str, **limits: str) -> Iterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    env |= LIMITS | limits
    env |= {"XDS_DATA_DIR": str(tmp_path / "data"), "XDS_PROFILE": "ihe", "XDS_ANONYMOUS_ACTOR": "t"}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "xds_server.cli", "serve", "--port", str(port), *options],
            env=env,
            stdout=out,
            stderr=out,
        )
    running = Server(port, log, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{running.url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        raise AssertionError(log.read_text())
    try:
        yield running
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    with start(tmp_path) as running:
        yield running


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """The server closed (or answered and closed) the connection within ``seconds``."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def wait_for_tokens() -> None:
    time.sleep(2.5)  # the rate limit's bucket refills (5/s, burst 10)


class TestTimeouts:
    def test_half_sent_headers_are_cut(self, server: Server) -> None:
        socks = [server.connect() for _ in range(5)]
        for sock in socks:
            sock.sendall(b"POST /xds/registry HTTP/1.1\r\nHost: x\r\n")  # never finished
        assert all(closed_within(sock, 10) for sock in socks)
        wait_for_tokens()
        assert server.metric("header_timeout") >= 5

    def test_a_body_shorter_than_its_length_is_cut(self, server: Server) -> None:
        with server.connect() as sock:
            sock.sendall(
                b"POST /xds/registry HTTP/1.1\r\nHost: x\r\nContent-Type: application/soap+xml\r\n"
                b"Content-Length: 100000\r\n\r\n<env:Envelope"
            )
            assert closed_within(sock, 10)
        wait_for_tokens()
        assert server.metric("body_timeout") >= 1

    def test_an_idle_connection_after_an_answer_is_cut(self, server: Server) -> None:
        with server.connect() as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert closed_within(sock, 15)  # answered, then closed when idle


class TestCaps:
    def test_connections_past_the_per_client_cap_are_closed_at_once(self, server: Server) -> None:
        held = [server.connect() for _ in range(8)]
        try:
            time.sleep(0.3)
            extra = [server.connect() for _ in range(4)]
            assert all(closed_within(sock, 10) for sock in extra)
            for sock in extra:
                sock.close()
        finally:
            for sock in held:
                sock.close()
        wait_for_tokens()
        assert server.metric("client_connection_limit") >= 4  # closed for the cap, not by the header timeout

    def test_requests_past_the_rate_are_answered_429(self, server: Server) -> None:
        wait_for_tokens()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            codes = [client.get("/health").status_code for _ in range(30)]
        assert codes.count(200) >= 10 and 429 in codes
        wait_for_tokens()
        assert server.metric("rate_limited") >= 1

    def test_one_log_line_per_condition_per_interval(self, server: Server) -> None:
        socks = [server.connect() for _ in range(6)]
        for sock in socks:
            sock.sendall(b"GET /health HTTP/1.1\r\n")
        assert all(closed_within(sock, 10) for sock in socks)
        lines = [
            line for line in server.log.read_text().splitlines() if "request headers not complete" in line
        ]
        assert len(lines) == 1, lines


class TestWorkers:
    """``serve --workers 2``: each worker has the guard (issue 14, item 5, under workers)."""

    def test_a_worker_closes_half_open_connections(self, tmp_path: Path, database_url: str) -> None:
        with start(tmp_path, "--workers", "2") as server:
            socks = [server.connect() for _ in range(8)]  # spread over both workers by the kernel
            for sock in socks:
                sock.sendall(b"POST /xds/registry HTTP/1.1\r\nHost: x\r\n")  # never finished
            assert all(closed_within(sock, 10) for sock in socks)  # held for ever before
            assert "request headers not complete" in server.log.read_text()  # by the guard
            for sock in socks:
                sock.close()

    def test_the_total_cap_is_divided_between_the_workers(self, tmp_path: Path, database_url: str) -> None:
        limits = {
            "XDS_MAX_CONNECTIONS": "4",
            "XDS_MAX_CONNECTIONS_PER_CLIENT": "100",
            "XDS_HEADER_TIMEOUT": "60",
        }
        with start(tmp_path, "--workers", "2", **limits) as server:
            socks = [server.connect() for _ in range(12)]
            try:
                held = [sock for sock in socks if not closed_within(sock, 3)]
                # each worker admits ceil(4 / 2) = 2, however the kernel spread the 12 connections
                assert 2 <= len(held) <= 4, len(held)
            finally:
                for sock in socks:
                    sock.close()
