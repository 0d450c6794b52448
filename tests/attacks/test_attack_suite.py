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

import tests.attacks.test_blob_collision as collision  # its case count (not collected here)
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


# ---- XML -------------------------------------------------------------------------------------------------

_QUERY_BODY = adhoc(FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": f"'{PATIENT}'",
                                     "$XDSDocumentEntryStatus": f"('{APPROVED}')"})  # fmt: skip


def _nested(depth: int) -> bytes:
    return soap(QUERY, "<a>" * depth + "</a>" * depth)


XML: dict[str, bytes] = {
    "external entity (XXE)": b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    + soap(QUERY, "<x>&x;</x>"),
    "billion laughs": b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    + soap(QUERY, "<x>&d;</x>"),
    "parameter entity": b'<!DOCTYPE e [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>'
    + soap(QUERY, "<x/>"),
    "a DOCTYPE in UTF-16": ('<!DOCTYPE e [<!ENTITY x "y">]>').encode("utf-16") + soap(QUERY, "<x/>"),
    "nesting 10 000 deep": _nested(10_000),
    "not XML": b"\x00\x01\x02 this is not xml",
    "truncated envelope": soap(QUERY, _QUERY_BODY)[:300],
    "SOAP 1.1 envelope": soap(QUERY, _QUERY_BODY).replace(
        b"http://www.w3.org/2003/05/soap-envelope", b"http://schemas.xmlsoap.org/soap/envelope/"
    ),
    "two Body children": soap(QUERY, _QUERY_BODY + _QUERY_BODY),
    "unknown mustUnderstand header": soap(
        QUERY, _QUERY_BODY, '<x:h xmlns:x="urn:x" env:mustUnderstand="true"/>'
    ),
    "unknown action": soap("urn:evil:Action", _QUERY_BODY),
    "NUL character reference in a value": soap(
        QUERY, _QUERY_BODY.replace(PATIENT.replace("&", "&amp;"), "&#0;", 1)
    ),
}


class TestXml:
    @pytest.mark.parametrize("case", sorted(XML))
    def test_refused_with_a_fault_never_a_crash(self, target: Target, case: str) -> None:
        answer = target.post(XML[case])
        assert answer.status.startswith("fault:") or answer.status == FAILURE, (case, answer.text[:300])
        assert answer.http in (200, 400, 500)
        assert b"root:" not in answer.text and b"aaaaaaaaaaaaaaaaaaaa" not in answer.text  # nothing expanded
        assert b"Traceback" not in answer.text


# ---- MTOM ------------------------------------------------------------------------------------------------


def _pnr_parts() -> tuple[bytes, str, Doc]:
    doc = Doc(b"%PDF-1.4 attack document", "application/pdf")
    body, content_type = mtom(
        envelope(PNR, provide_request([doc])), [(doc.content_id, doc.mime_type, doc.content)]
    )
    return body, content_type, doc


def _mtom_case(name: str) -> tuple[bytes, str]:
    body, content_type, doc = _pnr_parts()
    if name == "no boundary parameter":
        return body, content_type.replace('boundary="MIMEBoundary_test_0123456789"; ', "")
    if name == "truncated before the closing boundary":
        return body[: len(body) - 40], content_type
    if name == "a part with no Content-ID":
        return body.replace(f"Content-ID: <{doc.content_id}>".encode(), b"X-Nothing: 1"), content_type
    if name == "two parts with one Content-ID":
        extra = (
            "--MIMEBoundary_test_0123456789\r\nContent-Type: text/plain\r\n"
            f"Content-ID: <{doc.content_id}>\r\n\r\nx\r\n"
        ).encode()
        return body.replace(
            b"--MIMEBoundary_test_0123456789--", extra + b"--MIMEBoundary_test_0123456789--"
        ), content_type
    if name == "an xop:Include to a missing part":
        return body.replace(
            doc.content_id.replace(":", "%3A").encode(), b"missing%40nowhere", 1
        ), content_type
    if name == "more parts than allowed":
        parts = [(f"p{i}@x", "text/plain", b"x") for i in range(1_100)]
        return mtom(
            envelope(PNR, provide_request([doc])), [(doc.content_id, doc.mime_type, doc.content), *parts]
        )
    if name == "headers of a part past the header limit":
        return body.replace(b"Content-Transfer-Encoding: binary", b"X-Pad: " + b"a" * 70_000, 1), content_type
    if name == "an unreferenced extra part":
        return mtom(
            envelope(PNR, provide_request([doc])),
            [(doc.content_id, doc.mime_type, doc.content), ("stray@x", "text/plain", b"stray")],
        )
    if name == "a document whose bytes do not match its hash":
        forged = Doc(b"the real bytes", hash="0" * 40, size="14")
        return mtom(
            envelope(PNR, provide_request([forged])), [(forged.content_id, "text/plain", forged.content)]
        )
    raise KeyError(name)


MTOM = [
    "no boundary parameter",
    "truncated before the closing boundary",
    "a part with no Content-ID",
    "two parts with one Content-ID",
    "an xop:Include to a missing part",
    "more parts than allowed",
    "headers of a part past the header limit",
    "an unreferenced extra part",
    "a document whose bytes do not match its hash",
]


class TestMtom:
    @pytest.mark.parametrize("case", MTOM)
    def test_refused_and_nothing_stored(self, target: Target, case: str) -> None:
        body, content_type = _mtom_case(case)
        answer = target.post(body, path="/xds/repository", content_type=content_type)
        assert answer.refused, (case, answer.text[:400])
        assert target.blob_files() == [], "a refused upload left files in the document store"


def _tests_of(*classes: type) -> int:
    return sum(1 for cls in classes for name in vars(cls) if name.startswith("test_"))


#: The attack cases of each class (the closing note counts them). The blob store's (two documents with one
#: SHA-1, each case on the file store and on S3) and the leak property (one property, XDS_LEAK_EXAMPLES
#: examples) live in their own modules.
CASES = {
    "XML": len(XML),
    "MTOM": len(MTOM),
    "metadata": len(METADATA) + 2,
    "stored queries": len(QUERIES) + 1,
    "identity": len(IDENTITY) + 2,
    "blob store": _tests_of(collision.TestSha1Collision, collision.TestStoreWrittenBeforeTheSha256Key),
    "leak property": 1,
}


def test_case_counts() -> None:
    assert all(count > 0 for count in CASES.values())
    print("attack cases by class:", CASES)
