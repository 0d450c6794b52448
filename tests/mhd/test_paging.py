"""ITI-67 / ITI-66 paging: ``_count`` and ``next`` links that stay valid across requests and across server
processes (two application instances on one database), with nothing kept in any process between pages."""

from __future__ import annotations

from typing import Any

from tests.core import builders
from tests.core.builders import PATIENT
from tests.mhd.conftest import FhirServer
from tests.mhd.seed import ids, new_uuid, register

PATIENT_ID = "urn:oid:1.3.6.1.4.1.21367.2005.13.20.1000|PAT-1"


def _next(bundle: dict[str, Any]) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)


def _first(server: FhirServer, count: int, resource: str = "DocumentReference", **more: str) -> Any:
    params = {"patient.identifier": PATIENT_ID, "status": "current", "_count": str(count), **more}
    return server.client.get(f"/fhir/{resource}", params=params, headers=server.auth())


def _seed(server: FhirServer, n: int) -> list[str]:
    server.add_patient(PATIENT)
    docs = [builders.document(new_uuid()) for _ in range(n)]
    register(server, *docs)
    return [d.entry_uuid.removeprefix("urn:uuid:") for d in docs]


class TestDocumentReferencePages:
    def test_pages_cover_the_result_once_in_order(self, ihe_server: FhirServer) -> None:
        expected = _seed(ihe_server, 7)
        response = _first(ihe_server, 3)
        bundle = response.json()
        assert bundle["total"] == 7
        seen = ids(bundle)
        assert len(seen) == 3
        while (link := _next(bundle)) is not None:
            bundle = ihe_server.client.get(link, headers=ihe_server.auth()).json()
            assert bundle["total"] == 7
            seen += ids(bundle)
        assert seen == expected  # registration order, each once

    def test_another_server_process_serves_the_next_page(self, fhir_server_factory: Any) -> None:
        first: FhirServer = fhir_server_factory("ihe")
        second: FhirServer = fhir_server_factory("ihe")  # another application on the same database
        expected = _seed(first, 5)
        page1 = _first(first, 2).json()
        link = _next(page1)
        assert link is not None
        page2 = second.client.get(link, headers=second.auth()).json()
        link2 = _next(page2)
        assert link2 is not None
        page3 = first.client.get(link2, headers=first.auth()).json()
        assert ids(page1) + ids(page2) + ids(page3) == expected
        assert _next(page3) is None

    def test_a_document_registered_between_pages_comes_last(self, ihe_server: FhirServer) -> None:
        expected = _seed(ihe_server, 4)
        page1 = _first(ihe_server, 2).json()
        late = builders.document(new_uuid())
        register(ihe_server, late)
        link = _next(page1)
        assert link is not None
        rest: list[str] = []
        while link is not None:
            bundle = ihe_server.client.get(link, headers=ihe_server.auth()).json()
            rest += ids(bundle)
            link = _next(bundle)
        assert ids(page1) + rest == [*expected, late.entry_uuid.removeprefix("urn:uuid:")]

    def test_count_zero_gives_the_total_only(self, ihe_server: FhirServer) -> None:
        _seed(ihe_server, 3)
        bundle = _first(ihe_server, 0).json()
        assert bundle["total"] == 3
        assert "entry" not in bundle and _next(bundle) is None

    def test_a_forged_page_is_400(self, ihe_server: FhirServer) -> None:
        _seed(ihe_server, 2)
        for page in ("!!!", "bm90IGEgY3Vyc29y"):  # not base64; base64 of "not a cursor"
            response = _first(ihe_server, 1, _page=page)
            assert response.status_code == 400, page

    def test_the_page_is_re_scoped_for_its_caller(self, ihe_server: FhirServer) -> None:
        """A next link carries parameters, not results: replayed without a token it is refused."""
        _seed(ihe_server, 3)
        link = _next(_first(ihe_server, 1).json())
        assert link is not None
        assert ihe_server.client.get(link).status_code == 401


class TestListPages:
    def test_submission_sets_page(self, ihe_server: FhirServer) -> None:
        ihe_server.add_patient(PATIENT)
        for _ in range(3):
            register(ihe_server, builders.document(new_uuid()))
        bundle = _first(ihe_server, 2, resource="List", code="submissionset").json()
        assert bundle["total"] == 3
        seen = ids(bundle)
        link = _next(bundle)
        assert link is not None
        seen += ids(ihe_server.client.get(link, headers=ihe_server.auth()).json())
        assert len(set(seen)) == 3
