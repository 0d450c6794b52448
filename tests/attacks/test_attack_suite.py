"""The attack suite (issue 14): bad and hostile input against the real application, by class. Every case
must end in a precise refusal (a RegistryError with the IHE code, or a SOAP fault), never a crash, a hang, a
500 or a partial write. ``CASES`` counts the cases of each class (the closing note reports them).

Classes: XML (parser attacks), MTOM (the MIME reader), METADATA (size and shape of submissions), QUERY
(stored-query parameters), IDENTITY (credentials). The DMP access-rule attacks live in tests/e2e.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.core.builders import PATIENT
from tests.query.builders import adhoc
from tests.repository.messages import LCM, PNR, RIM, Doc, envelope, mtom, provide_request
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.soap import mtom as mtom_module
from xds_server.storage.database import Database

from .conftest import FAILURE, SUCCESS, Target
from .conftest import envelope as soap

REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"


# ---- metadata --------------------------------------------------------------------------------------------


def _entry(request: etree._Element) -> etree._Element:
    entry = request.find(
        f"{{{LCM}}}SubmitObjectsRequest/{{{RIM}}}RegistryObjectList/{{{RIM}}}ExtrinsicObject"
    )
    assert entry is not None
    return entry


def _with_slots(count: int, values: int = 1) -> etree._Element:
    request = provide_request([Doc(b"x", form="inline")])
    entry = _entry(request)
    for i in range(count):
        slot = etree.SubElement(entry, f"{{{RIM}}}Slot", name=f"urn:attack:{i}")
        value_list = etree.SubElement(slot, f"{{{RIM}}}ValueList")
        for j in range(values):
            etree.SubElement(value_list, f"{{{RIM}}}Value").text = f"v{j}"
    return request


def _with_objects(count: int) -> etree._Element:
    request = provide_request([Doc(b"x", form="inline")])
    object_list = request.find(f"{{{LCM}}}SubmitObjectsRequest/{{{RIM}}}RegistryObjectList")
    assert object_list is not None
    for i in range(count):
        etree.SubElement(object_list, f"{{{RIM}}}ObjectRef", id=f"urn:uuid:00000000-0000-4000-8000-{i:012d}")
    return request


def _with_big_text(size: int) -> etree._Element:
    request = provide_request([Doc(b"x", form="inline")])
    slot = etree.SubElement(_entry(request), f"{{{RIM}}}Slot", name="urn:attack:big")
    etree.SubElement(etree.SubElement(slot, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value").text = "A" * size
    return request


def _with_patient(patient: str) -> etree._Element:
    return provide_request([Doc(b"x", form="inline")], patient=patient)


METADATA: dict[str, Callable[[], etree._Element]] = {
    "slots on one object past the bound": lambda: _with_slots(300),
    "twenty thousand slots": lambda: _with_slots(20_000),
    "values in one slot past the bound": lambda: _with_slots(1, values=1_500),
    "objects past the bound": lambda: _with_objects(10_050),
    "metadata text past the byte bound": lambda: _with_big_text(2 * 1024 * 1024),
    "patient id longer than a CX": lambda: _with_patient("P" * 300 + "^^^&1.2.3&ISO"),
    "CX.1 longer than 64 characters": lambda: _with_patient("P" * 65 + "^^^&1.2.3&ISO"),
}


class TestMetadata:
    @pytest.mark.parametrize("case", sorted(METADATA))
    def test_refused_before_any_work(self, target: Target, case: str) -> None:
        request = METADATA[case]()
        answer = target.post(envelope(PNR, request), path="/xds/repository")
        assert answer.status == FAILURE, (case, answer.text[:300])
        assert "XDSRegistryMetadataError" in answer.codes or "XDSRepositoryMetadataError" in answer.codes, (
            answer
        )
        assert target.blob_files() == [], "a refused submission left files in the document store"

    def test_bounds_leave_a_real_submission_alone(self, target: Target) -> None:
        answer = target.post(envelope(PNR, _with_slots(50, values=20)), path="/xds/repository")
        assert answer.status == SUCCESS, answer.text[:500]

    def test_register_is_bounded_too(self, target: Target) -> None:
        submit = _with_slots(300).find(f"{{{LCM}}}SubmitObjectsRequest")
        assert submit is not None
        answer = target.post(envelope(REGISTER, copy.deepcopy(submit)))
        assert answer.status == FAILURE and answer.codes == ("XDSRegistryMetadataError",)


# ---- stored queries ----------------------------------------------------------------------------------------


def _find(**extra: str | list[str]) -> str:
    params: dict[str, str | list[str]] = {
        "$XDSDocumentEntryPatientId": f"'{PATIENT}'",
        "$XDSDocumentEntryStatus": f"('{APPROVED}')",
    }
    return adhoc(FIND_DOCUMENTS, {**params, **extra})


def _quoted(values: list[str]) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


QUERIES: dict[str, tuple[Callable[[], str], str]] = {
    "1500 author patterns": (
        lambda: _find(**{"$XDSDocumentEntryAuthorPerson": _quoted([f"%a{i}%" for i in range(1500)])}),
        "XDSStoredQueryParamNumber",
    ),
    "a 200 000-character pattern": (
        lambda: _find(**{"$XDSDocumentEntryAuthorPerson": _quoted(["%" + "a" * 200_000 + "%"])}),
        "XDSRegistryMetadataError",
    ),
    "a 2 MB slot": (
        lambda: _find(**{"$XDSDocumentEntryClassCode": _quoted(["c^^" + "1" * 2_000_000])}),
        "XDSRegistryMetadataError",
    ),
    "20 000 uuids": (
        lambda: adhoc(
            GET_DOCUMENTS, {"$XDSDocumentEntryEntryUUID": _quoted([f"urn:uuid:{i}" for i in range(20_000)])}
        ),
        "XDSStoredQueryParamNumber",
    ),
    "an AND/OR parameter repeated 100 times": (
        lambda: _find(**{"$XDSDocumentEntryEventCodeList": [f"('e{i}^^1.2')" for i in range(100)]}),
        "XDSStoredQueryParamNumber",
    ),
    "a 5000-character patient id": (
        lambda: adhoc(
            FIND_DOCUMENTS,
            {
                "$XDSDocumentEntryPatientId": "'" + "P" * 5000 + "'",
                "$XDSDocumentEntryStatus": f"('{APPROVED}')",
            },
        ),
        "XDSRegistryMetadataError",
    ),
}


class TestStoredQueries:
    @pytest.mark.parametrize("case", sorted(QUERIES))
    def test_refused_with_a_stored_query_code(self, target: Target, case: str) -> None:
        body, code = QUERIES[case]
        answer = target.post(soap(QUERY, body()))
        assert answer.status == FAILURE, (case, answer.text[:300])
        assert answer.codes == (code,), answer.codes

    def test_bounds_leave_a_real_query_alone(self, target: Target) -> None:
        answer = target.post(
            soap(QUERY, _find(**{"$XDSDocumentEntryAuthorPerson": _quoted(["%Smith%"] * 50)}))
        )
        assert answer.status == SUCCESS, answer.text[:300]


# ---- identity: credentials are checked before the body is read -----------------------------------------


@pytest.fixture
def dmp_target(database: Database, tmp_path: Path) -> Iterator[Target]:
    settings = Settings(data_dir=tmp_path, profile="dmp-test")
    with TestClient(create_app(settings, database=database)) as client:
        yield Target(client, settings, database)


def _spool_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    created: list[str] = []
    real = mtom_module.tempfile.mkstemp

    def spy(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, name = real(*args, **kwargs)  # type: ignore[call-overload]
        created.append(name)
        return fd, name

    monkeypatch.setattr(mtom_module.tempfile, "mkstemp", spy)
    return created


IDENTITY: dict[str, bytes] = {
    "no wsse:Security header": b"",
    "an empty wsse:Security header": (
        b'<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
        b'oasis-200401-wss-wssecurity-secext-1.0.xsd"/>'
    ),
    "an unsigned assertion": (
        b'<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/'
        b'oasis-200401-wss-wssecurity-secext-1.0.xsd"><saml2:Assertion '
        b'xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" IssueInstant="2026-01-01T00:00:00Z" '
        b'Version="2.0"><saml2:Issuer>me</saml2:Issuer></saml2:Assertion></wsse:Security>'
    ),
}


class TestIdentity:
    @pytest.mark.parametrize("case", sorted(IDENTITY))
    def test_mtom_parts_are_never_spooled_for_a_refused_caller(
        self, dmp_target: Target, monkeypatch: pytest.MonkeyPatch, case: str
    ) -> None:
        created = _spool_spy(monkeypatch)
        doc = Doc(b"%PDF anonymous upload" * 10_000, "application/pdf")
        root = envelope(PNR, provide_request([doc]))
        root = root.replace(b"</soap:Header>", IDENTITY[case] + b"</soap:Header>", 1)
        body, content_type = mtom(root, [(doc.content_id, doc.mime_type, doc.content)])
        answer = dmp_target.post(body, path="/xds/repository", content_type=content_type)
        assert answer.status.startswith("fault:wsse:"), answer
        assert created == [], "a document part was spooled for an unauthenticated request"

    def test_a_plain_envelope_is_refused_once_its_header_is_read(self, dmp_target: Target) -> None:
        """13 MB of body (that the full parse would refuse for its own reasons) behind an anonymous header:
        the header's refusal is the answer, the body is never parsed (bench/hardening_bench.py measures
        the memory and time on a real server)."""
        prefix, _, _ = soap(QUERY, "").partition(b"</env:Body>")
        body = prefix + (b"<x>" + b"A" * 65_536 + b"</x>") * 200 + b"</env:Body></env:Envelope>"
        answer = dmp_target.post(body)
        assert answer.http == 400 and answer.status == "fault:wsse:InvalidSecurity"

    def test_a_padded_header_is_refused(self, dmp_target: Target) -> None:
        padding = b"<x:pad xmlns:x='urn:x'>" + b"A" * (2 * 1024 * 1024) + b"</x:pad>"
        answer = dmp_target.post(soap(QUERY, "<x/>", padding))
        assert answer.status == "fault:env:Sender" and b"header is larger" in answer.text
