"""MTOM/XOP: a streaming multipart/related reader and a streaming multipart/related writer.

Theory of operation
-------------------
An ITI-41 request is ``multipart/related; type="application/xop+xml"; start="<root>"; boundary=...``
(W3C XOP 1.0, SOAP 1.2 MTOM, ITI TF-2b 3.41.4.1.2, xds-rules.md §(d)). The root part carries the SOAP
envelope; every other part is a document referenced from the XML by ``<xop:Include href="cid:..."/>``.

Reading (``read_multipart``) consumes the request body as an async stream of byte chunks and never holds
more than about a MiB plus a chunk in memory, whatever the document size:

* the event loop parses the first MiB itself; past it, it only collects chunks and a worker thread parses,
  hashes and writes them a MiB at a time, so one large upload never stalls the other requests (a small
  request, the common case, never pays a thread hop);

* the root part (the part whose Content-ID is the ``start`` parameter, or the first part) is kept in memory
  up to ``limits.max_root_bytes``;
* every other part is written to a temporary file in ``spool_dir`` while its SHA-1 and size are computed;
  the file lives in the blob store's staging directory so the store can make it durable with an fsync and
  a rename instead of a copy;
* parts are delimited by ``CRLF--boundary`` (RFC 2046); a message whose first boundary line ends with a
  bare LF (the NIST toolkit's raw bodies) is read with ``LF--boundary`` delimiters instead;
* ``Content-Transfer-Encoding`` binary/8bit/7bit is taken as is and base64 is decoded on the fly
  (tolerated, as §(d) asks); anything else is refused;
* limits (total bytes, number of parts, root size, header size) raise ``MtomLimitError`` as soon as they
  are crossed; a stream that ends before the closing delimiter raises ``MtomError``. On any failure
  (including cancellation when the client goes away) every temporary file is removed.

The result is a ``MultipartMessage``. ``resolve(href)`` maps an ``xop:Include/@href`` to its part: only
``cid:`` URLs naming a part of *this* message are accepted (RFC 2392: the URL is percent-decoded before it is
compared with the Content-ID without its angle brackets); ``http:``/``file:`` or any other scheme, an
unknown Content-ID or a part referenced twice is an ``MtomError``. After resolving, ``unreferenced()``
lists the parts no Include named; the caller refuses the message if it is not empty. ``discard()`` (or
leaving ``async with message``) deletes the temporary files that the blob store has not taken.

Writing (``mtom_response``) produces the ITI-43 response: the root part (``application/xop+xml``) followed by
one part per document, each streamed from a ``ReadableBlob`` opener in ``chunk_size`` pieces, in a worker
thread so that a slow disk or S3 never blocks the event loop. The caller builds the root XML with
``<xop:Include href="{cid_href(content_id)}"/>`` for each part (``new_content_id()`` gives fresh ids).

Public API::

    is_multipart(content_type) -> bool
    parse_content_type(content_type) -> ContentType(media_type, params)
    async read_multipart(chunks, content_type, *, limits, spool_dir) -> MultipartMessage
    MultipartMessage(root, root_content_type, root_content_id, parts: dict[cid, SpooledPart], start_info)
        .resolve(href) -> SpooledPart   .unreferenced() -> list[str]   .discard()
    SpooledPart(content_id, path, size, sha1, media_type, sha256)
    MultipartLimits(max_request_bytes, max_parts, max_root_bytes, max_header_bytes)
    MtomError(ValueError), MtomLimitError(MtomError)
    OutgoingPart(content_id, media_type, open, size)
    mtom_response(root_xml, parts, *, action, chunk_size) -> MtomResponse(content_type, content_length, body)
    new_content_id() -> str ; cid_href(content_id) -> str
    spool_base64(text, spool_dir, content_id=, media_type=) -> SpooledPart   (inline base64 Document)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import Path
from typing import IO
from urllib.parse import quote, unquote

import anyio.to_thread

from xds_server.core.blobs import ReadableBlob

CRLF = b"\r\n"
#: queued part bytes past which the reader hashes and writes them in a worker thread (see read_multipart)
OFFLOAD_BYTES = 1024 * 1024
#: at the end of a request, what is left is written on the event loop only below this size: a 10 KB
#: document costs less to write than a thread hop
INLINE_BYTES = 64 * 1024


class MtomError(ValueError):
    """The request is not a well-formed MTOM/XOP message (SOAP Sender fault)."""


class MtomLimitError(MtomError):
    """A configured limit (request size, parts, root size, header size) was crossed."""


@dataclass(frozen=True, slots=True)
class MultipartLimits:
    max_request_bytes: int = 2 * 1024**3
    max_parts: int = 100
    max_root_bytes: int = 64 * 1024**2
    max_header_bytes: int = 16 * 1024


@dataclass(frozen=True, slots=True)
class ContentType:
    media_type: str  # lower case, no parameters
    params: dict[str, str]

    def param(self, name: str) -> str | None:
        return self.params.get(name.lower())


@functools.lru_cache(maxsize=512)
def parse_content_type(value: str) -> ContentType:
    """Split a Content-Type header value into its media type and (unquoted) parameters.

    Cached: the email parser costs ~50 µs, and a server sees the same few part types again and again
    (the result is shared: callers only read it)."""
    msg = Message()
    msg["content-type"] = value
    params: dict[str, str] = {}
    raw = msg.get_params() or []
    for name, val in raw[1:]:
        params[name.lower()] = collapse_rfc2231_value(val)
    return ContentType(msg.get_content_type(), params)


def is_multipart(content_type: str | None) -> bool:
    return bool(content_type) and parse_content_type(content_type or "").media_type == "multipart/related"


def _strip_angle(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


@dataclass(frozen=True, slots=True)
class SpooledPart:
    """One non-root part, decoded and written to a temporary file (``path``) in the spool directory."""

    content_id: str
    path: Path
    size: int
    sha1: str
    media_type: str
    sha256: str = ""  # the blob key (hashed in the same pass as the SHA-1)


@dataclass(slots=True)
class MultipartMessage:
    root: bytes
    root_content_type: str
    root_content_id: str | None
    parts: dict[str, SpooledPart]
    start_info: str | None = None
    action: str | None = None
    _referenced: set[str] = field(default_factory=set)

    def resolve(self, href: str) -> SpooledPart:
        """The part an ``xop:Include/@href`` names; only ``cid:`` URLs of this message's parts."""
        href = href.strip()
        if not href.lower().startswith("cid:"):
            raise MtomError(f"xop:Include href {href!r} is not a cid: URL of this message")
        cid = unquote(href[4:])
        part = self.parts.get(cid) or self.parts.get(href[4:])
        if part is None:
            raise MtomError(f"xop:Include href {href!r} names no part of this message")
        if part.content_id in self._referenced:
            raise MtomError(f"MIME part <{part.content_id}> is referenced twice")
        self._referenced.add(part.content_id)
        return part

    def unreferenced(self) -> list[str]:
        return [cid for cid in self.parts if cid not in self._referenced]

    def discard(self) -> None:
        """Delete the temporary files still present (the blob store may have moved some already)."""
        for part in self.parts.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part.path)

    async def __aenter__(self) -> MultipartMessage:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.discard()

    def __enter__(self) -> MultipartMessage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


class _Base64Decoder:
    """Incremental base64 decoding: whitespace ignored, a partial quantum carried to the next chunk."""

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        data = self._carry + data.translate(None, b" \t\r\n")
        cut = len(data) - len(data) % 4
        self._carry = data[cut:]
        try:
            return base64.b64decode(data[:cut], validate=True)
        except binascii.Error as exc:
            raise MtomError(f"bad base64 in MIME part: {exc}") from None

    def close(self) -> bytes:
        if self._carry:
            raise MtomError("truncated base64 in MIME part")
        return b""


class _Sink:
    """Where the body of the current part goes: memory (root) or a hashed temporary file.

    A ``deferred`` file sink only queues what it is given (``backlog`` bytes); ``flush`` decodes, hashes and
    writes the queue. The reader calls it in a worker thread once enough is queued, so that hashing and disk
    writes of a large upload never run on the event loop (read_multipart)."""

    def __init__(
        self,
        *,
        limit: int | None,
        file: IO[bytes] | None,
        path: Path | None,
        encoding: str,
        deferred: bool = False,
    ) -> None:
        self.limit = limit
        self.file = file
        self.path = path
        self.memory = bytearray()
        self.size = 0
        self.sha1 = hashlib.sha1()
        self.sha256 = hashlib.sha256()
        self.deferred = deferred and file is not None
        self.pending: list[bytes] = []
        self.backlog = 0
        if encoding in ("", "binary", "8bit", "7bit"):
            self.decoder: _Base64Decoder | None = None
        elif encoding == "base64":
            self.decoder = _Base64Decoder()
        else:
            raise MtomError(f"unsupported Content-Transfer-Encoding {encoding!r}")

    def write(self, data: bytes | memoryview) -> None:
        if self.deferred:
            self.pending.append(bytes(data))  # a copy: the reader's buffer moves on
            self.backlog += len(data)
            return
        self._take(data)

    def flush(self) -> None:
        """Decode, hash and write what was queued (deferred sinks; a no-op otherwise)."""
        pending, self.pending, self.backlog = self.pending, [], 0
        for data in pending:
            self._take(data)

    def _take(self, data: bytes | memoryview) -> None:
        if self.decoder is not None:
            data = self.decoder.feed(bytes(data))
        self._emit(data)

    def _emit(self, data: bytes | memoryview) -> None:
        if not data:
            return
        self.size += len(data)
        if self.file is None:
            if self.limit is not None and self.size > self.limit:
                raise MtomLimitError(f"SOAP root part larger than {self.limit} bytes")
            self.memory += data
        else:
            self.sha1.update(data)
            self.sha256.update(data)
            self.file.write(data)

    def finish(self) -> None:
        self.flush()
        if self.decoder is not None:
            self._emit(self.decoder.close())
        if self.file is not None:
            self.file.close()


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    last: str | None = None
    for raw in block.decode("latin-1").split("\n"):
        line = raw.rstrip("\r")
        if not line:
            continue
        if line[0] in " \t" and last is not None:
            headers[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise MtomError(f"malformed MIME header line {line[:80]!r}")
        last = name.strip().lower()
        headers[last] = value.strip()
    return headers


async def read_multipart(
    chunks: AsyncIterator[bytes],
    content_type: str,
    *,
    limits: MultipartLimits,
    spool_dir: Path,
    on_root: Callable[[bytes], Awaitable[None]] | None = None,
) -> MultipartMessage:
    """Read a multipart/related body from ``chunks``; see the module docstring for the rules. ``on_root``
    is awaited with the root part (the envelope) as soon as it is complete, before the next parts are read:
    an exception it raises stops the reading (the endpoint checks credentials there)."""
    ctype = parse_content_type(content_type)
    if ctype.media_type != "multipart/related":
        raise MtomError(f"expected multipart/related, got {ctype.media_type!r}")
    boundary = ctype.param("boundary")
    if not boundary or len(boundary) > 200:
        raise MtomError("multipart/related without a usable boundary parameter")
    start = ctype.param("start")
    start_id = _strip_angle(start) if start else None
    spool_dir.mkdir(parents=True, exist_ok=True)
    reader = _Reader(boundary.encode("latin-1"), start_id, limits, spool_dir)
    reader.pause_after_root = on_root is not None
    try:
        # The first MiB is parsed on the event loop (a small request never leaves it); past that the loop
        # only collects chunks, and a worker thread parses, hashes and writes them a MiB at a time.
        queued: list[bytes] = []
        size = 0
        async for chunk in chunks:
            if not queued and reader.total + len(chunk) <= OFFLOAD_BYTES:
                reader.feed(chunk)
            else:
                queued.append(chunk)
                size += len(chunk)
                if size >= OFFLOAD_BYTES:
                    batch, queued, size = queued, [], 0
                    await anyio.to_thread.run_sync(reader.feed_all, batch)
            if on_root is not None and reader.root is not None:
                hook, on_root = on_root, None
                await hook(reader.root[0])  # before any byte of the next parts is spooled
                await _resume(reader)
        if queued:
            await anyio.to_thread.run_sync(reader.feed_all, queued)
        if on_root is not None and reader.root is not None:  # the root completed in the last batch
            await on_root(reader.root[0])
            await _resume(reader)
        if reader.backlog >= INLINE_BYTES:
            await anyio.to_thread.run_sync(reader.flush)
        reader.flush()
        return reader.finish(ctype)
    except BaseException:
        reader.cleanup()
        raise


async def _resume(reader: _Reader) -> None:
    """Go on reading after the root part was checked (in a worker thread when much is buffered)."""
    if len(reader.buf) > INLINE_BYTES:
        await anyio.to_thread.run_sync(reader.resume)
    else:
        reader.resume()


class _Reader:
    PREAMBLE, HEADERS, BODY, AFTER_DELIMITER, EPILOGUE = range(5)

    def __init__(
        self, boundary: bytes, start_id: str | None, limits: MultipartLimits, spool_dir: Path
    ) -> None:
        self.dash_boundary = b"--" + boundary
        self.delimiter = b"\n" + self.dash_boundary
        self.start_id = start_id
        self.limits = limits
        self.spool_dir = spool_dir
        self.state = self.PREAMBLE
        self.buf = bytearray(b"\n")  # lets the first boundary match without a special case
        self.total = 0
        self.part_count = 0
        self.sink: _Sink | None = None
        self.part_headers: dict[str, str] = {}
        self.root: tuple[bytes, str, str | None] | None = None
        self.parts: dict[str, SpooledPart] = {}
        self.ended: list[tuple[_Sink, str, str]] = []  # parts read whole, not yet flushed
        self.open_paths: list[Path] = []
        #: stop feeding once the root part is complete (``resume`` goes on): the caller checks it first
        self.pause_after_root = False
        self._paused = False

    # -- feeding --------------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.total > self.limits.max_request_bytes:
            raise MtomLimitError(f"request larger than {self.limits.max_request_bytes} bytes")
        if self.state == self.EPILOGUE:
            return
        self.buf += chunk
        if not self._paused:
            self._run()

    def resume(self) -> None:
        """Go on after the pause at the end of the root part (the buffered bytes are processed now)."""
        self._paused = False
        self._run()

    def feed_all(self, chunks: list[bytes]) -> None:
        """Feed ``chunks`` and write what they completed (in a worker thread: read_multipart)."""
        for chunk in chunks:
            self.feed(chunk)
        self.flush()

    def _run(self) -> None:
        while True:
            if self.state == self.PREAMBLE:
                at = self.buf.find(self.delimiter)
                if at < 0:
                    if len(self.buf) > self.limits.max_header_bytes + len(self.delimiter):
                        raise MtomError("no multipart boundary found at the start of the request")
                    return
                del self.buf[: at + len(self.delimiter)]
                self.state = self.AFTER_DELIMITER
            elif self.state == self.AFTER_DELIMITER:
                if not self._after_delimiter():
                    return
            elif self.state == self.HEADERS:
                if not self._headers():
                    return
            elif self.state == self.BODY:
                if not self._body():
                    return
                if self.pause_after_root and self.root is not None:
                    self.pause_after_root = False
                    self._paused = True
                    return
            else:  # EPILOGUE: ignore whatever follows the close delimiter
                self.buf.clear()
                return

    def _after_delimiter(self) -> bool:
        if len(self.buf) < 2:
            return False
        if self.buf[:2] == b"--":
            self.state = self.EPILOGUE
            return True
        eol = self.buf.find(b"\n")
        if eol < 0:
            if len(self.buf) > 1024:
                raise MtomError("malformed multipart boundary line")
            return False
        if self.buf[:eol].strip(b" \t\r"):
            raise MtomError("malformed multipart boundary line")
        if self.part_count == 0 and eol > 0 and self.buf[eol - 1] == 0x0D:
            # The first boundary line ends with CRLF: so do all delimiters (RFC 2046), and a CR that ends a
            # part's content before a bare LF is content, not line end.
            self.delimiter = b"\r\n" + self.dash_boundary
        del self.buf[: eol + 1]
        self.state = self.HEADERS
        return True

    def _headers(self) -> bool:
        # An empty header block is legal: the part then starts with the blank line itself.
        if self.buf[:2] == b"\r\n" or self.buf[:1] == b"\n":
            end, skip = 0, (2 if self.buf[:1] == b"\r" else 1)
        else:
            endings = (b"\r\n\r\n", b"\n\r\n", b"\n\n")  # CRLF, mixed, bare LF
            found = [(at, len(ending)) for ending in endings if (at := self.buf.find(ending)) >= 0]
            if not found:
                if len(self.buf) > self.limits.max_header_bytes:
                    raise MtomLimitError(
                        f"MIME part headers larger than {self.limits.max_header_bytes} bytes"
                    )
                return False
            end, skip = min(found)
        if end > self.limits.max_header_bytes:
            raise MtomLimitError(f"MIME part headers larger than {self.limits.max_header_bytes} bytes")
        headers = _parse_headers(bytes(self.buf[:end]))
        del self.buf[: end + skip]
        self._start_part(headers)
        self.state = self.BODY
        return True

    def _start_part(self, headers: dict[str, str]) -> None:
        self.part_count += 1
        if self.part_count > self.limits.max_parts:
            raise MtomLimitError(f"more than {self.limits.max_parts} MIME parts")
        self.part_headers = headers
        cid = _strip_angle(headers["content-id"]) if "content-id" in headers else None
        encoding = headers.get("content-transfer-encoding", "").strip().lower()
        is_root = self.root is None and (cid == self.start_id if self.start_id else self.part_count == 1)
        if is_root:
            self.sink = _Sink(limit=self.limits.max_root_bytes, file=None, path=None, encoding=encoding)
            return
        if not cid:
            raise MtomError(f"MIME part {self.part_count} has no Content-ID")
        ended = any(cid == queued for _, queued, _ in self.ended)
        if cid in self.parts or ended or cid == (self.root[2] if self.root else None):
            raise MtomError(f"duplicate MIME part Content-ID <{cid}>")
        fd, name = tempfile.mkstemp(prefix="part-", suffix=".tmp", dir=self.spool_dir)
        path = Path(name)
        self.open_paths.append(path)
        self.sink = _Sink(limit=None, file=os.fdopen(fd, "wb"), path=path, encoding=encoding, deferred=True)

    def _body(self) -> bool:
        at = self.buf.find(self.delimiter)
        sink = self.sink
        assert sink is not None
        if at < 0:
            # Keep enough to recognise a delimiter split across chunks.
            ready = len(self.buf) - len(self.delimiter)
            if ready > 0:
                self._drain(sink, ready)
            return False
        self._drain(sink, at)
        del self.buf[: len(self.delimiter)]
        self._end_part(sink)
        self.state = self.AFTER_DELIMITER
        return True

    def _drain(self, sink: _Sink, count: int) -> None:
        """Hand the first ``count`` buffered bytes to the sink without copying them, then drop them."""
        with memoryview(self.buf) as view, view[:count] as head:
            sink.write(head)
        del self.buf[:count]

    def _end_part(self, sink: _Sink) -> None:
        self.sink = None
        headers = self.part_headers
        media = headers.get("content-type", "application/octet-stream")
        cid = _strip_angle(headers["content-id"]) if "content-id" in headers else None
        if sink.path is None:
            sink.finish()
            self.root = (bytes(sink.memory), media, cid)
            return
        assert cid is not None
        media_type = parse_content_type(media).media_type if media else "application/octet-stream"
        self.ended.append((sink, cid, media_type))  # completed by flush (hash and size known then)

    @property
    def backlog(self) -> int:
        """Part bytes received but not yet hashed and written."""
        queued = sum(sink.backlog for sink, _, _ in self.ended)
        return queued + (self.sink.backlog if self.sink is not None else 0)

    def flush(self) -> None:
        """Hash and write every queued byte; complete the parts that have ended (in a worker thread for
        large amounts: read_multipart)."""
        ended, self.ended = self.ended, []
        try:
            for sink, cid, media_type in ended:
                sink.finish()
                assert sink.path is not None
                self.parts[cid] = SpooledPart(
                    cid, sink.path, sink.size, sink.sha1.hexdigest(), media_type, sink.sha256.hexdigest()
                )
        except BaseException:
            for sink, _, _ in ended:
                if sink.file is not None:
                    with contextlib.suppress(OSError):
                        sink.file.close()
            raise
        if self.sink is not None:
            self.sink.flush()

    # -- end ------------------------------------------------------------------------------------------
    def finish(self, ctype: ContentType) -> MultipartMessage:
        if self.state != self.EPILOGUE:
            raise MtomError("request ended before the closing multipart boundary (truncated message)")
        if self.root is None:
            which = f"with Content-ID <{self.start_id}>" if self.start_id else ""
            raise MtomError(f"multipart/related message has no root part {which}".strip())
        root, root_type, root_id = self.root
        return MultipartMessage(
            root=root,
            root_content_type=root_type,
            root_content_id=root_id,
            parts=self.parts,
            start_info=ctype.param("start-info"),
            action=ctype.param("action"),
        )

    def cleanup(self) -> None:
        sinks = [sink for sink, _, _ in self.ended] + ([self.sink] if self.sink is not None else [])
        for sink in sinks:
            if sink.file is not None:
                with contextlib.suppress(OSError):
                    sink.file.close()
        for path in self.open_paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def spool_base64(text: str, spool_dir: Path, *, content_id: str, media_type: str) -> SpooledPart:
    """Decode inline base64 (a non-MTOM ``xdsb:Document``) to a spool file, hashing it as parts are."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="inline-", suffix=".tmp", dir=spool_dir)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            sink = _Sink(limit=None, file=handle, path=path, encoding="base64")
            step = 1024 * 1024
            for start in range(0, len(text), step):
                sink.write(text[start : start + step].encode("ascii", errors="strict"))
            sink.finish()
    except UnicodeEncodeError:
        os.unlink(path)
        raise MtomError("inline Document content is not base64") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    return SpooledPart(
        content_id, path, sink.size, sink.sha1.hexdigest(), media_type, sink.sha256.hexdigest()
    )


# ------------------------------------------------------------------------------------------------------
# Writer


def new_content_id() -> str:
    return f"{uuid.uuid4().hex}@xds-server"


def cid_href(content_id: str) -> str:
    """The ``xop:Include/@href`` for a Content-ID (RFC 2392 percent-encoding)."""
    return "cid:" + quote(content_id, safe="@.-_~!$&'()*+,;=")


@dataclass(frozen=True, slots=True)
class OutgoingPart:
    content_id: str
    media_type: str
    open: Callable[[], ReadableBlob]
    size: int | None = None


@dataclass(frozen=True, slots=True)
class MtomResponse:
    content_type: str
    content_length: int | None
    #: bytes when there is no document part (nothing to stream: no worker thread, no chunked encoding)
    body: bytes | AsyncIterator[bytes]


def _part_head(boundary: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [b"--" + boundary]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers]
    return CRLF + CRLF.join(lines) + CRLF + CRLF


def mtom_response(
    root_xml: bytes,
    parts: Sequence[OutgoingPart],
    *,
    action: str | None = None,
    chunk_size: int = 1024 * 1024,
) -> MtomResponse:
    """An MTOM multipart/related response whose document parts are streamed from their openers."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}".encode("ascii")
    root_id = new_content_id()
    root_type = 'application/xop+xml; charset=UTF-8; type="application/soap+xml"'
    if action:
        root_type += f'; action="{action}"'
    root_head = _part_head(
        boundary,
        [
            ("Content-Type", root_type),
            ("Content-Transfer-Encoding", "binary"),
            ("Content-ID", f"<{root_id}>"),
        ],
    )[2:]  # no CRLF before the first delimiter
    heads = [
        _part_head(
            boundary,
            [
                ("Content-Type", part.media_type or "application/octet-stream"),
                ("Content-Transfer-Encoding", "binary"),
                ("Content-ID", f"<{part.content_id}>"),
            ],
        )
        for part in parts
    ]
    closing = CRLF + b"--" + boundary + b"--" + CRLF
    length: int | None = len(root_head) + len(root_xml) + sum(map(len, heads)) + len(closing)
    for part in parts:
        length = None if part.size is None or length is None else length + part.size

    async def body() -> AsyncIterator[bytes]:
        yield root_head + root_xml
        for head, part in zip(heads, parts, strict=True):
            yield head
            blob = await anyio.to_thread.run_sync(part.open)
            try:
                while True:
                    data = await anyio.to_thread.run_sync(blob.read, chunk_size)
                    if not data:
                        break
                    yield data
            finally:
                await anyio.to_thread.run_sync(blob.close)
        yield closing

    params = f'boundary="{boundary.decode()}"; type="application/xop+xml"; start="<{root_id}>"'
    params += '; start-info="application/soap+xml"'
    if action:
        params += f'; action="{action}"'
    content_type = f"multipart/related; {params}"
    if not parts:
        return MtomResponse(content_type, length, root_head + root_xml + closing)
    return MtomResponse(content_type=content_type, content_length=length, body=body())


__all__ = [
    "ContentType",
    "MtomError",
    "MtomLimitError",
    "MtomResponse",
    "MultipartLimits",
    "MultipartMessage",
    "OutgoingPart",
    "SpooledPart",
    "cid_href",
    "is_multipart",
    "mtom_response",
    "new_content_id",
    "parse_content_type",
    "read_multipart",
    "spool_base64",
]
