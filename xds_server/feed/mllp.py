"""MLLP (HL7 Minimal Lower Layer Protocol) over TCP, optionally TLS: the transport of ITI-8.

Theory of operation. A message travels as ``0x0B <message> 0x1C 0x0D``. ``MllpFramer`` is sans-IO: it is fed
the bytes as they arrive (any split: a frame over many reads, many frames in one read) and returns, in order,
each complete message and each framing error:

* bytes outside a frame (other than CR/LF between frames) -> one error when the next start block arrives, or
  when they end with ``0x1C 0x0D`` (a frame without its start block);
* a start block inside a frame (the previous message never ended) -> an error for the unfinished one;
* ``0x1C`` not followed by ``0x0D`` -> an error; the message and the byte after ``0x1C`` are dropped;
* a message longer than ``max_bytes`` -> one error, and everything up to its end block is dropped (the first
  bytes are kept so the answer can still name the message's control id).

The server answers every message and every framing error with exactly one ACK, in order, on the same
connection, which stays open: a sender may go on after an error. Messages of one connection are applied one
after the other (in a worker thread: the database work never blocks the event loop); connections run
concurrently. An idle connection is closed after ``idle_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from xds_server.config import Settings

log = logging.getLogger(__name__)

START_BLOCK = 0x0B
END_BLOCK = 0x1C
CARRIAGE_RETURN = 0x0D
_HEAD = 4096  # bytes of an oversized message kept to address its answer
_READ = 65536


@dataclass(frozen=True, slots=True)
class Frame:
    """One complete message (without the framing bytes)."""

    content: bytes


@dataclass(frozen=True, slots=True)
class FramingError:
    """Bytes that are not a well-framed message; ``head``: the beginning of the message, if there was one."""

    reason: str
    head: bytes = b""


def frame(message: bytes) -> bytes:
    """``message`` with its MLLP start and end blocks."""
    return bytes([START_BLOCK]) + message + bytes([END_BLOCK, CARRIAGE_RETURN])


class MllpFramer:
    """Bytes in, frames and framing errors out (see the module docstring)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._in_frame = False
        self._oversized: bytes | None = None  # head of the oversized message being skipped

    def feed(self, data: bytes) -> list[Frame | FramingError]:
        self._buffer += data
        events: list[Frame | FramingError] = []
        while self._step(events):
            pass
        return events

    def _step(self, events: list[Frame | FramingError]) -> bool:
        """Consume what can be decided now; False when more bytes are needed."""
        buffer = self._buffer
        if not self._in_frame:
            start = buffer.find(START_BLOCK)
            junk_end = buffer.find(bytes([END_BLOCK, CARRIAGE_RETURN]))
            if start < 0 and junk_end < 0:
                if not bytes(buffer).strip(b"\r\n"):
                    buffer.clear()
                elif len(buffer) > self.max_bytes:
                    events.append(FramingError("bytes outside an MLLP frame (no start block 0x0B)"))
                    buffer.clear()
                return False
            if start < 0 or (0 <= junk_end < start):
                events.append(FramingError("a message without its MLLP start block 0x0B"))
                del buffer[: junk_end + 2]
                return True
            if bytes(buffer[:start]).strip(b"\r\n"):
                events.append(FramingError("bytes outside an MLLP frame (before a start block 0x0B)"))
            del buffer[: start + 1]
            self._in_frame = True
            self._oversized = None
            return True
        end = buffer.find(END_BLOCK)
        restart = buffer.find(START_BLOCK)
        if restart >= 0 and (end < 0 or restart < end):
            if self._oversized is None:
                events.append(
                    FramingError(
                        "a new start block 0x0B before the end of the message",
                        bytes(buffer[:restart][:_HEAD]),
                    )
                )
            else:
                events.append(FramingError(f"message larger than {self.max_bytes} bytes", self._oversized))
            del buffer[:restart]
            self._in_frame = False
            return True
        if end < 0:
            if self._oversized is None and len(buffer) > self.max_bytes:
                self._oversized = bytes(buffer[:_HEAD])
            if self._oversized is not None:
                buffer.clear()  # skip it, keeping nothing but its head
            return False
        if end + 1 >= len(buffer):
            return False  # the byte after 0x1C has not arrived yet
        content = bytes(buffer[:end])
        well_ended = buffer[end + 1] == CARRIAGE_RETURN
        # a broken end block takes the byte after it along, unless that byte starts the next frame
        del buffer[: end + (1 if buffer[end + 1] == START_BLOCK else 2)]
        self._in_frame = False
        if self._oversized is not None or len(content) > self.max_bytes:
            events.append(
                FramingError(
                    f"message larger than {self.max_bytes} bytes", self._oversized or content[:_HEAD]
                )
            )
        elif not well_ended:
            events.append(FramingError("end block 0x1C not followed by 0x0D", content[:_HEAD]))
        else:
            events.append(Frame(content))
        self._oversized = None
        return True


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS for the MLLP listener with the HTTPS certificate options (``--tls-cert``, ``--tls-key``,
    ``--tls-client-ca``: then every client must present a certificate that CA issued); None without them.
    Unusable files are a ValueError naming the problem (checked before listening)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
        if settings.tls_client_ca is not None:
            context.load_verify_locations(settings.tls_client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (ssl.SSLError, OSError) as error:
        raise ValueError(f"TLS files not usable for MLLP: {error}") from None
    return context


#: (message, the peer's address) -> the answer
Handler = Callable[[bytes, str | None], bytes]
ErrorHandler = Callable[[str, bytes], bytes]


class MllpServer:
    """The asyncio listener: one ACK per message or framing error, in order, per connection."""

    def __init__(
        self,
        handle: Handler,
        framing_error: ErrorHandler,
        *,
        max_bytes: int,
        idle_timeout: float = 600.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._handle = handle
        self._framing_error = framing_error
        self._max_bytes = max_bytes
        self._idle_timeout = idle_timeout
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen; return the bound port (``port`` 0 picks a free one)."""
        self._server = await asyncio.start_server(self._connection, host, port, ssl=self._ssl)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            tasks = list(self._connections)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else None
        framer = MllpFramer(self._max_bytes)
        try:
            while True:
                data = await asyncio.wait_for(reader.read(_READ), self._idle_timeout)
                if not data:
                    break
                for event in framer.feed(data):
                    if isinstance(event, Frame):
                        answer = await asyncio.to_thread(self._handle, event.content, address)
                    else:
                        answer = await asyncio.to_thread(self._framing_error, event.reason, event.head)
                    writer.write(frame(answer))
                    await writer.drain()
        except (TimeoutError, ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as error:
            log.info("MLLP connection from %s closed: %s", peer, type(error).__name__)
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


__all__ = [
    "END_BLOCK",
    "START_BLOCK",
    "Frame",
    "FramingError",
    "MllpFramer",
    "MllpServer",
    "frame",
    "server_ssl_context",
]
