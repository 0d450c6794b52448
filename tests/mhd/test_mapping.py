"""DocumentEntry / SubmissionSet / Folder -> DocumentReference / List: every row of mhd-fhir.md §3, checked
against the IHE and PDSm examples (tests/data/mhd) and validated by the fhir.resources R4B models."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.list import List as FhirList

from fhir_api.formats import Format, parse_resource, serialise
from fhir_api.mapping.document_reference import (
    ARCHIVED_SLOT,
    IS_ARCHIVED_EXTENSION,
    Relation,
    document_reference,
)
from fhir_api.mapping.hl7v2 import dtm_to_fhir, fhir_to_dtm
from fhir_api.mapping.lists import Member, folder_list, submission_set_list
from tests.core import builders
from xds_server.core.metadata import Author, Code, DocumentEntry, LocalizedText, Slot
from xds_server.core.vocabulary import AssociationType, Status

DATA = Path(__file__).parent.parent / "data" / "mhd"
BASE = "https://xds.example/fhir"
UUID = "urn:uuid:0c287d32-01e3-4d87-9953-9fcc9404eb21"
TARGET = "urn:uuid:7a0b6f32-01e3-4d87-9953-9fcc9404eb99"
IHE_UID = "1.2.840.113556.1.8000.2554.58783.21864.3474.19410.44358.58254.41281.46340"
RELATED = "1.2.840.113556.1.8000.2554.17917.46600.21181.17878.33419.62048.57128.2759"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return data


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource after a pass through the R4B model (raises when it is not valid FHIR)."""
    model = DocumentReference if resource["resourceType"] == "DocumentReference" else FhirList
    model.model_validate(resource)
    # and through the wire formats both ways
    again = parse_resource(serialise(resource, Format.XML), Format.XML)
    assert again["id"] == resource["id"]
    return resource


def ihe_comprehensive_entry() -> DocumentEntry:
    """The DocumentEntry that ex-DocumentReferenceComprehensive describes (times in UTC)."""
    return DocumentEntry(
        entry_uuid=UUID,
        logical_id=UUID,
        status=Status.APPROVED.value,
        title=LocalizedText("DocumentReference for Comprehensive fully filled metadata"),
        comments=LocalizedText(
            "Example of a Comprehensive DocumentReference resource. This is fully filled for all mandatory "
            "elements and all optional elements."
        ),
        mime_type="text/plain",
        patient_id="ex-patient^^^&1.3.6.1.4.1.21367.13.20.1000&ISO",
        unique_id=IHE_UID,
        creation_time="20210101045050",
        language_code="en",
        source_patient_id="123e4567^^^&1.2.3.4&ISO",
        service_start_time="20210101045050",
        service_stop_time="20210101045050",
        hash="8a38f2633006fd535149c44a3a73f312437b3478",
        size="190",
        repository_unique_id="1.2.3.4.5",
        reference_ids=(f"{RELATED}^^^&1.2.3&ISO",),
        authors=(Author(telecoms=("^^Internet^JohnMoehrke@gmail.com",)),),
        legal_authenticator="^Smith^Chris",
        class_code=Code("11369-6", "2.16.840.1.113883.6.1"),
        confidentiality_codes=(Code("N", "2.16.840.1.113883.5.25"),),
        event_codes=(Code("ACCTRECEIVABLE", "2.16.840.1.113883.5.4"),),
        format_code=Code("urn:ihe:iti:xds-sd:text:2008", "1.3.6.1.4.1.19376.1.2.3"),
        healthcare_facility_type_code=Code("82242000", "2.16.840.1.113883.6.96"),
        practice_setting_code=Code("408467006", "2.16.840.1.113883.6.96"),
        type_code=Code("55107-7", "2.16.840.1.113883.6.1"),
    )


class TestIheComprehensiveExample:
    @pytest.fixture
    def mapped(self) -> dict[str, Any]:
        resource = document_reference(
            ihe_comprehensive_entry(),
            base=BASE,
            status=Status.APPROVED.value,
            relations=[Relation(AssociationType.APPEND.value, TARGET)],
            registered="20210101045050",
        )
        return validated(resource)

    def test_identifiers(self, mapped: dict[str, Any]) -> None:
        example = load("ihe-DocumentReference-Comprehensive.json")
        assert mapped["id"] == UUID.removeprefix("urn:uuid:")
        assert mapped["masterIdentifier"] == example["masterIdentifier"]
        for slice_ in example["identifier"]:
            assert slice_ in mapped["identifier"]

    def test_codes_as_the_example(self, mapped: dict[str, Any]) -> None:
        example = load("ihe-DocumentReference-Comprehensive.json")
        for key in ("status", "type", "category", "securityLabel", "description"):
            assert mapped[key] == example[key], key
        for key in ("event", "facilityType", "practiceSetting"):
            assert mapped["context"][key] == example["context"][key], key
        assert mapped["content"][0]["format"] == example["content"][0]["format"]

    def test_attachment(self, mapped: dict[str, Any]) -> None:
        example = load("ihe-DocumentReference-Comprehensive.json")["content"][0]["attachment"]
        attachment = mapped["content"][0]["attachment"]
        for key in ("contentType", "language", "size", "hash", "title"):
            assert attachment[key] == example[key], key
        # same instant as the example's -05:00 time, in UTC as XDS keeps it
        assert attachment["creation"] == "2021-01-01T04:50:50Z"
        assert attachment["url"] == f"{BASE}/Binary/{UUID.removeprefix('urn:uuid:')}"

    def test_context_and_relations(self, mapped: dict[str, Any]) -> None:
        assert mapped["context"]["period"] == {"start": "2021-01-01T04:50:50Z", "end": "2021-01-01T04:50:50Z"}
        related = mapped["context"]["related"][0]["identifier"]
        assert (related["system"], related["value"]) == ("urn:oid:1.2.3", RELATED)
        assert mapped["relatesTo"] == [
            {
                "code": "appends",
                "target": {"reference": f"DocumentReference/{TARGET.removeprefix('urn:uuid:')}"},
            }
        ]
        assert mapped["date"] == "2021-01-01T04:50:50Z"

    def test_author_authenticator_and_source_patient_are_contained(self, mapped: dict[str, Any]) -> None:
        contained = {f"#{c['id']}": c for c in mapped["contained"]}
        author = contained[mapped["author"][0]["reference"]]
        assert author["resourceType"] == "Practitioner"
        assert author["telecom"] == [{"system": "email", "value": "JohnMoehrke@gmail.com"}]
        authenticator = contained[mapped["authenticator"]["reference"]]
        assert authenticator["name"] == [{"family": "Smith", "given": ["Chris"]}]
        source = contained[mapped["context"]["sourcePatientInfo"]["reference"]]
        assert source["identifier"] == [{"value": "123e4567", "system": "urn:oid:1.2.3.4"}]


class TestPdsmSearchsetExample:
    def test_first_document_reference(self) -> None:
        example = load("pdsm4dmp-searchset-documentreferences.json")["entry"][0]["resource"]
        entry = DocumentEntry(
            entry_uuid=UUID,
            mime_type="application/xml",
            patient_id="123456789012345^^^&1.2.250.1.213.1.4.8&ISO^NH",
            unique_id="1.2.250.1.213.1.4.8.99999.201",
            creation_time="20241120093000",
            language_code="fr-FR",
            source_patient_id="123456789012345^^^&1.2.250.1.213.1.4.8&ISO",
            service_start_time="20241120080000",
            service_stop_time="20241120090000",
            hash="03f84c46bbfa635e418d233c90c2e276bcfe9877",
            size="128",
            title=LocalizedText("Compte rendu de consultation (CDA)"),
            authors=(
                Author(
                    person="899700218896^^^^^^^^&1.2.250.1.71.4.2.1&ISO",
                    roles=("10^Médecin^1.2.250.1.213.1.1.5.5",),
                ),
            ),
            class_code=Code("11", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
            type_code=Code("11488-4", "2.16.840.1.113883.6.1", "Consult note"),
            confidentiality_codes=(Code("N", "2.16.840.1.113883.5.25", "normal"),),
            format_code=Code(
                "urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3", "mimeType Sufficient"
            ),
            healthcare_facility_type_code=Code("35971002", "2.16.840.1.113883.6.96", "Ambulatory care site"),
            practice_setting_code=Code("394802001", "2.16.840.1.113883.6.96", "General medicine"),
        )
        mapped = validated(document_reference(entry, base=BASE, status=Status.APPROVED.value))
        for key in ("masterIdentifier", "status", "type", "category", "securityLabel"):
            assert mapped[key] == example[key], key
        assert mapped["content"][0]["format"] == example["content"][0]["format"]
        for key in ("facilityType", "practiceSetting"):
            assert mapped["context"][key] == example["context"][key]
        for key in ("contentType", "language", "size", "hash", "title"):
            assert mapped["content"][0]["attachment"][key] == example["content"][0]["attachment"][key]
        # the subject: a server reference plus the INS identifier the example's conditional reference names
        assert mapped["subject"]["identifier"] == {
            "system": "urn:oid:1.2.250.1.213.1.4.8",
            "value": "123456789012345",
        }
        assert mapped["subject"]["reference"] == "Patient/1.2.250.1.213.1.4.8-123456789012345"
        # the author: a PractitionerRole (PDSm AsPractitionerRole) over the IDNPS practitioner
        contained = {f"#{c['id']}": c for c in mapped["contained"]}
        role = contained[mapped["author"][0]["reference"]]
        assert role["resourceType"] == "PractitionerRole"
        practitioner = contained[role["practitioner"]["reference"]]
        assert practitioner["identifier"] == example["contained"][1]["identifier"]
        source = contained[mapped["context"]["sourcePatientInfo"]["reference"]]
        assert source["identifier"] == example["contained"][0]["identifier"]


class TestDocumentReferenceRows:
    def test_builder_entry_validates(self) -> None:
        entry = dataclasses.replace(builders.document(UUID), logical_id=UUID)
        validated(document_reference(entry, base=BASE))

    def test_status(self) -> None:
        entry = builders.document(UUID)
        assert document_reference(entry, base=BASE, status=Status.DEPRECATED.value)["status"] == "superseded"
        assert document_reference(entry, base=BASE, status=Status.APPROVED.value)["status"] == "current"

    @pytest.mark.parametrize(
        ("association", "code"),
        [
            (AssociationType.REPLACE, "replaces"),
            (AssociationType.TRANSFORM, "transforms"),
            (AssociationType.APPEND, "appends"),
            (AssociationType.TRANSFORM_REPLACE, "replaces"),
            (AssociationType.SIGNS, "signs"),
            (AssociationType.IS_SNAPSHOT_OF, "transforms"),
        ],
    )
    def test_relates_to(self, association: AssociationType, code: str) -> None:
        resource = document_reference(
            builders.document(UUID), base=BASE, relations=[Relation(association.value, TARGET)]
        )
        assert resource["relatesTo"][0]["code"] == code
        validated(resource)

    def test_home_community_logical_id_and_archived(self) -> None:
        entry = dataclasses.replace(
            builders.document(UUID),
            home="urn:oid:1.2.3.4",
            logical_id=TARGET,
            extra_slots=(Slot(ARCHIVED_SLOT, ("true",)),),
        )
        resource = validated(document_reference(entry, base=BASE))
        extensions = {e["url"]: e for e in resource["extension"]}
        assert extensions[IS_ARCHIVED_EXTENSION]["valueBoolean"] is True
        assert any(e.get("valueOid") == "urn:oid:1.2.3.4" for e in resource["extension"])
        lid = next(i for i in resource["identifier"] if i.get("type", {}).get("text") == "logicalId")
        assert lid["value"] == TARGET

    def test_on_demand_entry_has_no_size_or_hash(self) -> None:
        entry = dataclasses.replace(builders.document(UUID), hash=None, size=None)
        attachment = validated(document_reference(entry, base=BASE))["content"][0]["attachment"]
        assert "hash" not in attachment and "size" not in attachment

    def test_encounter_reference_id(self) -> None:
        entry = dataclasses.replace(
            builders.document(UUID), reference_ids=("E1^^^&1.2.3&ISO^urn:ihe:iti:xds:2015:encounterId",)
        )
        resource = validated(document_reference(entry, base=BASE))
        assert resource["context"]["encounter"] == [
            {"identifier": {"value": "E1", "system": "urn:oid:1.2.3"}}
        ]

    def test_odd_values_are_dropped_not_fatal(self) -> None:
        entry = dataclasses.replace(
            builders.document(UUID), creation_time="2004-12", hash="not hex", size="big", patient_id="x"
        )
        validated(document_reference(entry, base=BASE))


class TestLists:
    def test_submission_set(self) -> None:
        ss = dataclasses.replace(
            builders.submission_set("urn:uuid:11111111-2222-3333-4444-555555555555"),
            intended_recipients=("Some Hospital^^^^^&1.2.3&ISO^^^^45|^Welby^Marcus",),
            comments=LocalizedText("a note"),
        )
        resource = validated(
            submission_set_list(ss, status=Status.APPROVED.value, members=[Member(UUID, "DocumentReference")])
        )
        assert resource["code"]["coding"][0]["code"] == "submissionset"
        assert resource["mode"] == "working" and resource["status"] == "current"
        assert resource["date"] == "2004-12-25T23:50:50Z"
        urls = [e["url"].rsplit("/", 1)[1] for e in resource["extension"]]
        assert {"ihe-sourceId", "ihe-designationType", "ihe-intendedRecipient"} <= set(urls)
        source_id = next(e for e in resource["extension"] if e["url"].endswith("ihe-sourceId"))
        assert source_id["valueIdentifier"]["value"] == "urn:oid:1.3.6.1.4.1.21367.2009.1.2.1"
        assert resource["entry"] == [
            {"item": {"reference": f"DocumentReference/{UUID.removeprefix('urn:uuid:')}"}}
        ]
        assert resource["source"]["reference"].startswith("#")
        assert resource["note"] == [{"text": "a note"}]

    def test_submission_set_with_an_organisation_author(self) -> None:
        ss = builders.submission_set(
            "urn:uuid:11111111-2222-3333-4444-555555555555",
            authors=(Author(institutions=("Clinique^^^^^&1.2.250.1.71.4.2.2&ISO^^^^1234",)),),
        )
        resource = validated(submission_set_list(ss))
        assert resource["source"]["extension"][0]["url"].endswith("ihe-authorOrg")

    def test_folder(self) -> None:
        folder = builders.folder("urn:uuid:22222222-2222-3333-4444-555555555555")
        resource = validated(
            folder_list(
                folder,
                status=Status.DEPRECATED.value,
                last_update_time="20240102030405",
                members=[Member(UUID, "DocumentReference")],
            )
        )
        assert resource["code"]["coding"][0]["code"] == "folder"
        assert resource["status"] == "retired"
        assert resource["date"] == "2024-01-02T03:04:05Z"
        assert "source" not in resource
        assert resource["title"] == "A folder"


class TestTimes:
    @pytest.mark.parametrize(
        ("dtm", "fhir"),
        [
            ("2004", "2004"),
            ("200412", "2004-12"),
            ("20041225", "2004-12-25"),
            ("2004122521", "2004-12-25T21:00:00Z"),
            ("20041225212010", "2004-12-25T21:20:10Z"),
        ],
    )
    def test_dtm_round_trip(self, dtm: str, fhir: str) -> None:
        assert dtm_to_fhir(dtm) == fhir
        assert fhir_to_dtm(fhir).startswith(dtm[:8])

    def test_offset_converted_to_utc(self) -> None:
        assert fhir_to_dtm("2020-12-31T23:50:50-05:00") == "20210101045050"
