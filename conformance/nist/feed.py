"""ITI-8 through the server's MLLP listener: the testkit's own ADT^A01 (`conformance/nist-adt/A01.txt`).

`MllpFeeder.send(pid)` sends the NIST message with `$pid$` replaced, as the NIST toolkit does (each line
trimmed and ended with CR, framed 0x0B ... 0x1C 0x0D), and returns the acknowledgement code (MSA-1) and the
reason the server gave (MSA-3). One connection is kept for the whole run and reopened after an error.
`MllpRegistrar` registers the pool's patients the same way, so every patient of a run comes from a feed.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path

from .patients import RegistrationError

TEMPLATE = Path(__file__).resolve().parent.parent / "nist-adt" / "A01.txt"
TIMEOUT = 30.0
_SB, _EB = b"\x0b", b"\x1c\x0d"


class FeedError(RuntimeError):
    """The listener could not be reached, or it did not answer an acknowledgement."""


def a01(pid: str, template: Path = TEMPLATE) -> bytes:
    lines = template.read_text(encoding="utf-8").splitlines()
    return (
        "".join(line.strip() + "\r" for line in lines if line.strip()).replace("$pid$", pid).encode("utf-8")
    )


def ack_fields(answer: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-3) of an ACK."""
    for segment in answer.decode("utf-8", "replace").replace("\n", "\r").split("\r"):
        if segment.startswith("MSA|"):
            fields = segment.split("|")
            return (fields[1] if len(fields) > 1 else "", fields[3] if len(fields) > 3 else "")
    return "", f"no MSA segment in the answer {answer[:200]!r}"


class MllpFeeder:
    def __init__(self, host: str, port: int, timeout: float = TIMEOUT):
        self.host, self.port, self.timeout = host, port, timeout
        self._socket: socket.socket | None = None
        self.sent = 0

    @property
    def address(self) -> str:
        return f"mllp://{self.host}:{self.port}"

    def send(self, pid: str) -> tuple[str, str]:
        """Feed `pid` (ADT^A01); (ack code, reason)."""
        try:
            return self._exchange(a01(pid))
        except OSError:
            self.close()  # one retry on a fresh connection (the server may have closed an idle one)
            try:
                return self._exchange(a01(pid))
            except OSError as exc:
                self.close()
                raise FeedError(f"{self.address}: {exc}") from exc

    def _exchange(self, message: bytes) -> tuple[str, str]:
        if self._socket is None:
            self._socket = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self._socket.sendall(_SB + message + _EB)
        answer = b""
        while _EB not in answer:
            chunk = self._socket.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before the acknowledgement")
            answer += chunk
        self.sent += 1
        return ack_fields(answer[answer.find(_SB) + 1 : answer.find(_EB)])

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class MllpRegistrar:
    """The pool's `Registrar` through ITI-8: a patient is registered when the server answered AA."""

    def __init__(self, feeder: MllpFeeder):
        self.feeder = feeder

    def register(self, pids: Sequence[str]) -> None:
        for pid in pids:
            try:
                code, reason = self.feeder.send(pid)
            except FeedError as exc:
                raise RegistrationError(f"ITI-8 {pid}: {exc}") from exc
            if code != "AA":
                raise RegistrationError(f"ITI-8 {pid}: {code or 'no'} acknowledgement: {reason}")
