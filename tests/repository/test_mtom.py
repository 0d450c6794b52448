"""soap/mtom.py: the streaming multipart/related reader and the MTOM writer."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xds_server.soap.mtom import (
    MtomError,
    MtomLimitError,
    MultipartLimits,
    MultipartMessage,
    OutgoingPart,
    cid_href,
    is_multipart,
    mtom_response,
    read_multipart,
    spool_base64,
)

TESTKIT = Path(__file__).resolve().parents[2] / "conformance" / "nist-testkit" / "tests"
NIST_BOUNDARY = "MIMEBoundary_95b57d7287e4fa4b528a8f050c41f8ad829c20332f23b48d"
NIST_TYPE = (
    f'multipart/related; boundary="{NIST_BOUNDARY}"; type="application/xop+xml"; '
    'start-info="application/soap+xml"; action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"'
)
ROOT = b'<?xml version="1.0"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"/>'


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read(
    data: bytes, content_type: str, spool: Path, *, size: int = 65536, limits: MultipartLimits | None = None
) -> MultipartMessage:
    return asyncio.run(
        read_multipart(_chunks(data, size), content_type, limits=limits or MultipartLimits(), spool_dir=spool)
    )


def build(
    parts: Iterable[tuple[dict[str, str], bytes]], boundary: str = "b0undary", newline: bytes = b"\r\n"
) -> bytes:
    out = b""
    for headers, body in parts:
        out += b"--" + boundary.encode() + newline
        out += b"".join(f"{k}: {v}".encode() + newline for k, v in headers.items())
        out += newline + body + newline
    return out + b"--" + boundary.encode() + b"--" + newline


def mtom_type(boundary: str = "b0undary", start: str | None = "<root@x>") -> str:
    value = f'multipart/related; boundary="{boundary}"; type="application/xop+xml"'
    if start:
        value += f'; start="{start}"'
    return value + '; start-info="application/soap+xml"'


ROOT_HEADERS = {"Content-Type": 'application/xop+xml; type="application/soap+xml"', "Content-ID": "<root@x>"}


def doc_headers(cid: str, media: str = "application/pdf", **extra: str) -> dict[str, str]:
    return {"Content-Type": media, "Content-ID": f"<{cid}>", **extra}


def spool_files(spool: Path) -> list[str]:
    return sorted(os.listdir(spool)) if spool.exists() else []


class TestNistBodies:
    """The raw MTOM bodies of the NIST PnrXop tests (bare LF line ends, URL-encoded cid)."""

    @pytest.mark.parametrize("size", [1, 7, 100, 4096, 1 << 20])
    def test_encoded_url_resolves_whatever_the_chunking(self, tmp_path: Path, size: int) -> None:
        body = (TESTKIT / "PnrXop" / "encodedURL" / "body.txt").read_bytes()
        with read(body, NIST_TYPE, tmp_path, size=size) as message:
            assert message.root.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
            assert message.root.rstrip().endswith(b"</soapenv:Envelope>")
            part = message.resolve(
                "cid:fdf975cc-9f08-4d94-b7f6-99f4807f3654-1@urn%3Aihe%3Aiti%3Axds-b%3A2007"
            )
            content = part.path.read_bytes()
            assert content == b"This is my document.\n\nIt is great!\n\n"
            assert part.sha1 == hashlib.sha1(content).hexdigest()
            assert part.size == len(content)
            assert part.media_type == "text/plain"
            assert message.unreferenced() == []
            assert message.action == "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
        assert spool_files(tmp_path) == []

    def test_no_xop_body_has_only_the_root(self, tmp_path: Path) -> None:
        body = (TESTKIT / "PnrXop" / "NoXop" / "body.txt").read_bytes()
        with read(body, NIST_TYPE, tmp_path) as message:
            assert message.parts == {}
            assert b"VGhpcyBpcyBteSBkb2N1bWVudC4NCg0KSXQgaXMgZ3JlYXQhDQo=" in message.root

    def test_wcf_body_without_start_takes_the_first_part_as_root(self, tmp_path: Path) -> None:
        body = (TESTKIT / "PnrXop" / "dicom" / "body.txt").read_bytes()
        boundary = "uuid:376733a6-6a2d-4583-a687-04c08acf6a49+id=17"
        with read(
            body, f'multipart/related; boundary="{boundary}"; type="application/xop+xml"', tmp_path
        ) as m:
            assert m.root_content_id == "http://tempuri.org/0"
            assert m.root.startswith(b"<s:Envelope")


class TestParts:
    def test_binary_parts_are_spooled_and_hashed(self, tmp_path: Path) -> None:
        pdf = (TESTKIT / "12029" / "submit" / "my_document.pdf").read_bytes()
        noise = bytes(range(256)) * 40 + b"\r\n--b0undar" + b"\n--b0undaryX"[:5]
        body = build([(ROOT_HEADERS, ROOT), (doc_headers("pdf@x"), pdf), (doc_headers("bin@x"), noise)])
        with read(body, mtom_type(), tmp_path, size=333) as message:
            assert message.root == ROOT
            assert message.resolve("cid:pdf@x").path.read_bytes() == pdf
            bin_part = message.resolve(cid_href("bin@x"))
            assert bin_part.path.read_bytes() == noise
            assert bin_part.sha1 == hashlib.sha1(noise).hexdigest()

    def test_root_need_not_be_first(self, tmp_path: Path) -> None:
        body = build([(doc_headers("doc@x"), b"data"), (ROOT_HEADERS, ROOT)])
        with read(body, mtom_type(), tmp_path) as message:
            assert message.root == ROOT
            assert list(message.parts) == ["doc@x"]

    def test_base64_transfer_encoding_is_decoded(self, tmp_path: Path) -> None:
        encoded = b"SGVsbG8g\r\nd29ybGQh"
        body = build(
            [(ROOT_HEADERS, ROOT), (doc_headers("d@x", **{"Content-Transfer-Encoding": "base64"}), encoded)]
        )
        with read(body, mtom_type(), tmp_path, size=3) as message:
            assert message.resolve("cid:d@x").path.read_bytes() == b"Hello world!"

    def test_empty_document_part(self, tmp_path: Path) -> None:
        body = build([(ROOT_HEADERS, ROOT), (doc_headers("e@x"), b"")])
        with read(body, mtom_type(), tmp_path) as message:
            part = message.resolve("cid:e@x")
            assert part.size == 0
            assert part.sha1 == hashlib.sha1(b"").hexdigest()

    @pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
    @pytest.mark.parametrize("payload", [b"\r", b"\r\n", b"ends with CR\r", b"\n\r\n"])
    def test_line_ends_at_the_end_of_content_are_content(
        self, tmp_path: Path, newline: bytes, payload: bytes
    ) -> None:
        body = build([(ROOT_HEADERS, ROOT), (doc_headers("p@x"), payload)], newline=newline)
        with read(body, mtom_type(), tmp_path, size=1) as message:
            assert message.resolve("cid:p@x").path.read_bytes() == payload

    @settings(max_examples=40, deadline=None)
    @given(
        payload=st.binary(max_size=3000),
        chunk=st.integers(min_value=1, max_value=700),
        newline=st.sampled_from([b"\r\n", b"\n"]),
    )
    def test_any_payload_any_chunking_round_trips(
        self, tmp_path_factory: pytest.TempPathFactory, payload: bytes, chunk: int, newline: bytes
    ) -> None:
        spool = tmp_path_factory.mktemp("spool")
        body = build([(ROOT_HEADERS, ROOT), (doc_headers("p@x"), payload)], newline=newline)
        with read(body, mtom_type(), spool, size=chunk) as message:
            part = message.resolve("cid:p@x")
            assert part.path.read_bytes() == payload
            assert part.sha1 == hashlib.sha1(payload).hexdigest()


class TestLargePartsOffTheEventLoop:
    """Past ``OFFLOAD_BYTES`` queued, hashing and writing happen in a worker thread (the event loop serves
    other requests meanwhile); small documents stay on the loop (a thread hop costs more than the write)."""

    def _count_offloads(self, monkeypatch: pytest.MonkeyPatch) -> list[int]:
        calls: list[int] = []
        real = anyio.to_thread.run_sync

        async def counting(function: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            return await real(function, *args, **kwargs)

        monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
        return calls

    def test_a_large_part_is_hashed_and_written_in_a_worker_thread(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls = self._count_offloads(monkeypatch)
        big = bytes(range(256)) * (3 * 1024 * 4 + 7)  # ~3 MiB
        small = b"a small document"
        body = build([(ROOT_HEADERS, ROOT), (doc_headers("big@x"), big), (doc_headers("small@x"), small)])
        with read(body, mtom_type(), tmp_path, size=65536) as message:
            part = message.resolve("cid:big@x")
            assert part.path.read_bytes() == big
            assert (part.size, part.sha1) == (len(big), hashlib.sha1(big).hexdigest())
            assert message.resolve("cid:small@x").path.read_bytes() == small
            assert list(message.parts) == ["big@x", "small@x"]
        assert len(calls) >= 2  # at least every MiB of the big part

    def test_a_small_request_never_leaves_the_event_loop(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls = self._count_offloads(monkeypatch)
        body = build([(ROOT_HEADERS, ROOT), (doc_headers("doc@x"), b"x" * 10_000)])
        with read(body, mtom_type(), tmp_path) as message:
            assert message.resolve("cid:doc@x").size == 10_000
        assert calls == []

    def test_a_failure_in_the_worker_thread_leaves_no_file(self, tmp_path: Path) -> None:
        bad = b"QUJD" * (300 * 1024) + b"!!!!"  # base64 that turns bad after more than a MiB
        body = build(
            [(ROOT_HEADERS, ROOT), (doc_headers("b64@x", **{"Content-Transfer-Encoding": "base64"}), bad)]
        )
        with pytest.raises(MtomError):
            read(body, mtom_type(), tmp_path)
        assert spool_files(tmp_path) == []


class TestResolve:
    def body(self) -> bytes:
        return build([(ROOT_HEADERS, ROOT), (doc_headers("a@x"), b"A"), (doc_headers("b@x"), b"B")])

    @pytest.mark.parametrize(
        "href", ["http://example.org/a@x", "file:///etc/passwd", "a@x", "cid:nope@x", "mid:a@x", ""]
    )
    def test_only_cid_urls_of_this_message(self, tmp_path: Path, href: str) -> None:
        with read(self.body(), mtom_type(), tmp_path) as message, pytest.raises(MtomError):
            message.resolve(href)

    def test_a_part_cannot_be_used_twice(self, tmp_path: Path) -> None:
        with read(self.body(), mtom_type(), tmp_path) as message:
            message.resolve("cid:a@x")
            with pytest.raises(MtomError, match="twice"):
                message.resolve("cid:a%40x")

    def test_unreferenced_parts_are_listed(self, tmp_path: Path) -> None:
        with read(self.body(), mtom_type(), tmp_path) as message:
            message.resolve("cid:b@x")
            assert message.unreferenced() == ["a@x"]


class TestMalformed:
    def test_truncated_stream_fails_and_leaves_no_file(self, tmp_path: Path) -> None:
        body = build([(ROOT_HEADERS, ROOT), (doc_headers("a@x"), b"x" * 100_000)])
        with pytest.raises(MtomError, match="truncated"):
            read(body[: len(body) // 2], mtom_type(), tmp_path, size=1000)
        assert spool_files(tmp_path) == []

    def test_duplicate_content_id(self, tmp_path: Path) -> None:
        body = build([(ROOT_HEADERS, ROOT), (doc_headers("a@x"), b"1"), (doc_headers("a@x"), b"2")])
        with pytest.raises(MtomError, match="duplicate"):
            read(body, mtom_type(), tmp_path)
        assert spool_files(tmp_path) == []

    def test_missing_root(self, tmp_path: Path) -> None:
        body = build([(doc_headers("a@x"), b"1")])
        with pytest.raises(MtomError, match="root"):
            read(body, mtom_type(start="<elsewhere@x>"), tmp_path)

    def test_part_without_content_id(self, tmp_path: Path) -> None:
        body = build([(ROOT_HEADERS, ROOT), ({"Content-Type": "text/plain"}, b"1")])
        with pytest.raises(MtomError, match="Content-ID"):
            read(body, mtom_type(), tmp_path)

    @pytest.mark.parametrize(
        "content_type", ["application/soap+xml", "multipart/related", "multipart/mixed; boundary=b0undary"]
    )
    def test_bad_content_type(self, tmp_path: Path, content_type: str) -> None:
        with pytest.raises(MtomError):
            read(build([(ROOT_HEADERS, ROOT)]), content_type, tmp_path)

    def test_no_boundary_in_body(self, tmp_path: Path) -> None:
        with pytest.raises(MtomError):
            read(b"x" * 100_000, mtom_type(), tmp_path)

    def test_bad_transfer_encoding(self, tmp_path: Path) -> None:
        headers = doc_headers("a@x", **{"Content-Transfer-Encoding": "quoted-printable"})
        with pytest.raises(MtomError, match="Content-Transfer-Encoding"):
            read(build([(ROOT_HEADERS, ROOT), (headers, b"1")]), mtom_type(), tmp_path)

    def test_bad_base64(self, tmp_path: Path) -> None:
        headers = doc_headers("a@x", **{"Content-Transfer-Encoding": "base64"})
        with pytest.raises(MtomError, match="base64"):
            read(build([(ROOT_HEADERS, ROOT), (headers, b"!!!!")]), mtom_type(), tmp_path)
        assert spool_files(tmp_path) == []


class TestArbitraryInput:
    @settings(max_examples=50, deadline=None)
    @given(
        noise=st.lists(
            st.sampled_from(
                [
                    b"--b0undary",
                    b"--b0undary--",
                    b"\r\n",
                    b"\n",
                    b"Content-ID: <a@x>",
                    b"Content-ID: <root@x>",
                    b"Content-Transfer-Encoding: base64",
                    b": ",
                    b"x",
                    b"\x00\xff",
                    b"====",
                    b"\r",
                ]
            ),
            max_size=40,
        ),
        chunk=st.integers(min_value=1, max_value=64),
    )
    def test_anything_parses_or_is_refused_cleanly(
        self, tmp_path_factory: pytest.TempPathFactory, noise: list[bytes], chunk: int
    ) -> None:
        spool = tmp_path_factory.mktemp("spool")
        try:
            message = read(b"".join(noise), mtom_type(), spool, size=chunk)
        except MtomError:
            assert spool_files(spool) == []
        else:
            assert message.root is not None
            message.discard()
            assert spool_files(spool) == []


class TestLimits:
    def test_request_size(self, tmp_path: Path) -> None:
        body = build([(ROOT_HEADERS, ROOT), (doc_headers("a@x"), b"x" * 10_000)])
        with pytest.raises(MtomLimitError, match="larger than 5000"):
            read(body, mtom_type(), tmp_path, size=512, limits=MultipartLimits(max_request_bytes=5000))
        assert spool_files(tmp_path) == []

    def test_part_count(self, tmp_path: Path) -> None:
        parts = [(ROOT_HEADERS, ROOT)] + [(doc_headers(f"{i}@x"), b"d") for i in range(5)]
        with pytest.raises(MtomLimitError, match="more than 3"):
            read(build(parts), mtom_type(), tmp_path, limits=MultipartLimits(max_parts=3))
        assert spool_files(tmp_path) == []

    def test_root_size(self, tmp_path: Path) -> None:
        with pytest.raises(MtomLimitError, match="root"):
            read(
                build([(ROOT_HEADERS, ROOT)]),
                mtom_type(),
                tmp_path,
                limits=MultipartLimits(max_root_bytes=10),
            )

    def test_header_size(self, tmp_path: Path) -> None:
        headers = {**doc_headers("a@x"), "X-Big": "y" * 5000}
        with pytest.raises(MtomLimitError, match="headers"):
            read(
                build([(ROOT_HEADERS, ROOT), (headers, b"1")]),
                mtom_type(),
                tmp_path,
                size=100,
                limits=MultipartLimits(max_header_bytes=1024),
            )


class TestInlineBase64:
    def test_spooled_and_hashed(self, tmp_path: Path) -> None:
        part = spool_base64(
            " SGVsbG8g\n d29ybGQh\n", tmp_path, content_id="inline:1", media_type="text/plain"
        )
        assert part.path.read_bytes() == b"Hello world!"
        assert part.sha1 == hashlib.sha1(b"Hello world!").hexdigest()

    @pytest.mark.parametrize("text", ["not base64!", "SGVsbG8", "été"])
    def test_refused(self, tmp_path: Path, text: str) -> None:
        with pytest.raises(MtomError):
            spool_base64(text, tmp_path, content_id="inline:1", media_type="text/plain")
        assert spool_files(tmp_path) == []


class _Blob:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.closed = data, 0, False

    def read(self, size: int = -1, /) -> bytes:
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk

    def close(self) -> None:
        self.closed = True


class TestWriter:
    def test_response_reads_back(self, tmp_path: Path) -> None:
        pdf = (TESTKIT / "12029" / "submit" / "my_document.pdf").read_bytes()
        blobs = [_Blob(pdf), _Blob(b"plain text\r\n--not a boundary")]
        parts = [
            OutgoingPart("one@x", "application/pdf", lambda: blobs[0], len(pdf)),
            OutgoingPart("two@x", "text/plain", lambda: blobs[1], len(blobs[1].data)),
        ]
        response = mtom_response(
            ROOT, parts, action="urn:ihe:iti:2007:RetrieveDocumentSetResponse", chunk_size=1000
        )

        async def collect() -> bytes:
            return b"".join([chunk async for chunk in response.body])

        body = asyncio.run(collect())
        assert response.content_length == len(body)
        assert is_multipart(response.content_type)
        assert all(blob.closed for blob in blobs)
        with read(body, response.content_type, tmp_path) as message:
            assert message.root == ROOT
            assert message.root_content_type.startswith("application/xop+xml")
            first, second = message.resolve("cid:one@x"), message.resolve("cid:two@x")
            assert first.path.read_bytes() == pdf
            assert first.media_type == "application/pdf"
            assert second.path.read_bytes() == blobs[1].data
