"""ebRIM 2.1 -> 3.0 on the real testkit files: schema-valid, and decodable by the project's codec."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from conformance.nist.metadata import prepare_submission
from conformance.nist.plan import Testkit
from conformance.nist.state import Ids, substitute, unresolved_symbols
from conformance.nist.translate import association_type_v3, is_rim21, status_v3, translate_to_v3
from conformance.nist.xmlutil import LCM3, RIM3, children, descendants, local, parse_xml

DATA = Path(__file__).parent / "data"
RIM21_FILES = [
    p
    for p in sorted(
        Path(__file__).resolve().parents[2].joinpath("conformance/nist-testkit/tests").rglob("*.xml")
    )
    if not p.name.startswith("testplan") and p.stat().st_size and b"xsd:2.1" in p.read_bytes()[:600]
]
#: the one 2.1 file whose source repeats a Slot (not used by any plan section); the codec reports that
DUPLICATED_SLOT_SOURCE = "12346/single_doc.xml"


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(DATA / "ebrs30" / "lcm.xsd")))


def _translated(path: Path, assign_uuids: bool) -> etree._Element:
    ids = Ids()
    out = translate_to_v3(parse_xml(path.read_bytes()))
    prepare_submission(
        out, patient_id="P1^^^&1.2.3&ISO", no_assign_uids=None, assign_uuids=assign_uuids,
        new_uid=ids.oid, new_uuid=ids.uuid,
    )  # fmt: skip
    return parse_xml(etree.tostring(out))


def test_the_237_files_are_found() -> None:
    assert len(RIM21_FILES) == 237
    assert all(is_rim21(parse_xml(p.read_bytes())) for p in RIM21_FILES)


@pytest.mark.parametrize("assign_uuids", [True, False])
def test_every_translation_is_schema_valid(assign_uuids: bool) -> None:
    invalid = []
    for path in RIM21_FILES:
        doc = _translated(path, assign_uuids)
        if not _schema().validate(etree.ElementTree(doc)):
            invalid.append(f"{path}: {_schema().error_log}")
    assert not invalid


def test_the_codec_decodes_every_translation_without_problems() -> None:
    codec = pytest.importorskip("xds_server.ebxml.codec")
    problems = {}
    for path in RIM21_FILES:
        sub = codec.decode_submission(_translated(path, assign_uuids=True))
        if sub.problems:
            problems[path.relative_to(path.parents[1]).as_posix()] = [p.message for p in sub.problems]
    # the only problem comes from the source file itself (languageCode written twice)
    assert list(problems) == [DUPLICATED_SLOT_SOURCE]
    assert all("more than once" in m for m in problems[DUPLICATED_SLOT_SOURCE])


class TestRules:
    SAMPLE = b"""<rs:SubmitObjectsRequest xmlns:rs="urn:oasis:names:tc:ebxml-regrep:registry:xsd:2.1">
      <rim:LeafRegistryObjectList xmlns:rim="urn:oasis:names:tc:ebxml-regrep:rim:xsd:2.1">
        <rim:ObjectRef id="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"/>
        <rim:ExtrinsicObject id="Doc" mimeType="text/plain" majorVersion="1" status="Approved">
          <rim:Name><rim:LocalizedString value="t" lang="en"/></rim:Name>
          <rim:Slot name="creationTime"><rim:ValueList><rim:Value>2004</rim:Value></rim:ValueList></rim:Slot>
          <rim:ExternalIdentifier value="x"
            identificationScheme="urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"/>
          <rim:Classification classifiedObject="Doc" nodeRepresentation="c"
                              classificationScheme="urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"/>
        </rim:ExtrinsicObject>
        <rim:RegistryPackage id="SS"/>
        <rim:Association sourceObject="SS" targetObject="Doc" associationType="HasMember"/>
        <rim:Association sourceObject="Doc2" targetObject="Doc" associationType="RPLC"/>
      </rim:LeafRegistryObjectList>
    </rs:SubmitObjectsRequest>"""

    def _out(self) -> etree._Element:
        return translate_to_v3(parse_xml(self.SAMPLE))

    def test_root_and_list(self) -> None:
        out = self._out()
        assert out.tag == f"{{{LCM3}}}SubmitObjectsRequest"
        assert [c.tag for c in out] == [f"{{{RIM3}}}RegistryObjectList"]

    def test_object_refs_dropped(self) -> None:
        assert not descendants(self._out(), "ObjectRef")

    def test_children_reordered_slot_name_classification_identifier(self) -> None:
        eo = descendants(self._out(), "ExtrinsicObject")[0]
        assert [local(c) for c in eo] == ["Slot", "Name", "Classification", "ExternalIdentifier"]

    def test_attribute_values(self) -> None:
        out = self._out()
        eo = descendants(out, "ExtrinsicObject")[0]
        assert eo.get("status") == "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
        assert eo.get("majorVersion") is None
        lang = descendants(eo, "LocalizedString")[0].get("{http://www.w3.org/XML/1998/namespace}lang")
        assert lang == "en"
        types = [a.get("associationType") for a in descendants(out, "Association")]
        assert types == [
            "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember",
            "urn:ihe:iti:2007:AssociationType:RPLC",
        ]

    def test_object_types_owner_and_ids(self) -> None:
        out = self._out()
        ei = descendants(out, "ExternalIdentifier")[0]
        assert ei.get("registryObject") == "Doc"
        assert ei.get("objectType", "").endswith(":ExternalIdentifier")
        pkg = children(out[0], "RegistryPackage")[0]
        assert pkg.get("objectType", "").endswith(":RegistryPackage")
        generated = [
            e.get("id")
            for e in out.iter()
            if local(e) in ("Association", "Classification", "ExternalIdentifier")
        ]
        assert all(generated) and len(set(generated)) == len(generated)

    def test_short_values(self) -> None:
        assert association_type_v3("XFRM_RPLC") == "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
        assert association_type_v3("urn:x:y") == "urn:x:y"
        assert status_v3("Deprecated") == "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"

    def test_a_v3_document_is_left_alone(self) -> None:
        v3 = parse_xml(b'<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"/>')
        assert translate_to_v3(v3) is v3


@cache
def _any_request_schema() -> etree.XMLSchema:
    # XDS.b_DocumentRepository.xsd imports rs/rim/lcm/query: every request body the runner sends validates
    return etree.XMLSchema(etree.parse(str(DATA / "ebrs30" / "XDS.b_DocumentRepository.xsd")))


def test_every_request_file_of_every_plan_renders_schema_valid(testkit: Testkit) -> None:
    """All 590 request files (2.1 and 3.0, NIST and local), symbols bound, engine rewrites applied."""
    ids = Ids()
    invalid, rendered = [], 0
    for test in testkit.tests.values():
        for step in test.steps:
            for f in step.metadata_files:
                text = f.read_text(encoding="utf-8")
                bind = {sym: f"urn:uuid:{ids.uuid()[9:]}" for sym in unresolved_symbols(text)}
                root = translate_to_v3(parse_xml(substitute(text, bind, escape=True).encode()))
                if step.element in ("RegisterTransaction", "ProvideAndRegisterTransaction", "MuTransaction"):
                    prepare_submission(
                        root, patient_id="P^^^&1.2&ISO", no_assign_uids=step.no_assign_uids,
                        assign_uuids="AssignUuids" in step.flags, new_uid=ids.oid, new_uuid=ids.uuid,
                    )  # fmt: skip
                rendered += 1
                if not _any_request_schema().validate(etree.ElementTree(parse_xml(etree.tostring(root)))):
                    invalid.append(f"{step.label}: {_any_request_schema().error_log}")
    assert rendered >= 590 and not invalid
