"""Expectation checks against canned responses."""

from __future__ import annotations

from conformance.nist.expect import (
    check_assertions,
    check_contents,
    check_errors,
    check_status,
    must_only_include,
    xpath_value,
)
from conformance.nist.plan import Assertion, ContentCheck
from conformance.nist.soap import decode_response

ENV = '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body>{}</s:Body></s:Envelope>'
RS = 'xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"'
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
Q = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
APP = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEP = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
HM = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"


def _resp(body: str, ctype: str = "application/soap+xml"):  # type: ignore[no-untyped-def]
    return decode_response(200, ctype, ENV.format(body).encode())


def _failure(*codes: str) -> str:
    errs = "".join(
        f'<rs:RegistryError errorCode="{c}" codeContext="ctx {c}" '
        'severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/>'
        for c in codes
    )
    return (
        f'<rs:RegistryResponse {RS} status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure">'
        f"<rs:RegistryErrorList>{errs}</rs:RegistryErrorList></rs:RegistryResponse>"
    )


def _query(*objects: str) -> str:
    return (
        f'<q:AdhocQueryResponse xmlns:q="{Q}" xmlns:rim="{RIM}" '
        'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success">'
        f"<rim:RegistryObjectList>{''.join(objects)}</rim:RegistryObjectList></q:AdhocQueryResponse>"
    )


def doc(i: str, status: str = APP) -> str:
    otype = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    return f'<rim:ExtrinsicObject id="{i}" status="{status}" objectType="{otype}"/>'


def ss(i: str, status: str = APP) -> str:
    return (
        f'<rim:RegistryPackage id="{i}" status="{status}"/>'
        f'<rim:Classification id="c{i}" classifiedObject="{i}" '
        'classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"/>'
    )


def fol(i: str) -> str:
    return (
        f'<rim:RegistryPackage id="{i}" status="{APP}"><rim:Classification id="c{i}" classifiedObject="{i}" '
        'classificationNode="urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"/></rim:RegistryPackage>'
    )


def assoc(src: str, dst: str, kind: str = HM) -> str:
    return (
        f'<rim:Association id="a{src}{dst}" associationType="{kind}" sourceObject="{src}" '
        f'targetObject="{dst}"/>'
    )


def c(name: str, count: int | None = None) -> ContentCheck:
    return ContentCheck(name, (("count", str(count)),) if count is not None else ())


class TestStatus:
    def test_match_and_mismatch(self) -> None:
        r = _resp(_failure("XDSRegistryMetadataError"))
        assert check_status(r, "Failure") == []
        [msg] = check_status(r, "Success")
        assert "status Failure, expected Success" in msg and "XDSRegistryMetadataError" in msg

    def test_a_fault_never_satisfies(self) -> None:
        fault = (
            "<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>wsa:ActionNotSupported</s:Value>"
            "</s:Subcode></s:Code><s:Reason><s:Text>nope</s:Text></s:Reason></s:Fault>"
        )
        r = _resp(fault)
        assert r.action_not_supported
        assert check_status(r, "Failure") and check_status(r, "Success")

    def test_not_soap(self) -> None:
        r = decode_response(500, "text/plain", b"boom")
        assert r.error and check_status(r, "Success")


class TestErrors:
    def test_code_must_be_present(self) -> None:
        r = _resp(_failure("XDSPatientIdDoesNotMatch"))
        assert check_errors(r, ["XDSPatientIdDoesNotMatch"], []) == []
        assert check_errors(r, ["XDSUnknownPatientId"], [])

    def test_message_is_a_substring_of_code_or_context(self) -> None:
        r = _resp(_failure("XDSNonIdenticalHash"))
        assert check_errors(r, [], ["NonIdenticalHash"]) == []
        assert check_errors(r, [], ["ctx XDSNon"]) == []
        assert check_errors(r, [], ["XDSNonIdenticalSize"])


class TestContents:
    def test_counts(self) -> None:
        body = _resp(_query(doc("d1"), doc("d2"), ss("s1"), assoc("s1", "d1"))).body
        assert check_contents([c("Documents", 2), c("SubmissionSets", 1), c("Associations", 1)], body) == []
        assert check_contents([c("Documents", 3)], body) == ["Documents count: expected 3, got 2"]
        assert check_contents([c("Folders", 0), c("ObjectRefs", 0)], body) == []

    def test_object_refs_and_none(self) -> None:
        body = _resp(_query('<rim:ObjectRef id="x"/>')).body
        assert check_contents([c("ObjectRefs", 1)], body) == []
        assert check_contents([c("None")], body)
        assert check_contents([c("None")], _resp(_query()).body) == []

    def test_submission_set_shapes(self) -> None:
        body = _resp(_query(ss("s"), doc("d"), assoc("s", "d"))).body
        assert check_contents([c("SSwithOneDoc"), c("SSApproved"), c("DocApp")], body) == []
        assert check_contents([c("SSwithTwoDoc")], body)
        no_member = _resp(_query(ss("s"), doc("d"))).body
        assert check_contents([c("SSwithOneDoc")], no_member)
        folder = _resp(_query(ss("s"), doc("d"), doc("e"), fol("f"), assoc("s", "d"), assoc("s", "e"),
                              assoc("s", "f"), assoc("f", "d"))).body  # fmt: skip
        assert check_contents([c("SSwithTwoDocOneFolOneDocInFol"), c("FolApp")], folder) == []

    def test_status_checks(self) -> None:
        body = _resp(_query(doc("d1"), doc("d2", DEP))).body
        assert check_contents([c("OneDocDep")], body) == [] and check_contents([c("OneDocApp")], body) == []
        assert check_contents([c("DocApp")], body) and check_contents([c("DocDep")], body)
        assert check_contents([c("DocApp")], _resp(_query()).body) == []  # all of none (30006 eval_remove)

    def test_association_types(self) -> None:
        body = _resp(
            _query(doc("a"), doc("b"), assoc("b", "a", "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"))
        ).body
        assert check_contents([c("HasXFRM_RPLC")], body) == []
        assert check_contents([c("HasRPLC")], body)

    def test_must_only_include(self) -> None:
        xml = (
            b'<DocumentEntries><MustOnlyInclude><DocumentEntry><UseId symbol="$uuid$"/>'
            b"<DocumentEntryType>urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1</DocumentEntryType>"
            b"</DocumentEntry></MustOnlyInclude></DocumentEntries>"
        )
        check = ContentCheck("DocumentEntries", (), xml)
        include = must_only_include(check, {"$uuid$": "d1"})
        assert check_contents([check], _resp(_query(doc("d1"))).body, include) == []
        assert check_contents([check], _resp(_query(doc("d1"), doc("d2"))).body, include)

    def test_unknown_check_is_reported(self) -> None:
        assert check_contents([c("Bogus")], _resp(_query()).body) == [
            "unknown ExpectedContents check 'Bogus'"
        ]


class TestAssertionsAndReports:
    def test_xpath_with_bound_values(self) -> None:
        body = _resp(_query(doc("urn:uuid:1"), doc("urn:uuid:2", DEP))).body
        ok = Assertion("a", "count(//*[local-name()='ExtrinsicObject'][@id=\"orig\"]) = 1")
        bad = Assertion("b", f"//*[local-name()='ExtrinsicObject'][@id=\"orig\"]/@status = '{DEP}'")
        assert check_assertions([ok], body, {"orig": "urn:uuid:1"}) == []
        assert check_assertions([bad], body, {"orig": "urn:uuid:1"}) == ["assertion b is false"]
        assert check_assertions([Assertion("c", "//*[")], body, {})[0].startswith("assertion c: bad XPath")

    def test_report_values(self) -> None:
        body = _resp(_query(doc("urn:uuid:1"), doc("urn:uuid:2"))).body
        assert xpath_value(body, "//*[local-name()='ExtrinsicObject'][2]/@id") == "urn:uuid:2"
        assert xpath_value(body, "//*[local-name()='Nothing']") is None
