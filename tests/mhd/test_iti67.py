"""ITI-67 Find Document References: every search parameter of mhd-fhir.md §2 in each of its forms, against
one registry fed through ITI-42 (ihe profile), with the ITI-18 equivalent checked where one exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from lxml import etree

from fhir_api.search import SearchRequest
from tests.core import builders
from tests.core.builders import OTHER_PATIENT, PATIENT, code
from tests.mhd.conftest import FhirServer
from tests.mhd.seed import entries, ids, new_uuid, register
from xds_server.core.metadata import Author, Slot
from xds_server.core.vocabulary import AssociationType

LOINC = "2.16.840.1.113883.6.1"
S1 = "1.3.6.1.4.1.21367.100.1"
S2 = "1.2.3.4.5.6"
PATIENT_ID = "urn:oid:1.3.6.1.4.1.21367.2005.13.20.1000|PAT-1"
PATIENT_REF = "Patient/1.3.6.1.4.1.21367.2005.13.20.1000-PAT-1"
ACCESSION = "ACC-1^^^&1.2.3.99&ISO^urn:ihe:iti:xds:2013:accession"


@dataclass
class Seeded:
    server: FhirServer
    names: dict[str, str]  # label -> resource id
    unique_ids: dict[str, str]

    def search(self, params: dict[str, Any] | list[tuple[str, str]], **kwargs: Any) -> Any:
        """GET DocumentReference with ``params``, plus this patient and both statuses unless given."""
        pairs = list(params.items()) if isinstance(params, dict) else list(params)
        names = {n.split(":", 1)[0] for n, _ in pairs}
        if not names & {"patient", "patient.identifier"}:
            pairs.append(("patient.identifier", PATIENT_ID))
        if "status" not in names:
            pairs.append(("status", "current,superseded"))
        kwargs.setdefault("headers", self.server.auth())
        return self.server.client.get("/fhir/DocumentReference", params=pairs, **kwargs)

    def labels(self, params: dict[str, Any] | list[tuple[str, str]]) -> set[str]:
        response = self.search(params)
        assert response.status_code == 200, response.text
        back = {v: k for k, v in self.names.items()}
        return {back[i] for i in ids(response.json())}


@pytest.fixture
def seeded(ihe_server: FhirServer) -> Seeded:
    ihe_server.add_patient(PATIENT)
    ihe_server.add_patient(OTHER_PATIENT)
    d1 = builders.document(
        new_uuid(),
        class_code=code("A", S1),
        type_code=code("11488-4", LOINC),
        event_codes=(code("E1", S1), code("E2", S1)),
        confidentiality_codes=(code("N", "2.16.840.1.113883.5.25"),),
        creation_time="20200101100000",
        service_start_time="20200101080000",
        service_stop_time="20200101090000",
        authors=(Author(person="^Martin^Paul"),),
        format_code=code("F1", S1),
        healthcare_facility_type_code=code("H1", S1),
        practice_setting_code=code("P1", S1),
        reference_ids=(ACCESSION,),
    )
    d2 = builders.document(
        new_uuid(),
        class_code=code("B", S1),
        type_code=code("34108-1", LOINC),
        event_codes=(code("E1", S1),),
        confidentiality_codes=(code("R", "2.16.840.1.113883.5.25"),),
        creation_time="20210601120000",
        service_start_time="20210601080000",
        service_stop_time="20210603080000",
        authors=(Author(person="^Doe^Jane"),),
        format_code=code("F2", S1),
        healthcare_facility_type_code=code("H2", S1),
        practice_setting_code=code("P2", S1),
        extra_slots=(Slot("urn:ihe:iti:pdsm:isArchived", ("true",)),),
    )
    d3 = builders.document(new_uuid(), class_code=code("A", S2), creation_time="20190101000000")
    other = builders.document(new_uuid(), patient_id=OTHER_PATIENT, source_patient_id=OTHER_PATIENT)
    first = register(ihe_server, d1, d2, d3)
    register(ihe_server, other, ss=builders.submission_set(new_uuid(), patient_id=OTHER_PATIENT))
    d4 = builders.document(new_uuid(), class_code=code("A", S1), creation_time="20220101000000")
    register(
        ihe_server,
        d4,
        ss=builders.submission_set(new_uuid(), submission_time="20100101000000"),
        associations=(
            builders.association(d4.entry_uuid, d3.entry_uuid, AssociationType.REPLACE.value, new_uuid()),
        ),
    )
    docs = {"d1": d1, "d2": d2, "d3": d3, "d4": d4, "other": other}
    del first
    return Seeded(
        ihe_server,
        {k: v.entry_uuid.removeprefix("urn:uuid:") for k, v in docs.items()},
        {k: v.unique_id or "" for k, v in docs.items()},
    )


ALL = {"d1", "d2", "d3", "d4"}


class TestRequiredParameters:
    def test_missing_patient_is_400(self, seeded: Seeded) -> None:
        response = seeded.server.client.get(
            "/fhir/DocumentReference", params={"status": "current"}, headers=seeded.server.auth()
        )
        assert response.status_code == 400
        assert response.json()["resourceType"] == "OperationOutcome"

    def test_missing_status_is_400(self, seeded: Seeded) -> None:
        response = seeded.server.client.get(
            "/fhir/DocumentReference", params={"patient.identifier": PATIENT_ID}, headers=seeded.server.auth()
        )
        assert response.status_code == 400
        assert "status" in response.json()["issue"][0]["diagnostics"]

    def test_two_patients_is_400(self, seeded: Seeded) -> None:
        other = "urn:oid:1.3.6.1.4.1.21367.2005.13.20.1000|PAT-2"
        assert seeded.search({"patient.identifier": f"{PATIENT_ID},{other}"}).status_code == 400


class TestPatientAndStatus:
    def test_patient_identifier(self, seeded: Seeded) -> None:
        assert seeded.labels({}) == ALL

    def test_patient_reference_forms(self, seeded: Seeded) -> None:
        for value in (PATIENT_REF, PATIENT_REF.split("/", 1)[1], f"http://testserver/fhir/{PATIENT_REF}"):
            assert seeded.labels([("patient", value)]) == ALL, value

    def test_patient_identifier_modifier(self, seeded: Seeded) -> None:
        assert seeded.labels([("patient:identifier", PATIENT_ID)]) == ALL

    def test_another_patient_sees_only_his(self, seeded: Seeded) -> None:
        other = "urn:oid:1.3.6.1.4.1.21367.2005.13.20.1000|PAT-2"
        assert seeded.labels([("patient.identifier", other)]) == {"other"}

    def test_patient_and_patient_identifier_that_disagree_match_nothing(self, seeded: Seeded) -> None:
        other = "Patient/1.3.6.1.4.1.21367.2005.13.20.1000-PAT-2"
        assert seeded.labels([("patient.identifier", PATIENT_ID), ("patient", other)]) == set()

    def test_status(self, seeded: Seeded) -> None:
        assert seeded.labels({"status": "current"}) == {"d1", "d2", "d4"}
        assert seeded.labels({"status": "superseded"}) == {"d3"}
        assert seeded.labels({"status": "http://hl7.org/fhir/document-reference-status|current"}) == {
            "d1",
            "d2",
            "d4",
        }
        assert seeded.labels({"status": "entered-in-error"}) == set()

    def test_unknown_status_is_400(self, seeded: Seeded) -> None:
        assert seeded.search({"status": "bogus"}).status_code == 400


class TestTokens:
    @pytest.mark.parametrize(
        ("name", "value", "expected"),
        [
            ("category", f"urn:oid:{S1}|A", {"d1", "d4"}),
            ("category", "A", {"d1", "d3", "d4"}),  # any scheme
            ("category", "|A", set()),  # a code without a system: no XDS code is
            ("category", f"urn:oid:{S1}|A,urn:oid:{S1}|B", {"d1", "d2", "d4"}),
            ("type", "http://loinc.org|11488-4", {"d1"}),
            ("type", "34108-1", {"d2", "d3", "d4"}),
            ("setting", f"urn:oid:{S1}|P1", {"d1"}),
            ("facility", f"urn:oid:{S1}|H2", {"d2"}),
            ("format", f"urn:oid:{S1}|F1,F2", {"d1", "d2"}),
            ("security-label", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R", {"d2"}),
            ("event", f"urn:oid:{S1}|E2", {"d1"}),
            ("event", "E1", {"d1", "d2"}),
        ],
    )
    def test_token_forms(self, seeded: Seeded, name: str, value: str, expected: set[str]) -> None:
        assert seeded.labels({name: value}) == expected

    def test_repeated_is_and(self, seeded: Seeded) -> None:
        assert seeded.labels([("event", "E1"), ("event", "E2")]) == {"d1"}
        assert seeded.labels([("category", "A"), ("category", f"urn:oid:{S1}|A")]) == {"d1", "d4"}
        assert seeded.labels([("category", "A"), ("category", "B")]) == set()

    def test_unknown_modifier_is_400(self, seeded: Seeded) -> None:
        assert seeded.search({"category:not": "A"}).status_code == 400


class TestDates:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ([("creation", "2020")], {"d1"}),
            ([("creation", "2020-01-01")], {"d1"}),
            ([("creation", "eq2020-01-01T10:00:00Z")], {"d1"}),
            ([("creation", "ge2020-01-01")], {"d1", "d2", "d4"}),
            ([("creation", "gt2020")], {"d2", "d4"}),
            ([("creation", "lt2020-01-01")], {"d3"}),
            ([("creation", "le2020")], {"d1", "d3"}),
            ([("creation", "sa2020-12-31")], {"d2", "d4"}),
            ([("creation", "eb2020")], {"d3"}),
            ([("creation", "ge2020"), ("creation", "lt2021-12")], {"d1", "d2"}),
            ([("creation", "ge2020-01-01T11:00:00+01:00")], {"d1", "d2", "d4"}),  # 10:00 UTC
            ([("period", "2020-01-01")], {"d1"}),
            ([("period", "ge2021-06-02")], {"d2"}),
            ([("period", "le2020-01-01T08:30:00Z"), ("period", "ge2020-01-01T08:30:00Z")], {"d1"}),
            ([("period-start", "ge2021")], {"d2"}),
            ([("period-end", "lt2020-01-01T10:00:00Z")], {"d1", "d3", "d4"}),  # d3, d4: 2004
            ([("period-end", "ge2005")], {"d1", "d2"}),
            ([("date", "2004-12-25")], {"d1", "d2", "d3"}),
            ([("date", "ge2010")], {"d4"}),
            ([("_lastUpdated", "lt2005")], {"d1", "d2", "d3"}),
            ([("_lastupdated", "ge2005")], {"d4"}),  # the MHD CapabilityStatement's spelling
        ],
    )
    def test_date_prefixes(self, seeded: Seeded, params: list[tuple[str, str]], expected: set[str]) -> None:
        assert seeded.labels(params) == expected

    def test_ne_is_refused_not_widened(self, seeded: Seeded) -> None:
        response = seeded.search({"creation": "ne2020"})
        assert response.status_code == 400
        assert response.json()["issue"][0]["code"] == "not-supported"

    def test_bad_date_is_400(self, seeded: Seeded) -> None:
        assert seeded.search({"creation": "yesterday"}).status_code == 400


class TestOthers:
    def test_author(self, seeded: Seeded) -> None:
        assert seeded.labels({"author.family": "Martin"}) == {"d1"}
        assert seeded.labels({"author.family": "Smith"}) == {"d3", "d4"}  # the builders' ^Smith^John
        assert seeded.labels({"author.given": "Jane"}) == {"d2"}
        assert seeded.labels({"author.family": "Martin", "author.given": "Paul"}) == {"d1"}
        assert seeded.labels({"author.family": "Martin", "author.given": "Jane"}) == set()
        assert seeded.labels({"author.family": "Martin,Doe"}) == {"d1", "d2"}
        assert seeded.labels({"author.family": "martin"}) == set()  # exact, as ITI-18

    def test_related(self, seeded: Seeded) -> None:
        assert seeded.labels({"related": "urn:oid:1.2.3.99|ACC-1"}) == {"d1"}
        assert seeded.labels({"related:identifier": "urn:oid:1.2.3.99|ACC-1"}) == {"d1"}
        assert seeded.labels({"related": ACCESSION}) == {"d1"}
        assert seeded.labels({"related": "urn:oid:1.2.3.99|ACC-2"}) == set()

    def test_identifier_forms(self, seeded: Seeded) -> None:
        uid = seeded.unique_ids["d2"]
        uuid = f"urn:uuid:{seeded.names['d1']}"
        assert seeded.labels({"identifier": f"urn:ietf:rfc:3986|urn:oid:{uid}"}) == {"d2"}
        assert seeded.labels({"identifier": f"urn:oid:{uid}"}) == {"d2"}
        assert seeded.labels({"identifier": uuid}) == {"d1"}
        assert seeded.labels({"identifier": f"{uuid},urn:oid:{uid}"}) == {"d1", "d2"}
        assert seeded.labels({"identifier": f"http://other|urn:oid:{uid}"}) == set()
        # another patient's document is not found by its identifier
        assert seeded.labels({"identifier": f"urn:oid:{seeded.unique_ids['other']}"}) == set()

    def test_id(self, seeded: Seeded) -> None:
        assert seeded.labels({"_id": seeded.names["d4"]}) == {"d4"}
        assert seeded.labels({"_id": seeded.names["other"]}) == set()

    def test_is_archived(self, seeded: Seeded) -> None:
        assert seeded.labels({"isArchived": "true"}) == {"d2"}
        assert seeded.labels({"isArchived": "false"}) == {"d1", "d3", "d4"}

    def test_post_search_is_the_same(self, seeded: Seeded) -> None:
        response = seeded.server.client.post(
            "/fhir/DocumentReference/_search",
            data={"patient.identifier": PATIENT_ID, "status": "current", "category": "A"},
            headers=seeded.server.auth(),
        )
        assert response.status_code == 200
        assert set(ids(response.json())) == {seeded.names["d1"], seeded.names["d4"]}


class TestUnknownParameters:
    def test_ignored_with_a_warning(self, seeded: Seeded) -> None:
        response = seeded.search({"category": f"urn:oid:{S1}|A", "bogus": "1"})
        assert response.status_code == 200
        bundle = response.json()
        outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
        assert "bogus" in outcome[0]["resource"]["issue"][0]["diagnostics"]
        assert len(entries(bundle)) == 2

    def test_strict_refuses(self, seeded: Seeded) -> None:
        response = seeded.search(
            {"bogus": "1"}, headers={**seeded.server.auth(), "Prefer": "handling=strict"}
        )
        assert response.status_code == 400


class TestResource:
    def test_every_answer_is_valid_r4(self, seeded: Seeded) -> None:
        bundle = seeded.search({}).json()
        Bundle.model_validate(bundle)
        for resource in entries(bundle):
            DocumentReference.model_validate(resource)

    def test_relates_to_and_status(self, seeded: Seeded) -> None:
        found = {r["id"]: r for r in entries(seeded.search({}).json())}
        replacing = found[seeded.names["d4"]]
        assert replacing["relatesTo"] == [
            {"code": "replaces", "target": {"reference": f"DocumentReference/{seeded.names['d3']}"}}
        ]
        assert found[seeded.names["d3"]]["status"] == "superseded"
        assert found[seeded.names["d4"]]["date"] == "2010-01-01T00:00:00Z"

    def test_read(self, seeded: Seeded) -> None:
        response = seeded.server.client.get(
            f"/fhir/DocumentReference/{seeded.names['d1']}", headers=seeded.server.auth()
        )
        assert response.status_code == 200
        assert response.json()["masterIdentifier"]["value"] == f"urn:oid:{seeded.unique_ids['d1']}"

    def test_read_unknown_is_404(self, seeded: Seeded) -> None:
        for unknown in ("0c287d32-01e3-4d87-9953-000000000000", "not-an-id"):
            response = seeded.server.client.get(
                f"/fhir/DocumentReference/{unknown}", headers=seeded.server.auth()
            )
            assert response.status_code == 404
            assert response.json()["resourceType"] == "OperationOutcome"

    def test_xml(self, seeded: Seeded) -> None:
        response = seeded.search({"_format": "xml", "category": f"urn:oid:{S1}|A"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/fhir+xml")
        root = etree.fromstring(response.content)
        ns = {"f": "http://hl7.org/fhir"}
        assert root.find("f:total", ns).get("value") == "2"  # type: ignore[union-attr]
        assert len(root.findall("f:entry/f:resource/f:DocumentReference", ns)) == 2


class TestTooManyResults:
    def test_the_registry_cap_is_an_operation_outcome(self, fhir_server_factory: Any) -> None:
        server: FhirServer = fhir_server_factory("ihe", query_result_limit=2)
        server.add_patient(PATIENT)
        register(server, *(builders.document(new_uuid()) for _ in range(3)))
        response = server.client.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": PATIENT_ID, "status": "current"},
            headers=server.auth(),
        )
        assert response.status_code == 422
        issue = response.json()["issue"][0]
        assert issue["details"]["coding"][0]["code"] == "XDSTooManyResults"


class TestCompilesToFindDocuments:
    """The criteria ITI-67 builds are the ones ITI-18 FindDocuments builds for the same question."""

    def test_same_criteria(self) -> None:
        from fhir_api.document_search import compile_search
        from xds_server.core.metadata import Slot as S
        from xds_server.core.query import parse_parameters
        from xds_server.core.query.queries import FindDocuments
        from xds_server.terminology import load_profile

        search = SearchRequest.of_pairs(
            [
                ("patient.identifier", PATIENT_ID),
                ("status", "current"),
                ("category", f"urn:oid:{S1}|A"),
                ("type", "http://loinc.org|11488-4"),
                ("event", f"urn:oid:{S1}|E1"),
                ("creation", "ge2020-01-01"),
                ("creation", "lt2021"),
                ("author.family", "Smith"),
            ]
        )
        plan = compile_search(search, load_profile("ihe"))
        slots = (
            S("$XDSDocumentEntryPatientId", (f"'{PATIENT}'",)),
            S("$XDSDocumentEntryStatus", ("('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')",)),
            S("$XDSDocumentEntryClassCode", (f"('A^^{S1}')",)),
            S("$XDSDocumentEntryTypeCode", (f"('11488-4^^{LOINC}')",)),
            S("$XDSDocumentEntryEventCodeList", (f"('E1^^{S1}')",)),
            S("$XDSDocumentEntryCreationTimeFrom", ("20200101000000",)),
            S("$XDSDocumentEntryCreationTimeTo", ("20210101000000",)),
            S("$XDSDocumentEntryAuthorPerson", ("('%^Smith')", "('%^Smith^%')")),
            S(
                "$XDSDocumentEntryType",
                (
                    "('urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1','urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248')",
                ),
            ),
        )
        query = FindDocuments()
        iti18 = query.criteria(parse_parameters(slots, query.params, query.exactly_one_of))
        assert plan.criteria == iti18
        assert plan.slots == (slots[0],)
