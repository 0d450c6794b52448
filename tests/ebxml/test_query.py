"""ITI-18 request decoding and response encoding; ITI-62 RemoveObjectsRequest decoding."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.metadata import Folder, Slot
from xds_server.core.vocabulary import ResponseStatus, Status
from xds_server.ebxml import (
    adhoc_query_response,
    decode_adhoc_query,
    decode_remove_objects,
    decode_submission,
    encode_object_xml,
    parse_xml,
)
from xds_server.ebxml.namespaces import LCM, QUERY, RIM, query, rim, rs

from .corpus import query_requests, relative, remove_requests, rim3_submissions

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
QUERIES = query_requests()
REMOVALS = remove_requests()


def request(
    body: str, option: str = '<query:ResponseOption returnType="LeafClass" returnComposedObjects="true"/>'
) -> bytes:
    return (
        f'<query:AdhocQueryRequest xmlns:query="{QUERY}" xmlns:rim="{RIM}">'
        f"{option}{body}</query:AdhocQueryRequest>"
    ).encode()


def slot(name: str, *values: str) -> str:
    inner = "".join(f"<rim:Value>{v}</rim:Value>" for v in values)
    return f'<rim:Slot name="{name}"><rim:ValueList>{inner}</rim:ValueList></rim:Slot>'


def adhoc(*slots: str, id: str | None = FIND_DOCUMENTS, home: str | None = None) -> str:
    attrs = (f' id="{id}"' if id is not None else "") + (f' home="{home}"' if home else "")
    return f"<rim:AdhocQuery{attrs}>{''.join(slots)}</rim:AdhocQuery>"


def failure(data: bytes) -> Issue:
    with pytest.raises(XdsError) as caught:
        decode_adhoc_query(parse_xml(data))
    (issue,) = caught.value.issues
    return issue


class TestNistQueries:
    def test_corpus_is_found(self) -> None:
        print(f"\nebxml query decoder: {len(QUERIES)} NIST AdhocQueryRequest files")
        assert len(QUERIES) >= 279

    @pytest.mark.parametrize("path", QUERIES, ids=[relative(p) for p in QUERIES])
    def test_every_request_decodes(self, path: Path) -> None:
        root = parse_xml(path.read_bytes())
        decoded = decode_adhoc_query(root)
        slots = root.findall(f"{rim('AdhocQuery')}/{rim('Slot')}")
        assert decoded.query_id.startswith("urn:uuid:")
        assert decoded.return_type in ("LeafClass", "ObjectRef")
        assert [s.name for s in decoded.slots] == [s.get("name") for s in slots]

    def test_and_is_two_slots(self) -> None:
        path = next(p for p in QUERIES if relative(p) == "11897/and/Query.xml")
        decoded = decode_adhoc_query(parse_xml(path.read_bytes()))
        assert decoded.slot_values("$XDSDocumentEntryEventCodeList") == (
            ("('urn:connectathon:bppc:foundational:policy^^1.3.6.1.4.1.21367.2017.3')",),
            ("('urn:connectathon:policy:full-access^^1.3.6.1.4.1.21367.2017.3')",),
        )
        assert decoded.return_composed_objects is True


class TestDecodeAdhocQuery:
    def test_values_stay_raw(self) -> None:
        data = request(
            adhoc(
                slot("$XDSDocumentEntryPatientId", "'it''s^^^&amp;1.2&amp;ISO'"), slot("$X", "('a',", "'b')")
            )
        )
        decoded = decode_adhoc_query(parse_xml(data))
        assert decoded.slots == (
            Slot("$XDSDocumentEntryPatientId", ("'it''s^^^&1.2&ISO'",)),
            Slot("$X", ("('a',", "'b')")),
        )

    def test_options_and_home(self) -> None:
        option = '<query:ResponseOption returnType="ObjectRef" returnComposedObjects="false"/>'
        decoded = decode_adhoc_query(parse_xml(request(adhoc(home="urn:oid:1.2.3"), option)))
        assert (decoded.query_id, decoded.return_type, decoded.return_composed_objects, decoded.home) == (
            FIND_DOCUMENTS,
            "ObjectRef",
            False,
            "urn:oid:1.2.3",
        )

    def test_ebrs_defaults(self) -> None:
        decoded = decode_adhoc_query(parse_xml(request(adhoc(), "<query:ResponseOption/>")))
        assert (decoded.return_type, decoded.return_composed_objects, decoded.home) == (
            "RegistryObject",
            False,
            None,
        )

    def test_empty_value(self) -> None:
        decoded = decode_adhoc_query(parse_xml(request(adhoc(slot("$p", "")))))
        assert decoded.slots == (Slot("$p", ("",)),)

    def test_missing_id_is_an_unknown_stored_query(self) -> None:
        issue = failure(request(adhoc(id=None)))
        assert issue.code is ErrorCode.UNKNOWN_STORED_QUERY

    def test_missing_adhoc_query(self) -> None:
        assert failure(request("")).code is ErrorCode.REGISTRY_METADATA_ERROR

    def test_missing_response_option(self) -> None:
        assert failure(request(adhoc(), "")).code is ErrorCode.REGISTRY_METADATA_ERROR

    def test_bad_return_composed_objects(self) -> None:
        option = '<query:ResponseOption returnType="LeafClass" returnComposedObjects="maybe"/>'
        issue = failure(request(adhoc(), option))
        assert issue.code is ErrorCode.REGISTRY_METADATA_ERROR and "maybe" in issue.message

    def test_slot_without_name(self) -> None:
        body = adhoc("<rim:Slot><rim:ValueList><rim:Value>x</rim:Value></rim:ValueList></rim:Slot>")
        assert failure(request(body)).code is ErrorCode.REGISTRY_METADATA_ERROR

    def test_wrong_root(self) -> None:
        assert failure(b"<a/>").code is ErrorCode.REGISTRY_METADATA_ERROR


def stored_objects() -> list[str]:
    submission = decode_submission(parse_xml(rim3_submissions()[0].read_bytes()))
    return [encode_object_xml(o) for o in submission.objects()]


class TestAdhocQueryResponse:
    def test_object_refs(self) -> None:
        response = adhoc_query_response(ResponseStatus.SUCCESS, (), object_refs=["urn:uuid:a", "urn:uuid:b"])
        assert response.tag == query("AdhocQueryResponse")
        assert response.get("status") == ResponseStatus.SUCCESS
        (object_list,) = response
        assert object_list.tag == rim("RegistryObjectList")
        assert [(r.tag, r.get("id")) for r in object_list] == [
            (rim("ObjectRef"), "urn:uuid:a"),
            (rim("ObjectRef"), "urn:uuid:b"),
        ]

    def test_empty_result(self) -> None:
        response = adhoc_query_response(ResponseStatus.SUCCESS, ())
        assert [c.tag for c in response] == [rim("RegistryObjectList")] and len(response[0]) == 0

    def test_failure_lists_errors_before_objects(self) -> None:
        issue = Issue(ErrorCode.RESULT_NOT_SINGLE_PATIENT, "2 patients")
        response = adhoc_query_response(ResponseStatus.FAILURE, [issue])
        assert [c.tag for c in response] == [rs("RegistryErrorList"), rim("RegistryObjectList")]
        assert response[0][0].get("errorCode") == "XDSResultNotSinglePatient"

    def test_leaf_class_objects_are_the_stored_xml(self) -> None:
        leaves = stored_objects()
        response = adhoc_query_response(ResponseStatus.SUCCESS, (), leaf_xml=leaves)
        object_list = response[0]

        def c14n(element: etree._Element) -> bytes:
            return etree.tostring(element, method="c14n", exclusive=True)

        assert [c14n(o) for o in object_list] == [c14n(parse_xml(leaf.encode())) for leaf in leaves]
        again = decode_submission(parse_xml(etree.tostring(object_list)))
        assert again.problems == () and len(again.objects()) == len(leaves)

    def test_status_override(self) -> None:
        leaves = stored_objects()
        response = adhoc_query_response(
            ResponseStatus.SUCCESS, (), leaf_xml=leaves, status_overrides={"Document01": Status.DEPRECATED}
        )
        statuses = {o.get("id"): o.get("status") for o in response[0]}
        assert statuses["Document01"] == Status.DEPRECATED
        assert statuses["SubmissionSet01"] is None

    def test_folder_last_update_time_is_replaced(self) -> None:
        folder = encode_object_xml(Folder(entry_uuid="urn:uuid:f", last_update_time="2020", title=None))
        response = adhoc_query_response(
            ResponseStatus.SUCCESS, (), leaf_xml=[folder], folder_last_update={"urn:uuid:f": "20240102030405"}
        )
        decoded = decode_submission(response[0])
        assert decoded.folders[0].last_update_time == "20240102030405"
        assert len(response[0][0].findall(rim("Slot"))) == 1

    def test_folder_last_update_time_is_added(self) -> None:
        folder = Folder(entry_uuid="urn:uuid:f", extra_slots=(Slot("urn:x", ("1",)),))
        response = adhoc_query_response(
            ResponseStatus.SUCCESS,
            (),
            leaf_xml=[encode_object_xml(folder)],
            folder_last_update={"urn:uuid:f": "2024"},
        )
        decoded = decode_submission(response[0])
        assert decoded.problems == ()
        assert decoded.folders[0] == dataclasses.replace(folder, last_update_time="2024")

    def test_broken_stored_xml_is_a_registry_error(self) -> None:
        with pytest.raises(XdsError) as caught:
            adhoc_query_response(ResponseStatus.SUCCESS, (), leaf_xml=["<rim:ExtrinsicObject"])
        assert caught.value.issues[0].code is ErrorCode.REGISTRY_ERROR

    def test_success_with_an_error_is_refused(self) -> None:
        with pytest.raises(ValueError):
            adhoc_query_response(ResponseStatus.SUCCESS, [Issue(ErrorCode.REGISTRY_ERROR, "x")])

    def test_hundred_leaf_objects_are_fast(self) -> None:
        entry = decode_submission(parse_xml(rim3_submissions()[0].read_bytes())).documents[0]
        leaves = [
            encode_object_xml(dataclasses.replace(entry, entry_uuid=f"urn:uuid:{i}")) for i in range(100)
        ]
        overrides = {f"urn:uuid:{i}": Status.DEPRECATED for i in range(0, 100, 2)}
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            etree.tostring(
                adhoc_query_response(ResponseStatus.SUCCESS, (), leaf_xml=leaves, status_overrides=overrides)
            )
            timings.append(time.perf_counter() - started)
        # ~800 kB of metadata: a loose bound that still catches a per-object parse or a quadratic rewrite.
        assert min(timings) < 0.1


class TestDecodeRemoveObjects:
    def test_corpus(self) -> None:
        print(f"\nebxml remove decoder: {len(REMOVALS)} NIST RemoveObjectsRequest files")
        assert len(REMOVALS) >= 33
        for path in REMOVALS:
            ids = decode_remove_objects(parse_xml(path.read_bytes()))
            assert ids and all(ids)

    def test_ids_in_order(self) -> None:
        data = (
            '<lcm:RemoveObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" '
            f'xmlns:rim="{RIM}"><rim:ObjectRefList><rim:ObjectRef id="urn:uuid:b"/>'
            '<rim:ObjectRef id="urn:uuid:a"/></rim:ObjectRefList></lcm:RemoveObjectsRequest>'
        ).encode()
        assert decode_remove_objects(parse_xml(data)) == ("urn:uuid:b", "urn:uuid:a")

    @pytest.mark.parametrize(
        "body",
        ["", "<rim:ObjectRefList><rim:ObjectRef/></rim:ObjectRefList>"],
        ids=["no-list", "ref-without-id"],
    )
    def test_malformed(self, body: str) -> None:
        data = (
            f'<lcm:RemoveObjectsRequest xmlns:lcm="{LCM}" xmlns:rim="{RIM}">{body}</lcm:RemoveObjectsRequest>'
        ).encode()
        with pytest.raises(XdsError) as caught:
            decode_remove_objects(parse_xml(data))
        assert caught.value.issues[0].code is ErrorCode.REGISTRY_METADATA_ERROR

    def test_wrong_root(self) -> None:
        with pytest.raises(XdsError):
            decode_remove_objects(parse_xml(b"<a/>"))
