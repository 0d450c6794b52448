"""Fuzzing with hypothesis (issue 14): the ebXML decoder, the stored-query value grammar and parameters, and
the MIME reader never fail otherwise than by their own error (a ``Submission.problems`` entry, XdsError,
ValueSyntaxError, MtomError), whatever they are given, and the MIME reader leaves no spool file behind.

Bounded in CI (``XDS_FUZZ_EXAMPLES``, 150 examples a property by default); a longer run is a command:

    XDS_FUZZ_EXAMPLES=20000 python -m pytest -q tests/attacks/test_fuzz.py
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.repository.messages import LCM, PNR, RIM, Doc, envelope, mtom, provide_request
from xds_server.core.errors import XdsError
from xds_server.core.metadata import Slot
from xds_server.core.query import STORED_QUERIES
from xds_server.core.query.grammar import ValueSyntaxError, parse_values
from xds_server.core.query.parameters import parse_parameters
from xds_server.ebxml.codec import decode_submission
from xds_server.soap.mtom import MtomError, MultipartLimits, read_multipart

EXAMPLES = int(os.environ.get("XDS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 150,  # CI: the same cases every run (a failure is reproducible)
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)

# ---- the ebXML decoder ---------------------------------------------------------------------------------

_TEMPLATE = provide_request([Doc(b"x", form="inline")]).find(f"{{{LCM}}}SubmitObjectsRequest")
assert _TEMPLATE is not None
_ELEMENTS = [e for e in _TEMPLATE.iter() if isinstance(e.tag, str)]
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)


_ATTRIBUTES = ["id", "objectType", "classificationScheme", "value", "nodeRepresentation", "classifiedObject",
               "sourceObject", "targetObject", "associationType", "registryObject", "identificationScheme",
               "name", "mimeType", "status"]  # fmt: skip
_TAGS = ["Slot", "Value", "Classification", "ExtrinsicObject", "Association", "RegistryPackage", "Name",
         "LocalizedString", "Foo"]  # fmt: skip
_PARAMETERS = ["$XDSDocumentEntryPatientId", "$XDSDocumentEntryStatus", "$uuid", "$patientId",
               "$XDSDocumentEntryAuthorPerson", "$XDSDocumentEntryEventCodeList",
               "$XDSDocumentEntryCreationTimeFrom", "$MetadataLevel", "$XDSFolderEntryUUID",
               "$AssociationTypes", "$XDSDocumentEntryType", "$junk"]  # fmt: skip
_INSERTS = [
    b"\r\n",
    b"--",
    b"--MIMEBoundary_test_0123456789",
    b"\r\n\r\n",
    b"Content-ID: <x>\r\n",
    b"\x00" * 50,
]


@st.composite
def mutated_submissions(draw: st.DrawFn) -> etree._Element:
    """The NIST submission with elements removed, duplicated, moved, renamed, and attributes and texts
    replaced: the shapes a broken or hostile client sends."""
    root = copy.deepcopy(_TEMPLATE)
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    for _ in range(draw(st.integers(1, 8))):
        target = draw(st.sampled_from(elements))
        action = draw(st.sampled_from(["remove", "duplicate", "attribute", "text", "rename", "move"]))
        parent = target.getparent()
        if action == "remove" and parent is not None:
            parent.remove(target)
        elif action == "duplicate" and parent is not None:
            parent.append(copy.deepcopy(target))
        elif action == "attribute":
            target.set(draw(st.sampled_from(_ATTRIBUTES)), draw(_TEXT))
        elif action == "text":
            target.text = draw(_TEXT)
        elif action == "rename":
            target.tag = f"{{{RIM}}}{draw(st.sampled_from(_TAGS))}"
        elif action == "move" and parent is not None:
            other = draw(st.sampled_from(elements))
            if target not in other.iterancestors() and other is not target:
                other.append(target)
    return root


class TestEbxmlDecoder:
    @FUZZ
    @given(mutated_submissions())
    def test_never_raises(self, request: etree._Element) -> None:
        submission = decode_submission(request)  # problems are data, never exceptions
        assert isinstance(submission.problems, tuple)


# ---- the stored-query grammar and parameters -----------------------------------------------------------

_VALUE = st.text(alphabet="'(),% _abc019^&.:-\\\t\n", max_size=60) | _TEXT


class TestQueryGrammar:
    @FUZZ
    @given(st.lists(_VALUE, max_size=4))
    def test_values_parse_or_fail_with_their_own_error(self, texts: list[str]) -> None:
        try:
            items = parse_values(texts)
        except ValueSyntaxError:
            return
        assert all(isinstance(item, str) for item in items)

    @FUZZ
    @given(
        st.sampled_from(sorted(STORED_QUERIES)),
        st.lists(
            st.tuples(
                st.sampled_from(_PARAMETERS),
                st.lists(_VALUE, min_size=0, max_size=3),
            ),
            max_size=6,
        ),
    )
    def test_parameters_parse_or_fail_with_stored_query_errors(
        self, query_id: str, slots: list[tuple[str, list[str]]]
    ) -> None:
        query = STORED_QUERIES[query_id]()
        try:
            parse_parameters(tuple(Slot(n, tuple(v)) for n, v in slots), query.params, query.exactly_one_of)
        except XdsError as error:
            assert error.issues


# ---- the MIME reader -----------------------------------------------------------------------------------

_DOC = Doc(b"%PDF fuzz " * 50, "application/pdf")
_BODY, _CONTENT_TYPE = mtom(
    envelope(PNR, provide_request([_DOC])), [(_DOC.content_id, _DOC.mime_type, _DOC.content)]
)
LIMITS = MultipartLimits(max_request_bytes=1 << 20, max_parts=10, max_root_bytes=1 << 18)


async def _chunks(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    position = 0
    for size in sizes:
        if position >= len(data):
            break
        yield data[position : position + size]
        position += size
    if position < len(data):
        yield data[position:]


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    data = bytearray(_BODY)
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at : at + draw(st.integers(1, 200))]
        elif action == "insert":
            data[at:at] = draw(st.sampled_from(_INSERTS))
        else:
            del data[at:]
    return bytes(data)


class TestMimeReader:
    @FUZZ
    @given(mutated_messages(), st.lists(st.integers(1, 4096), max_size=20))
    def test_reads_or_fails_with_mtom_errors_and_leaves_nothing(
        self, tmp_path: Path, body: bytes, sizes: list[int]
    ) -> None:
        spool = tmp_path / "spool"
        spool.mkdir(exist_ok=True)

        async def read() -> None:
            message = await read_multipart(
                _chunks(body, sizes), _CONTENT_TYPE, limits=LIMITS, spool_dir=spool
            )
            with message:
                pass

        with contextlib.suppress(MtomError):
            asyncio.run(read())
        assert list(spool.iterdir()) == [], "a spool file was left behind"

    @FUZZ
    @given(st.binary(max_size=2000), st.text(max_size=120))
    def test_random_bytes_and_content_types(self, tmp_path: Path, body: bytes, content_type: str) -> None:
        spool = tmp_path / "spool"
        spool.mkdir(exist_ok=True)

        async def read() -> None:
            message = await read_multipart(_chunks(body, [37]), content_type, limits=LIMITS, spool_dir=spool)
            with message:
                pass

        with contextlib.suppress(MtomError):
            asyncio.run(read())
        assert list(spool.iterdir()) == []


def test_the_unmutated_inputs_are_accepted(tmp_path: Path) -> None:
    """The properties start from valid input: the fuzzers are not testing only the error paths."""
    assert decode_submission(copy.deepcopy(_TEMPLATE)).problems == ()
    assert parse_values(["('a','b')"]) == ("a", "b")

    async def read() -> int:
        message = await read_multipart(
            _chunks(_BODY, [100]), _CONTENT_TYPE, limits=LIMITS, spool_dir=tmp_path
        )
        with message:
            return len(message.parts)

    assert asyncio.run(read()) == 1


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
