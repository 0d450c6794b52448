"""decode_submission: what lands in each model field, and every structural DecodeProblem."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from xds_server.core.metadata import Code, DecodeProblem, LocalizedText, Slot, Submission
from xds_server.core.vocabulary import ClassificationNode, ClassificationScheme, IdentificationScheme
from xds_server.ebxml import decode_submission, parse_xml

from .builders import (
    association,
    classification,
    code,
    document,
    external_identifier,
    extrinsic,
    marker,
    name,
    object_list,
    package,
    request,
    slot,
    submission_set,
    valid,
)
from .corpus import rim3_submissions

CS = ClassificationScheme
IS = IdentificationScheme


def problems(submission: Submission) -> list[tuple[str, str]]:
    return [(p.location, p.message) for p in submission.problems]


def only_problem(submission: Submission) -> DecodeProblem:
    assert len(submission.problems) == 1, submission.problems
    return submission.problems[0]


class TestValidSubmission:
    def test_no_problems_and_every_object(self) -> None:
        submission = decode_submission(valid())
        assert submission.problems == ()
        assert [o.entry_uuid for o in submission.objects()] == ["SubmissionSet01", "Document01", "as1"]

    def test_provide_and_register_request_is_accepted(self) -> None:
        inner = etree.tostring(valid()).decode()
        data = f'<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="urn:ihe:iti:xds-b:2007">{inner}'
        data += (
            '<xdsb:Document id="Document01">aGk=</xdsb:Document></xdsb:ProvideAndRegisterDocumentSetRequest>'
        )
        submission = decode_submission(parse_xml(data.encode()))
        assert submission == decode_submission(valid()) and submission.problems == ()

    def test_bare_registry_object_list_is_accepted(self) -> None:
        element = parse_xml(object_list(submission_set(), document(), association()).encode())
        assert decode_submission(element) == decode_submission(valid())


class TestDocumentEntryFields:
    def test_typed_slots_codes_and_identifiers(self) -> None:
        entry = decode_submission(valid()).documents[0]
        assert entry.mime_type == "text/plain"
        assert entry.creation_time == "20240101"
        assert entry.language_code == "fr-FR"
        assert entry.source_patient_id == "P1^^^&1.2&ISO"
        assert entry.title == LocalizedText("Title")
        assert entry.class_code == Code("C1", "1.2.3", "Display")
        assert entry.confidentiality_codes == (Code("N", "1.2.3", "Display"),)
        assert entry.patient_id == "P1^^^&1.2&ISO"
        assert entry.unique_id == "1.2.3.4"

    def test_unknown_slots_kept_in_document_order(self) -> None:
        extra = slot("urn:b", "2") + slot("creationTime", "2024") + slot("urn:a", "1", "x")
        entry = decode_submission(request(extrinsic(extra))).documents[0]
        assert entry.extra_slots == (Slot("urn:b", ("2",)), Slot("urn:a", ("1", "x")))

    def test_registry_attributes(self) -> None:
        element = request(
            extrinsic(
                '<rim:VersionInfo versionName="3"/>',
                lid="urn:uuid:lid",
                status="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved",
                home="urn:oid:1.2.3",
            )
        )
        entry = decode_submission(element).documents[0]
        assert (entry.logical_id, entry.version, entry.home) == ("urn:uuid:lid", "3", "urn:oid:1.2.3")
        assert entry.status == "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"

    def test_multi_valued_slots_and_several_codes(self) -> None:
        body = (
            slot("sourcePatientInfo", "PID-3|a", "PID-5|b")
            + slot("urn:ihe:iti:xds:2013:referenceIdList", "r1", "r2")
            + code("Document01", CS.DE_EVENT_CODE, "E1")
            + code("Document01", CS.DE_EVENT_CODE, "E2")
        )
        entry = decode_submission(request(extrinsic(body))).documents[0]
        assert entry.source_patient_info == ("PID-3|a", "PID-5|b")
        assert entry.reference_ids == ("r1", "r2")
        assert [c.code for c in entry.event_codes] == ["E1", "E2"]

    def test_localized_string_lang_and_charset(self) -> None:
        string = '<rim:LocalizedString xml:lang="fr" charset="UTF-8" value="Été"/>'
        body = f"<rim:Description>{string}</rim:Description>"
        entry = decode_submission(request(extrinsic(body))).documents[0]
        assert entry.comments == LocalizedText("Été", "fr", "UTF-8")

    def test_empty_name_is_no_title(self) -> None:
        entry = decode_submission(request(extrinsic("<rim:Name/>"))).documents[0]
        assert entry.title is None

    def test_limited_metadata_node_goes_to_other_classifications(self) -> None:
        body = classification(classifiedObject="Document01", classificationNode=CS.DE_LIMITED_METADATA)
        entry = decode_submission(request(extrinsic(body))).documents[0]
        assert entry.other_classifications == ((CS.DE_LIMITED_METADATA.value, Code("", "", "")),)

    def test_unknown_scheme_goes_to_other_classifications(self) -> None:
        body = code("Document01", "urn:uuid:0000-unknown", "X")
        entry = decode_submission(request(extrinsic(body))).documents[0]
        assert entry.other_classifications == (("urn:uuid:0000-unknown", Code("X", "1.2.3", "Display")),)

    def test_misplaced_scheme_names_the_scheme_met_and_those_expected(self) -> None:
        # a SubmissionSet contentTypeCode put on a DocumentEntry
        body = code("Document01", CS.SS_CONTENT_TYPE_CODE, "X")
        problem = only_problem(decode_submission(request(extrinsic(body))))
        assert problem.location.startswith("Document01")
        assert f"classificationScheme {CS.SS_CONTENT_TYPE_CODE.value} (SubmissionSet.contentTypeCode)" in (
            problem.message
        )
        assert "does not belong on a DocumentEntry" in problem.message
        assert f"{CS.DE_CLASS_CODE.value} (DocumentEntry.classCode)" in problem.message
        assert f"{CS.DE_TYPE_CODE.value} (DocumentEntry.typeCode)" in problem.message

    def test_document_entry_scheme_on_a_submission_set(self) -> None:
        ss = submission_set(extra=code("SubmissionSet01", CS.DE_CLASS_CODE))
        problem = only_problem(decode_submission(request(ss)))
        assert "(DocumentEntry.classCode) does not belong on a SubmissionSet" in problem.message
        assert f"{CS.SS_CONTENT_TYPE_CODE.value} (SubmissionSet.contentTypeCode)" in problem.message

    def test_top_level_classification_and_identifier_attach_to_their_object(self) -> None:
        top = code("Document01", CS.DE_TYPE_CODE, "T9") + external_identifier(
            "Document01", IS.DE_UNIQUE_ID, "9.9"
        )
        submission = decode_submission(request(extrinsic(), top))
        assert submission.problems == ()
        assert submission.documents[0].type_code == Code("T9", "1.2.3", "Display")
        assert submission.documents[0].unique_id == "9.9"


class TestAuthors:
    def test_author_parts(self) -> None:
        body = classification(
            slot("authorPerson", "^Doe^John")
            + slot("authorInstitution", "Hop^^^^^^^^^1.2", "Clinic")
            + slot("authorRole", "R")
            + slot("authorSpecialty", "S")
            + slot("authorTelecommunication", "^^Internet^a@b.c")
            + slot("urn:dmp:extra", "x"),
            classifiedObject="Document01",
            classificationScheme=CS.DE_AUTHOR,
            nodeRepresentation="",
        )
        (author,) = decode_submission(request(extrinsic(body))).documents[0].authors
        assert author.person == "^Doe^John"
        assert author.institutions == ("Hop^^^^^^^^^1.2", "Clinic")
        assert (author.roles, author.specialties) == (("R",), ("S",))
        assert author.telecoms == ("^^Internet^a@b.c",)
        assert author.extra_slots == (Slot("urn:dmp:extra", ("x",)),)

    def test_two_author_persons_is_a_problem(self) -> None:
        body = classification(
            slot("authorPerson", "a", "b"),
            classifiedObject="Document01",
            classificationScheme=CS.DE_AUTHOR,
            nodeRepresentation="",
            id="au1",
        )
        submission = decode_submission(request(extrinsic(body)))
        problem = only_problem(submission)
        assert problem.location == "Document01: Classification au1 / Slot authorPerson"
        assert "2 values" in problem.message
        assert submission.documents[0].authors[0].person == "a"

    def test_author_with_a_code_is_a_problem(self) -> None:
        body = classification(
            slot("authorPerson", "a"),
            classifiedObject="Document01",
            classificationScheme=CS.DE_AUTHOR,
            nodeRepresentation="X",
            id="au1",
        )
        problem = only_problem(decode_submission(request(extrinsic(body))))
        assert problem.location == "Document01: Classification au1"
        assert "empty nodeRepresentation" in problem.message


class TestSingleValuedSlot:
    def test_two_values_is_a_problem_and_the_first_is_kept(self) -> None:
        submission = decode_submission(request(extrinsic(slot("creationTime", "2024", "2025"))))
        problem = only_problem(submission)
        assert problem.location == "Document01: Slot creationTime"
        assert "2024, 2025" in problem.message
        assert submission.documents[0].creation_time == "2024"

    def test_submission_set_slot(self) -> None:
        element = request(package(marker("SubmissionSet01") + slot("submissionTime", "1", "2")))
        problem = only_problem(decode_submission(element))
        assert problem.location == "SubmissionSet01: Slot submissionTime"


class TestRepeatedOrNamelessSlot:
    def test_repeated_slot_name(self) -> None:
        submission = decode_submission(
            request(extrinsic(slot("languageCode", "fr") + slot("languageCode", "en")))
        )
        problem = only_problem(submission)
        assert problem.location == "Document01: Slot languageCode"
        assert "more than once" in problem.message
        assert submission.documents[0].language_code == "fr"

    def test_slot_without_name(self) -> None:
        body = "<rim:Slot><rim:ValueList><rim:Value>x</rim:Value></rim:ValueList></rim:Slot>"
        assert only_problem(decode_submission(request(extrinsic(body)))).location == "Document01: Slot"


class TestCodedClassification:
    def _coded(self, body: str, **attributes: str | None) -> etree._Element:
        attributes.setdefault("nodeRepresentation", "C1")
        return request(
            extrinsic(
                classification(
                    body,
                    classifiedObject="Document01",
                    classificationScheme=CS.DE_CLASS_CODE,
                    id="cl1",
                    **attributes,
                )
            )
        )

    def test_without_coding_scheme(self) -> None:
        submission = decode_submission(self._coded(name("Display")))
        problem = only_problem(submission)
        assert problem == DecodeProblem("Document01: Classification cl1", problem.message)
        assert "codingScheme" in problem.message
        assert submission.documents[0].class_code == Code("C1", "", "Display")

    def test_with_two_coding_schemes(self) -> None:
        submission = decode_submission(self._coded(slot("codingScheme", "1.2", "1.3")))
        problem = only_problem(submission)
        assert problem.location == "Document01: Classification cl1 / Slot codingScheme"
        assert "exactly one value" in problem.message

    def test_with_an_empty_coding_scheme_slot(self) -> None:
        problem = only_problem(decode_submission(self._coded(slot("codingScheme"))))
        assert "exactly one value, got 0" in problem.message

    def test_without_node_representation(self) -> None:
        element = self._coded(slot("codingScheme", "1.2"), nodeRepresentation=None)
        assert "nodeRepresentation" in only_problem(decode_submission(element)).message

    def test_unexpected_slot(self) -> None:
        element = self._coded(slot("codingScheme", "1.2") + slot("other", "x"))
        assert (
            only_problem(decode_submission(element)).location == "Document01: Classification cl1 / Slot other"
        )

    def test_single_valued_code_given_twice(self) -> None:
        body = code("Document01", CS.DE_CLASS_CODE, "A") + code("Document01", CS.DE_CLASS_CODE, "B")
        submission = decode_submission(request(extrinsic(body)))
        assert "class_code given more than once" in only_problem(submission).message
        assert submission.documents[0].class_code == Code("A", "1.2.3", "Display")

    def test_neither_scheme_nor_node(self) -> None:
        body = classification(classifiedObject="Document01", nodeRepresentation="x", id="c9")
        problem = only_problem(decode_submission(request(extrinsic(body))))
        assert problem.location == "Document01: Classification c9"


class TestClassificationOwner:
    def test_nested_classification_naming_another_object(self) -> None:
        body = code("Document02", CS.DE_CLASS_CODE)
        submission = decode_submission(request(extrinsic(body)))
        problem = only_problem(submission)
        assert problem.location.startswith("Document01: Classification")
        assert "'Document02' names another object" in problem.message
        assert submission.documents[0].class_code is None

    def test_nested_classification_without_classified_object(self) -> None:
        body = classification(
            slot("codingScheme", "1.2"),
            classificationScheme=CS.DE_CLASS_CODE,
            nodeRepresentation="C",
            id="c1",
        )
        submission = decode_submission(request(extrinsic(body)))
        assert only_problem(submission) == DecodeProblem(
            "Document01: Classification c1", "classifiedObject missing"
        )
        assert submission.documents[0].class_code is not None

    def test_top_level_classification_of_an_unknown_object(self) -> None:
        submission = decode_submission(request(extrinsic(), code("Nowhere", CS.DE_CLASS_CODE)))
        problem = only_problem(submission)
        assert problem.location == "Nowhere: Classification"
        assert "not in this submission" in problem.message

    def test_top_level_classification_without_classified_object(self) -> None:
        top = classification(classificationNode=ClassificationNode.SUBMISSION_SET)
        problem = only_problem(decode_submission(request(top)))
        assert problem.location == "Classification[1]: classifiedObject"


class TestExternalIdentifier:
    def test_without_value(self) -> None:
        body = external_identifier("Document01", IS.DE_UNIQUE_ID, None, "ei1")
        submission = decode_submission(request(extrinsic(body)))
        problem = only_problem(submission)
        assert problem.location == "Document01: ExternalIdentifier ei1"
        assert "without a value" in problem.message
        assert submission.documents[0].unique_id is None

    def test_naming_another_object(self) -> None:
        body = external_identifier("Document02", IS.DE_UNIQUE_ID, "1.2", "ei1")
        submission = decode_submission(request(extrinsic(body)))
        assert "'Document02' names another object" in only_problem(submission).message
        assert submission.documents[0].unique_id is None

    def test_without_registry_object(self) -> None:
        body = external_identifier(None, IS.DE_UNIQUE_ID, "1.2", "ei1")
        submission = decode_submission(request(extrinsic(body)))
        assert only_problem(submission).message == "registryObject missing"
        assert submission.documents[0].unique_id == "1.2"

    def test_scheme_of_another_kind(self) -> None:
        body = external_identifier("Document01", IS.SS_SOURCE_ID, "1.2", "ei1")
        assert (
            "not defined for this object" in only_problem(decode_submission(request(extrinsic(body)))).message
        )

    def test_given_twice(self) -> None:
        body = external_identifier("Document01", IS.DE_PATIENT_ID, "A", "e1") + external_identifier(
            "Document01", IS.DE_PATIENT_ID, "B", "e2"
        )
        submission = decode_submission(request(extrinsic(body)))
        problem = only_problem(submission)
        assert problem.location == "Document01: ExternalIdentifier e2"
        assert submission.documents[0].patient_id == "A"

    def test_top_level_identifier_of_an_unknown_object(self) -> None:
        top = external_identifier("Nowhere", IS.DE_UNIQUE_ID, "1.2")
        assert only_problem(decode_submission(request(top))).location == "Nowhere: ExternalIdentifier"


class TestObjectIds:
    def test_object_without_id(self) -> None:
        submission = decode_submission(request(extrinsic(id=None)))
        assert only_problem(submission) == DecodeProblem(
            "ExtrinsicObject[1]: id", "ExtrinsicObject without an id"
        )
        assert submission.documents[0].entry_uuid == ""

    def test_two_objects_with_one_id(self) -> None:
        submission = decode_submission(request(extrinsic(), extrinsic()))
        assert only_problem(submission).location == "Document01: id"
        assert len(submission.documents) == 2


class TestRegistryPackageKind:
    def test_top_level_marker(self) -> None:
        submission = decode_submission(
            request(submission_set(nested_marker=False), marker("SubmissionSet01"), document(), association())
        )
        assert submission.problems == ()
        assert submission == decode_submission(valid())

    def test_folder(self) -> None:
        body = (
            marker("F1", ClassificationNode.FOLDER)
            + slot("lastUpdateTime", "20240101")
            + code("F1", CS.FOLDER_CODE_LIST, "A")
            + code("F1", CS.FOLDER_CODE_LIST, "B")
            + external_identifier("F1", IS.FOLDER_UNIQUE_ID, "1.9")
        )
        submission = decode_submission(request(package(body, id="F1")))
        assert submission.problems == ()
        (folder,) = submission.folders
        assert [c.code for c in folder.codes] == ["A", "B"]
        assert (folder.last_update_time, folder.unique_id) == ("20240101", "1.9")

    def test_neither_submission_set_nor_folder(self) -> None:
        submission = decode_submission(request(package(slot("submissionTime", "2024"), id="P1")))
        problem = only_problem(submission)
        assert problem.location == "P1: Classification"
        assert "neither a SubmissionSet nor a Folder" in problem.message
        assert submission.objects() == ()

    def test_both_submission_set_and_folder(self) -> None:
        body = marker("P1") + marker("P1", ClassificationNode.FOLDER, "m2")
        submission = decode_submission(request(package(body, id="P1")))
        assert "both as SubmissionSet and Folder" in only_problem(submission).message
        assert submission.objects() == ()

    def test_marker_naming_another_package_does_not_count(self) -> None:
        submission = decode_submission(request(package(marker("Other"), id="P1")))
        messages = [m for _, m in problems(submission)]
        assert any("neither a SubmissionSet nor a Folder" in m for m in messages)


class TestAssociations:
    def test_slots_and_documentation(self) -> None:
        body = slot("SubmissionSetStatus", "Original") + slot("PreviousVersion", "1")
        body += code("as1", CS.ASSOCIATION_DOCUMENTATION, "reason")
        submission = decode_submission(request(association(body=body)))
        assert submission.problems == ()
        (link,) = submission.associations
        assert link.slots == (Slot("SubmissionSetStatus", ("Original",)), Slot("PreviousVersion", ("1",)))
        assert link.documentation == Code("reason", "1.2.3", "Display")
        assert (link.source, link.target) == ("SubmissionSet01", "Document01")

    def test_other_classification_is_a_problem(self) -> None:
        body = code("as1", CS.DE_CLASS_CODE)
        problem = only_problem(decode_submission(request(association(body=body))))
        assert "not defined for an Association" in problem.message

    def test_external_identifier_is_a_problem(self) -> None:
        body = external_identifier("as1", IS.DE_UNIQUE_ID, "1.2", "e1")
        problem = only_problem(decode_submission(request(association(body=body))))
        assert problem.location == "as1: ExternalIdentifier e1"


class TestUnexpectedStructure:
    def test_unknown_top_level_element(self) -> None:
        problem = only_problem(decode_submission(valid("<rim:Federation id='f'/>")))
        assert problem.location == "RegistryObjectList: Federation[4]"

    def test_object_ref_is_silently_ignored(self) -> None:
        assert decode_submission(valid("<rim:ObjectRef id='urn:uuid:x'/>")).problems == ()

    def test_unknown_child_of_an_object(self) -> None:
        element = request(extrinsic("<rim:Unknown/>"))
        assert only_problem(decode_submission(element)).location == "Document01: Unknown"

    def test_two_names(self) -> None:
        problem = only_problem(decode_submission(request(extrinsic(name("a") + name("b")))))
        assert problem == DecodeProblem("Document01: Name", "more than one Name element")

    def test_several_localized_strings(self) -> None:
        submission = decode_submission(request(extrinsic(name("a", "b"))))
        assert "2 LocalizedStrings" in only_problem(submission).message
        assert submission.documents[0].title == LocalizedText("a")

    def test_wrong_root(self) -> None:
        submission = decode_submission(parse_xml(b"<a/>"))
        assert submission.objects() == ()
        assert "expected lcm:SubmitObjectsRequest" in only_problem(submission).message

    def test_request_without_object_list(self) -> None:
        element = parse_xml(
            b'<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"/>'
        )
        assert only_problem(decode_submission(element)).message == "rim:RegistryObjectList missing"

    def test_comments_are_not_elements(self) -> None:
        assert decode_submission(valid("<!-- a comment -->")).problems == ()


class TestNeverRaises:
    """Decoding damaged NIST submissions reports problems; it never raises."""

    @settings(max_examples=50, deadline=None)
    @given(st.data())
    def test_damaged_submission(self, data: st.DataObject) -> None:
        files = rim3_submissions()
        root = parse_xml(files[data.draw(st.integers(0, len(files) - 1))].read_bytes())
        elements = [e for e in root.iter() if isinstance(e.tag, str)]
        for _ in range(data.draw(st.integers(1, 4))):
            victim = elements[data.draw(st.integers(0, len(elements) - 1))]
            if victim.attrib and data.draw(st.booleans()):
                del victim.attrib[data.draw(st.sampled_from(sorted(victim.attrib)))]
            elif victim.getparent() is not None:
                victim.getparent().remove(victim)  # type: ignore[union-attr]  # checked just above
        submission = decode_submission(root)
        assert all(p.location and p.message for p in submission.problems)
