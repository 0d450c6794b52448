"""encode_object / encode_object_xml / encode_submission: canonical ebRIM 3.0 output."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from tests.ebxml.strategies import any_object
from xds_server.core.metadata import (
    AnyObject,
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    LocalizedText,
    Slot,
    Submission,
    SubmissionSet,
)
from xds_server.core.vocabulary import (
    ClassificationNode,
    ClassificationScheme,
    IdentificationScheme,
    ObjectType,
)
from xds_server.ebxml import encode_object, encode_object_xml, encode_submission, parse_xml
from xds_server.ebxml.namespaces import RIM, rim

CODE = Code("C", "1.2.3", "Display")
ENTRY = DocumentEntry(
    entry_uuid="urn:uuid:de",
    logical_id="urn:uuid:lid",
    version="2",
    status="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",
    home="urn:oid:1.2",
    title=LocalizedText("Title", "fr", "UTF-8"),
    comments=LocalizedText("Comment"),
    extra_slots=(Slot("urn:x", ("1",)),),
    mime_type="text/plain",
    patient_id="P^^^&1.2&ISO",
    unique_id="1.2.3",
    creation_time="2024",
    source_patient_info=("PID-3|x",),
    authors=(Author(person="^Doe", institutions=("H",), extra_slots=(Slot("urn:a", ("v",)),)),),
    class_code=CODE,
    confidentiality_codes=(CODE, dataclasses.replace(CODE, code="N")),
    format_code=CODE,
    other_classifications=((ClassificationScheme.DE_LIMITED_METADATA.value, Code("", "", "")),),
)
SUBMISSION_SET = SubmissionSet(
    entry_uuid="urn:uuid:ss",
    submission_time="2024",
    authors=(Author(person="^Doe"),),
    content_type_code=CODE,
    patient_id="P^^^&1.2&ISO",
    source_id="1.2",
    unique_id="1.2.4",
)
FOLDER = Folder(entry_uuid="urn:uuid:fd", title=LocalizedText("F"), codes=(CODE,), unique_id="1.2.5")
ASSOCIATION = Association(
    entry_uuid="urn:uuid:as",
    source="urn:uuid:ss",
    target="urn:uuid:de",
    slots=(Slot("SubmissionSetStatus", ("Original",)),),
    documentation=CODE,
)
ALL: tuple[AnyObject, ...] = (ENTRY, SUBMISSION_SET, FOLDER, ASSOCIATION)
IDS = ["DocumentEntry", "SubmissionSet", "Folder", "Association"]

#: ebRIM 3.0 RegistryObjectType child order
ORDER = ["Slot", "Name", "Description", "VersionInfo", "Classification", "ExternalIdentifier"]


def children(element: etree._Element) -> list[str]:
    return [etree.QName(child).localname for child in element]


class TestCanonicalChildOrder:
    @pytest.mark.parametrize("obj", ALL, ids=IDS)
    def test_children_follow_the_schema_order(self, obj: AnyObject) -> None:
        names = children(encode_object(obj))
        assert names == sorted(names, key=ORDER.index)

    def test_document_entry_full_sequence(self) -> None:
        names = children(encode_object(ENTRY))
        assert names[:4] == ["Slot", "Slot", "Slot", "Name"]  # creationTime, sourcePatientInfo, then extra
        assert names[4:6] == ["Description", "VersionInfo"]
        assert names.count("Classification") == 6
        assert names[-2:] == ["ExternalIdentifier", "ExternalIdentifier"]

    def test_typed_slots_before_extra_slots(self) -> None:
        slots = [s.get("name") for s in encode_object(ENTRY).iterchildren(rim("Slot"))]
        assert slots == ["creationTime", "sourcePatientInfo", "urn:x"]


class TestObjectTypes:
    def test_top_level_object_types(self) -> None:
        assert encode_object(ENTRY).get("objectType") == ObjectType.STABLE_DOCUMENT
        assert encode_object(SUBMISSION_SET).get("objectType") == ObjectType.REGISTRY_PACKAGE
        assert encode_object(FOLDER).get("objectType") == ObjectType.REGISTRY_PACKAGE
        assert encode_object(ASSOCIATION).get("objectType") == ObjectType.ASSOCIATION

    @pytest.mark.parametrize("obj", ALL, ids=IDS)
    def test_every_classification_and_identifier(self, obj: AnyObject) -> None:
        element = encode_object(obj)
        for child in element.iter(rim("Classification")):
            assert child.get("objectType") == ObjectType.CLASSIFICATION
        for child in element.iter(rim("ExternalIdentifier")):
            assert child.get("objectType") == ObjectType.EXTERNAL_IDENTIFIER

    def test_on_demand_entry_keeps_its_type(self) -> None:
        entry = dataclasses.replace(ENTRY, object_type=ObjectType.ON_DEMAND_DOCUMENT.value)
        assert encode_object(entry).get("objectType") == ObjectType.ON_DEMAND_DOCUMENT


class TestGeneratedIds:
    @pytest.mark.parametrize("obj", ALL, ids=IDS)
    def test_unique_uuid_ids_owned_by_the_object(self, obj: AnyObject) -> None:
        element = encode_object(obj)
        parts = [*element.iter(rim("Classification")), *element.iter(rim("ExternalIdentifier"))]
        ids = [p.get("id") or "" for p in parts]
        assert parts and all(i.startswith("urn:uuid:") for i in ids)
        assert len(set(ids)) == len(ids)
        for part in parts:
            assert (part.get("classifiedObject") or part.get("registryObject")) == obj.entry_uuid

    def test_deterministic(self) -> None:
        assert encode_object_xml(ENTRY) == encode_object_xml(dataclasses.replace(ENTRY))

    def test_depend_on_the_owner(self) -> None:
        first = encode_object(ENTRY).find(rim("Classification"))
        other = encode_object(dataclasses.replace(ENTRY, entry_uuid="urn:uuid:other")).find(
            rim("Classification")
        )
        assert first is not None and other is not None
        assert first.get("id") != other.get("id")


class TestPackages:
    @pytest.mark.parametrize(
        ("obj", "node"),
        [(SUBMISSION_SET, ClassificationNode.SUBMISSION_SET), (FOLDER, ClassificationNode.FOLDER)],
        ids=["SubmissionSet", "Folder"],
    )
    def test_marker_classification_is_nested(self, obj: AnyObject, node: str) -> None:
        markers = [
            c for c in encode_object(obj).iterchildren(rim("Classification")) if c.get("classificationNode")
        ]
        assert len(markers) == 1
        assert markers[0].get("classificationNode") == node
        assert markers[0].get("classifiedObject") == obj.entry_uuid

    def test_identifier_names_follow_the_convention(self) -> None:
        names = {
            x.get("identificationScheme"): x.find(f"{rim('Name')}/{rim('LocalizedString')}").get("value")  # type: ignore[union-attr]
            for x in encode_object(SUBMISSION_SET).iterchildren(rim("ExternalIdentifier"))
        }
        assert names == {
            IdentificationScheme.SS_UNIQUE_ID: "XDSSubmissionSet.uniqueId",
            IdentificationScheme.SS_SOURCE_ID: "XDSSubmissionSet.sourceId",
            IdentificationScheme.SS_PATIENT_ID: "XDSSubmissionSet.patientId",
        }


class TestClassifications:
    def _by_scheme(self, scheme: str) -> etree._Element:
        for child in encode_object(ENTRY).iterchildren(rim("Classification")):
            if child.get("classificationScheme") == scheme:
                return child
        raise AssertionError(scheme)

    def test_coded(self) -> None:
        element = self._by_scheme(ClassificationScheme.DE_CLASS_CODE)
        assert element.get("nodeRepresentation") == "C"
        assert element.findtext(f"{rim('Slot')}/{rim('ValueList')}/{rim('Value')}") == "1.2.3"
        assert element.find(f"{rim('Name')}/{rim('LocalizedString')}").get("value") == "Display"  # type: ignore[union-attr]

    def test_author(self) -> None:
        element = self._by_scheme(ClassificationScheme.DE_AUTHOR)
        assert element.get("nodeRepresentation") == ""
        assert [s.get("name") for s in element.iterchildren(rim("Slot"))] == [
            "authorPerson",
            "authorInstitution",
            "urn:a",
        ]

    def test_node_classification(self) -> None:
        nodes = [
            c for c in encode_object(ENTRY).iterchildren(rim("Classification")) if c.get("classificationNode")
        ]
        assert [n.get("classificationNode") for n in nodes] == [ClassificationScheme.DE_LIMITED_METADATA]
        assert nodes[0].get("classificationScheme") is None

    def test_association_documentation(self) -> None:
        (documentation,) = encode_object(ASSOCIATION).iterchildren(rim("Classification"))
        assert documentation.get("classificationScheme") == ClassificationScheme.ASSOCIATION_DOCUMENTATION


class TestRegistryAttributes:
    def test_written_when_present(self) -> None:
        element = encode_object(ENTRY)
        assert (element.get("lid"), element.get("status"), element.get("home")) == (
            "urn:uuid:lid",
            "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",
            "urn:oid:1.2",
        )
        assert element.find(rim("VersionInfo")).get("versionName") == "2"  # type: ignore[union-attr]
        assert element.get("mimeType") == "text/plain"

    def test_absent_when_the_model_has_none(self) -> None:
        element = encode_object(FOLDER)
        assert {"lid", "status", "home"}.isdisjoint(element.attrib)
        assert element.find(rim("VersionInfo")) is None

    def test_association_attributes(self) -> None:
        element = encode_object(ASSOCIATION)
        assert element.get("associationType") == "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
        assert (element.get("sourceObject"), element.get("targetObject")) == ("urn:uuid:ss", "urn:uuid:de")

    def test_localized_string_attributes(self) -> None:
        string = encode_object(ENTRY).find(f"{rim('Name')}/{rim('LocalizedString')}")
        assert string is not None
        assert string.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
        assert (string.get("charset"), string.get("value")) == ("UTF-8", "Title")


class TestSerialisation:
    def test_storage_string(self) -> None:
        text = encode_object_xml(ENTRY)
        assert isinstance(text, str)
        assert text.startswith("<rim:ExtrinsicObject ")
        assert text.count("xmlns") == 1 and f'xmlns:rim="{RIM}"' in text
        assert parse_xml(text.encode()).get("id") == "urn:uuid:de"

    def test_submission_request(self) -> None:
        request = encode_submission(Submission((SUBMISSION_SET,), (ENTRY,), (FOLDER,), (ASSOCIATION,)))
        assert request.tag == "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest"
        (object_list,) = request
        assert [child.get("id") for child in object_list] == [
            "urn:uuid:ss",
            "urn:uuid:de",
            "urn:uuid:fd",
            "urn:uuid:as",
        ]
        assert etree.tostring(request).count(b"xmlns:") == 2  # lcm and rim, declared once on the root


class TestTextSerialisation:
    """``encode_object_xml`` writes text directly (the write hot path); it must equal lxml's serialisation of
    ``encode_object`` byte for byte, whatever the object."""

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(any_object)
    def test_equals_the_lxml_serialisation(self, obj: AnyObject) -> None:
        assert encode_object_xml(obj) == etree.tostring(encode_object(obj), encoding="unicode")

    @pytest.mark.parametrize(
        "value",
        ["a & b < c > d", "quote \" and apostrophe '", "tab\there", "line\nbreak", "cr\rhere", "é€😀"],
    )
    def test_escaping_matches_lxml(self, value: str) -> None:
        obj = dataclasses.replace(
            ENTRY,
            title=LocalizedText(value, lang="fr"),
            extra_slots=(Slot("x", (value, "")),),
            comments=LocalizedText(value),
        )
        assert encode_object_xml(obj) == etree.tostring(encode_object(obj), encoding="unicode")
