"""examples/iti65-provide-bundle.json: the MHD ITI-65 example is accepted on ``dmp-test`` and ``ihe`` (one
201 per entry), and the document it carries is then found over ITI-67 and retrieved over ITI-68."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.identity_helpers import trusting_app
from xds_server.config import Settings
from xds_server.core.ports import PatientState
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iti65-provide-bundle.json"
PATIENT = "280017512345610^^^&1.2.250.1.213.1.4.10&ISO^NH"
AUTHOR = Identity(
    national_id="899700000001",
    profession="10",
    savoir_faire="SM26",
    structure="3900000000001",
    patient=PATIENT,
)


@pytest.mark.parametrize("profile", ["dmp-test", "ihe"])
def test_the_bundle_is_stored_found_and_retrieved(profile: str, database: Database, tmp_path: Path) -> None:
    bundle = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    patient = PATIENT if profile == "dmp-test" else PATIENT.removesuffix("^NH")
    with database.transaction() as connection:
        SqlPatientDirectory(connection).add(patient, PatientState.ACTIVATED)
        if profile == "dmp-test":  # the README's step: the professional is authorised (consent declared)
            SqlRecordStore(connection).authorize(patient, AUTHOR.national_id)
    app, authority = trusting_app(Settings(data_dir=tmp_path / "data", profile=profile), database)
    token = dev_authority.mint_token(authority, dev_authority.token_claims(AUTHOR))
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        answer = client.post(
            "/fhir", content=EXAMPLE.read_bytes(), headers={**auth, "Content-Type": "application/fhir+json"}
        )
        assert answer.status_code == 200, answer.text
        response = answer.json()
        assert response["type"] == "transaction-response"
        assert [e["response"]["status"][:3] for e in response["entry"]] == ["201"] * len(bundle["entry"])
        found = client.get(
            "/fhir/DocumentReference",
            params={
                "patient.identifier": "urn:oid:1.2.250.1.213.1.4.10|280017512345610",
                "status": "current",
            },
            headers=auth,
        ).json()
        assert found["total"] == 1, found
        url = found["entry"][0]["resource"]["content"][0]["attachment"]["url"]
        content = client.get(url, headers=auth)
        assert content.status_code == 200
        binary = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary")
        assert content.content == base64.b64decode(binary["data"])
