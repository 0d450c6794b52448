"""A real FHIR client (fhirpy) against a real server process (``xds-server serve``, ihe profile): documents
provided over SOAP ITI-41, then searched with paging (fhirpy follows the ``next`` links), read, and
retrieved (ITI-68) by the attachment URL."""

from __future__ import annotations

import httpx
import pytest
from fhirpy import SyncFHIRClient

from tests.e2e.test_e2e_server import Server, server, server_env  # noqa: F401  (module fixtures)
from tests.identity_helpers import sign
from tests.repository.messages import PNR, Doc, envelope, mtom, new_oid, provide_request
from xds_server.identity import dev_authority


@pytest.fixture(scope="module")
def provided(server: Server) -> tuple[str, list[Doc]]:  # noqa: F811
    patient_id = f"FHIRPY-{new_oid()[-8:]}^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
    added = server.cli("patients", "add", patient_id, "--profile", "ihe")
    assert added.returncode == 0, added.stderr
    docs = [Doc(f"fhirpy document {i}".encode()) for i in range(5)]
    root = sign(envelope(PNR, provide_request(docs, patient=patient_id)), server.authority)
    body, content_type = mtom(root, [(d.content_id, d.mime_type, d.content) for d in docs])
    response = httpx.post(
        f"{server.url}/xds/repository", content=body, headers={"Content-Type": content_type}, timeout=30
    )
    assert b"ResponseStatusType:Success" in response.content, response.content[:2000]
    return patient_id, docs


def _client(server: Server) -> tuple[SyncFHIRClient, str]:  # noqa: F811
    token = dev_authority.mint_token(server.authority)
    return SyncFHIRClient(f"{server.url}/fhir", authorization=f"Bearer {token}"), token


def test_search_with_paging_read_and_retrieve(server: Server, provided: tuple[str, list[Doc]]) -> None:  # noqa: F811
    patient_id, docs = provided
    client, token = _client(server)
    identifier = "urn:oid:1.3.6.1.4.1.21367.13.20.1000|" + patient_id.split("^", 1)[0]
    search = client.resources("DocumentReference").search(
        **{"patient.identifier": identifier, "status": "current"}
    )
    first_page = search.limit(2).fetch()
    assert len(first_page) == 2
    everything = search.limit(2).fetch_all()  # follows next links: three requests
    assert len(everything) == len(docs)
    assert len({r.id for r in everything}) == len(docs)
    by_uid = {r["masterIdentifier"]["value"].removeprefix("urn:oid:"): r for r in everything}
    assert set(by_uid) == {d.unique_id for d in docs}
    assert search.count() == len(docs)
    for doc in docs:
        found = by_uid[doc.unique_id]
        again = client.reference("DocumentReference", found.id).to_resource()
        assert again["masterIdentifier"] == found["masterIdentifier"]
        url = found["content"][0]["attachment"]["url"]
        assert url.startswith(f"{server.url}/fhir/Binary/")
        content = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert content.status_code == 200
        assert content.content == doc.content
        assert content.headers["content-type"].startswith(doc.mime_type)


def test_lists_and_not_found(server: Server, provided: tuple[str, list[Doc]]) -> None:  # noqa: F811
    patient_id, _ = provided
    client, _ = _client(server)
    identifier = "urn:oid:1.3.6.1.4.1.21367.13.20.1000|" + patient_id.split("^", 1)[0]
    lists = (
        client.resources("List")
        .search(**{"patient.identifier": identifier, "status": "current", "code": "submissionset"})
        .fetch_all()
    )
    assert len(lists) == 1
    assert len(lists[0]["entry"]) == 5
    from fhirpy.base.exceptions import ResourceNotFound

    with pytest.raises(ResourceNotFound):
        client.reference("DocumentReference", "00000000-0000-0000-0000-000000000000").to_resource()
