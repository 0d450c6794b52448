"""The engine end to end against a scripted fake server (httpx.MockTransport): requests as sent, outcomes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import httpx
import pytest
from lxml import etree

from conformance.nist.engine import Runner, StepResult, Transport
from conformance.nist.patients import PatientPool
from conformance.nist.plan import Testkit
from conformance.nist.scope import Entry, Scope
from conformance.nist.xmlutil import descendants, local, parse_xml

SUCCESS = (
    '<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
    'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/>'
)
NOT_SUPPORTED = (
    "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>wsa:ActionNotSupported</s:Value>"
    "</s:Subcode></s:Code><s:Reason><s:Text>unknown action</s:Text></s:Reason></s:Fault>"
)
DE_PID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
SS_PID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"


def envelope(body: str) -> bytes:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://www.w3.org/2005/08/addressing"><s:Header/>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


class Sent:
    def __init__(self, request: httpx.Request):
        self.url = str(request.url)
        self.content_type = request.headers["content-type"]
        raw = request.content
        self.parts: dict[str, bytes] = {}
        if self.content_type.startswith("multipart/"):
            msg = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + self.content_type.encode() + b"\r\n\r\n" + raw
            )
            parts = list(msg.iter_parts())
            root = parts[0].get_payload(decode=True)
            for p in parts[1:]:
                self.parts[str(p["Content-ID"]).strip("<>")] = p.get_payload(decode=True)  # type: ignore[assignment]
            raw = root  # type: ignore[assignment]
        self.envelope = parse_xml(raw)
        self.action = next(e.text for e in descendants(self.envelope, "Action"))
        body = next(e for e in self.envelope if local(e) == "Body")
        self.body = next(iter(body))


class FakeServer:
    def __init__(self, answer: Callable[[Sent], bytes | str]):
        self.answer = answer
        self.sent: list[Sent] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        sent = Sent(request)
        self.sent.append(sent)
        out = self.answer(sent)
        data = envelope(out) if isinstance(out, str) else out
        return httpx.Response(200, content=data, headers={"content-type": "application/soap+xml"})


class FakeRegistrar:
    def __init__(self) -> None:
        self.registered: list[str] = []

    def register(self, pids: Sequence[str]) -> None:
        self.registered += pids


def run(
    testkit: Testkit,
    only: list[str],
    answer: Callable[[Sent], bytes | str],
    scope: Scope | None = None,
    **kw: object,
) -> tuple[list[StepResult], FakeServer, FakeRegistrar]:
    server = FakeServer(answer)
    registrar = FakeRegistrar()
    transport = Transport("http://xds.test", client=httpx.Client(transport=httpx.MockTransport(server)))
    runner = Runner(transport, PatientPool(registrar, run_id="T"), scope or Scope(), **kw)  # type: ignore[arg-type]
    return runner.run(testkit.order(only)), server, registrar


def by_label(results: list[StepResult]) -> dict[str, StepResult]:
    return {r.label: r for r in results}


def ext_ids(el: etree._Element, scheme: str) -> list[str]:
    return [
        e.get("value", "")
        for e in descendants(el, "ExternalIdentifier")
        if e.get("identificationScheme") == scheme
    ]


class TestRegisterData:
    def test_12346_registers_with_the_feed_patient_fresh_ids_and_linked_uuids(self, testkit: Testkit) -> None:
        results, server, registrar = run(testkit, ["12346"], lambda s: SUCCESS)
        res = by_label(results)
        assert res["15818/pif/step"].outcome == "SKIP" and "patient feed" in res["15818/pif/step"].reason
        assert [r.outcome for r in results if r.test_id == "12346"] == ["PASS"] * 5
        pid = registrar.registered[0]
        assert all(s.action == "urn:ihe:iti:2007:RegisterDocumentSet-b" for s in server.sent)
        assert all(s.url == "http://xds.test/xds/registry" for s in server.sent)
        for s in server.sent:
            assert set(ext_ids(s.body, SS_PID)) == {pid} and set(ext_ids(s.body, DE_PID)) == {pid}
        uids = [
            v for s in server.sent for v in ext_ids(s.body, "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8")
        ]
        assert len(set(uids)) == 5 and all(u.startswith("2.25.") for u in uids)
        # the RPLC targets the UUID the runner gave Document01 in the doc_for_rplc submission
        replaced = next(e.get("id", "") for e in descendants(server.sent[3].body, "ExtrinsicObject"))
        rplc = [
            a
            for a in descendants(server.sent[4].body, "Association")
            if a.get("associationType", "").endswith("RPLC")
        ]
        assert rplc[0].get("targetObject") == replaced and replaced.startswith("urn:uuid:")

    def test_a_query_is_checked_against_the_plan(self, testkit: Testkit) -> None:
        def answer(s: Sent) -> str:
            if local(s.body) != "AdhocQueryRequest":
                return SUCCESS
            docs = "".join(f'<rim:ExtrinsicObject id="urn:uuid:{i}" status="x"/>' for i in range(5))
            return (
                '<q:AdhocQueryResponse xmlns:q="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
                'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" '
                f'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"><rim:RegistryObjectList>{docs}'
                "</rim:RegistryObjectList></q:AdhocQueryResponse>"
            )

        results, server, registrar = run(testkit, ["11897"], answer)
        res = by_label(results)
        assert res["11897/approved/leafclass"].outcome == "PASS"  # Documents count=5
        assert res["11897/leafclass/leafclass"].outcome == "FAIL"  # expects 6
        assert "Documents count: expected 6, got 5" in res["11897/leafclass/leafclass"].reason
        query = next(s for s in server.sent if local(s.body) == "AdhocQueryRequest")
        values = [v.text for v in descendants(query.body, "Value")]
        assert f"'{registrar.registered[0]}'" in values  # $patient_id$ = the 12346 submission's patient


class TestNotImplemented:
    def fault(self, s: Sent) -> str:
        return NOT_SUPPORTED

    def test_unlisted_is_a_failure(self, testkit: Testkit) -> None:
        results, _, _ = run(testkit, ["11990"], self.fault)
        r = next(x for x in results if x.test_id == "11990")
        assert r.outcome == "FAIL" and "not implemented yet" in r.reason

    def test_listed_is_skipped_and_blocks_the_rest_of_the_test(self, testkit: Testkit) -> None:
        scope = Scope([Entry("*", "not-implemented", "later", transaction="ITI-42")])
        empty = (
            '<q:AdhocQueryResponse xmlns:q="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
            'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/>'
        )
        results, _, _ = run(
            testkit,
            ["11990"],
            lambda s: empty if local(s.body) == "AdhocQueryRequest" else NOT_SUPPORTED,
            scope,
        )
        mine = [x for x in results if x.test_id == "11990"]
        assert mine[0].outcome == "SKIP" and "later" in mine[0].reason
        assert [x.outcome for x in mine] == ["SKIP"] * 3
        assert all("blocked by skipped step 11990/submit/submit" in x.reason for x in mine[1:])

    def test_listed_but_failing_otherwise_counts(self, testkit: Testkit) -> None:
        scope = Scope([Entry("*", "not-implemented", "later", transaction="ITI-42")])
        failure = SUCCESS.replace("Success", "Failure")
        results, _, _ = run(testkit, ["11990"], lambda s: failure, scope)
        assert next(x for x in results if x.test_id == "11990").outcome == "FAIL"


class TestRepository:
    def test_pnr_is_mtom_with_the_documents(self, testkit: Testkit, nist_tests: Path) -> None:
        results, server, _ = run(testkit, ["12021"], lambda s: SUCCESS)
        pnr = server.sent[0]
        assert pnr.url.endswith("/xds/repository") and pnr.content_type.startswith("multipart/related")
        assert local(pnr.body) == "ProvideAndRegisterDocumentSetRequest"
        docs = [d for d in pnr.body if local(d) == "Document"]
        eo_ids = {e.get("id") for e in descendants(pnr.body, "ExtrinsicObject")}
        assert {d.get("id") for d in docs} == eo_ids and len(docs) == 2
        payloads = sorted(pnr.parts.values())
        expected = sorted(
            (nist_tests / "12021" / "submit" / f).read_bytes()
            for f in ("my_document.txt", "my_document2.txt")
        )
        assert payloads == expected
        assert by_label(results)["12021/submit/submit"].outcome == "PASS"

    def test_raw_body_gets_the_run_patient_fresh_uids_and_the_security_block(self, testkit: Testkit) -> None:
        block = b'<wsse:Security xmlns:wsse="urn:test:wsse">token</wsse:Security>'
        results, server, registrar = run(
            testkit, ["PnrXop"], lambda s: SUCCESS, security=lambda action: block
        )
        xop = server.sent[0]
        assert xop.content_type.startswith("multipart/related")
        assert set(ext_ids(xop.body, DE_PID)) == {registrar.registered[0]}
        assert "SR7" not in etree.tostring(xop.body).decode()
        assert [e.text for e in descendants(xop.envelope, "Security")] == ["token"]
        assert all(s.envelope is not None for s in server.sent) and len(server.sent) == 4
        assert by_label(results)["PnrXop/Xop/submit"].outcome == "PASS"

    def test_security_hook_on_built_requests(self, testkit: Testkit) -> None:
        block = b'<wsse:Security xmlns:wsse="urn:test:wsse">t</wsse:Security>'
        _, server, _ = run(testkit, ["12021"], lambda s: SUCCESS, security=lambda action: block)
        assert all(descendants(s.envelope, "Security") for s in server.sent)


@pytest.mark.parametrize("tamper", [False, True])
def test_retrieve_compares_the_documents(testkit: Testkit, nist_tests: Path, tamper: bool) -> None:
    boundary = "B0undary"

    def answer(s: Sent) -> bytes | str:
        if local(s.body) == "AdhocQueryRequest":
            return (
                '<q:AdhocQueryResponse xmlns:q="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
                'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" '
                'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"><rim:RegistryObjectList>'
                + '<rim:ExtrinsicObject id="a" mimeType="text/plain">'
                '<rim:Slot name="repositoryUniqueId"><rim:ValueList>'
                "<rim:Value>1.1.1</rim:Value></rim:ValueList></rim:Slot></rim:ExtrinsicObject>"
                * 2
                + "</rim:RegistryObjectList></q:AdhocQueryResponse>"
            )
        if local(s.body) != "RetrieveDocumentSetRequest":
            return SUCCESS
        uids = [e.text or "" for e in descendants(s.body, "DocumentUniqueId")]
        files = [nist_tests / "12021/submit/my_document.txt", nist_tests / "12021/submit/my_document2.txt"]
        parts, responses = [], []
        for n, (uid, f) in enumerate(zip(uids, files, strict=True)):
            data = f.read_bytes() + (b"x" if tamper and n else b"")
            responses.append(
                f"<x:DocumentResponse><x:RepositoryUniqueId>1.1.1</x:RepositoryUniqueId><x:DocumentUniqueId>{uid}"
                f"</x:DocumentUniqueId><x:mimeType>text/plain</x:mimeType>"
                f'<x:Document><xop:Include href="cid:d{n}" '
                'xmlns:xop="http://www.w3.org/2004/08/xop/include"/></x:Document></x:DocumentResponse>'
            )
            parts.append(
                f"--{boundary}\r\nContent-ID: <d{n}>\r\nContent-Type: text/plain\r\n\r\n".encode()
                + data
                + b"\r\n"
            )
        root = envelope(
            '<x:RetrieveDocumentSetResponse xmlns:x="urn:ihe:iti:xds-b:2007"><rs:RegistryResponse '
            'xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
            'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/>'
            + "".join(responses)
            + "</x:RetrieveDocumentSetResponse>"
        )
        head = (
            f"--{boundary}\r\nContent-ID: <root>\r\n"
            'Content-Type: application/xop+xml; type="application/soap+xml"\r\n\r\n'
        )
        return head.encode() + root + b"\r\n" + b"".join(parts) + f"--{boundary}--\r\n".encode()

    class MultipartServer(FakeServer):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            sent = Sent(request)
            self.sent.append(sent)
            out = self.answer(sent)
            if isinstance(out, bytes):
                ctype = (
                    f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; start="<root>"'
                )
                return httpx.Response(200, content=out, headers={"content-type": ctype})
            return httpx.Response(
                200, content=envelope(out), headers={"content-type": "application/soap+xml"}
            )

    server = MultipartServer(answer)
    transport = Transport("http://xds.test", client=httpx.Client(transport=httpx.MockTransport(server)))
    results = Runner(transport, PatientPool(FakeRegistrar(), run_id="T"), Scope()).run(
        testkit.order(["12021"])
    )
    retrieve = by_label(results)["12021/retrieve/retrieve_double"]
    assert server.sent[-1].url.endswith("/xds/repository")
    if tamper:
        assert retrieve.outcome == "FAIL" and "differ" in retrieve.reason
    else:
        assert retrieve.outcome == "PASS", retrieve.details
