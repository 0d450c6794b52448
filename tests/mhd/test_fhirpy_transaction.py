"""A real FHIR client (fhirpy) against a real server process (``xds-server serve``, ihe profile): an ITI-65
transaction posted to the base, then the DocumentReference read back and its document retrieved (ITI-68),
and a defective bundle refused with an OperationOutcome the client surfaces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome

from tests.e2e.test_e2e_server import Server, server, server_env  # noqa: F401  (module fixtures)
from xds_server.identity import dev_authority

DATA = Path(__file__).parent.parent / "data" / "mhd" / "provide"
SYSTEM = "urn:oid:1.3.6.1.4.1.21367.13.20.1000"


def bundle_for(patient: str, unique: str) -> dict[str, Any]:
    text = (DATA / "ex-comprehensiveProvideDocumentBundleSimple.json").read_text(encoding="utf-8")
    bundle: dict[str, Any] = json.loads(
        text.replace(
            "Patient/1.3.6.1.4.1.21367.13.20.1000-IHEBLUE-2742", f"Patient?identifier={SYSTEM}|{patient}"
        )
    )
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = (
        f"urn:oid:1.2.840.113556.1.8000.2554.{unique}.1"
    )
    bundle["entry"][1]["resource"]["masterIdentifier"]["value"] = (
        f"urn:oid:1.2.840.113556.1.8000.2554.{unique}.2"
    )
    return bundle


def test_transaction_read_and_retrieve(server: Server) -> None:  # noqa: F811
    patient = "FHIRPY-ITI65"
    added = server.cli(
        "patients", "add", f"{patient}^^^&1.3.6.1.4.1.21367.13.20.1000&ISO", "--profile", "ihe"
    )
    assert added.returncode == 0, added.stderr
    token = dev_authority.mint_token(server.authority)
    client = SyncFHIRClient(f"{server.url}/fhir", authorization=f"Bearer {token}")
    answer = client.execute("", method="post", data=bundle_for(patient, "65001"))
    assert answer["resourceType"] == "Bundle" and answer["type"] == "transaction-response"
    locations = [e["response"]["location"] for e in answer["entry"]]
    assert [loc.split("/", 1)[0] for loc in locations] == ["List", "DocumentReference", "Binary"]
    doc = client.reference("DocumentReference", locations[1].split("/", 1)[1]).to_resource()
    assert doc["subject"]["identifier"] == {"system": SYSTEM, "value": patient}
    url = doc["content"][0]["attachment"]["url"]
    assert url.endswith(locations[2])
    content = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert content.status_code == 200 and content.content == b"Hello World"

    defective = bundle_for(patient, "65002")
    defective["entry"][1]["resource"]["content"][0]["attachment"]["size"] = 12
    with pytest.raises(OperationOutcome) as refused:
        client.execute("", method="post", data=defective)
    assert "XDSNonIdenticalSize" in str(refused.value)
