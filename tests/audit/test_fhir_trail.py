"""The patient's trail over FHIR (``GET /fhir/AuditEvent``): who reads what, from the attacker's side first
(another patient's trail is never reachable, whatever the parameters), then what the patient sees; and the
FHIR requests themselves are traced."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.audit.trail import events
from tests.core.builders import DMP_PATIENT, INS, code
from tests.e2e import test_dmp_policy as policy_e2e
from tests.e2e.test_dmp_policy import AUTHOR, MEDECIN, OTHER_INS, STRANGER, Dmp, document
from tests.identity_helpers import install_authority
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.policy import AccessMode
from xds_server.core.vocabulary import DMP_VISIBILITY_OID
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore

OTHER_PATIENT = f"{OTHER_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"
INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
AUDITOR = "audit-office"
PARENT = "279035121518989"  # the representative's own INS (a valid NIR), registered in canonical CX form
PARENT_CX = f"{PARENT}^^^&1.2.250.1.213.1.4.8&ISO^NH"


@pytest.fixture
def dmp(database: Database, tmp_path: Path) -> Iterator[Dmp]:
    app = create_app(Settings(data_dir=tmp_path, profile="dmp", auditors=[AUDITOR]), database=database)
    authority = install_authority(tmp_path)
    with TestClient(app) as client:
        yield Dmp(client, database, authority, app.state.services)


def token(dmp: Dmp, **claims: Any) -> dict[str, str]:
    minted = dev_authority.mint_token(dmp.authority, dev_authority.token_claims(**claims))
    return {"Authorization": f"Bearer {minted}"}


def patient_token(dmp: Dmp, ins: str = DMP_PATIENT) -> dict[str, str]:
    return token(dmp, patient_self=ins)


def auditor_token(dmp: Dmp, who: str = AUDITOR) -> dict[str, str]:
    claims = dev_authority.token_claims(Identity(national_id=who)) | {"actor": "system"}
    return {"Authorization": f"Bearer {dev_authority.mint_token(dmp.authority, claims)}"}


def search(dmp: Dmp, headers: dict[str, str], **params: str) -> tuple[int, dict[str, Any]]:
    response = dmp.client.get("/fhir/AuditEvent", params=params, headers=headers)
    return response.status_code, response.json()


def entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == "AuditEvent"]


def patients_of(resource: dict[str, Any]) -> set[str]:
    return {
        e["what"]["identifier"]["value"]
        for e in resource.get("entity", [])
        if e.get("role", {}).get("code") == "1"
    }


def subtype(resource: dict[str, Any]) -> str:
    return str(resource["subtype"][-1]["code"])


def two_records(dmp: Dmp) -> None:
    """DMP_PATIENT and OTHER_PATIENT, each with a deposit and a consultation in its trail."""
    dmp.record(authorised=[MEDECIN])
    dmp.record(patient=OTHER_PATIENT, authorised=[MEDECIN])
    dmp.deposit(AUTHOR, document())
    dmp.find(MEDECIN)
    other = dataclasses.replace(AUTHOR, patient=OTHER_PATIENT)
    doc = dataclasses.replace(document(), patient_id=OTHER_PATIENT, source_patient_id=OTHER_PATIENT)
    submission = policy_e2e.dmp_submission(doc)
    ss = dataclasses.replace(submission.submission_sets[0], patient_id=OTHER_PATIENT)
    assert (
        dmp.register(other, dataclasses.replace(submission, submission_sets=(ss,))).status
        == policy_e2e.SUCCESS
    )
    dmp.find(dataclasses.replace(MEDECIN, patient=OTHER_PATIENT))


class TestWhoReadsWhat:
    def test_no_token_is_401(self, dmp: Dmp) -> None:
        status, body = search(dmp, {})
        assert status == 401 and body["resourceType"] == "OperationOutcome"

    def test_a_professional_is_refused(self, dmp: Dmp) -> None:
        two_records(dmp)
        status, _ = search(dmp, token(dmp, identity=MEDECIN), patient_identifier=f"{INS_SYSTEM}|{INS}")
        assert status == 403

    def test_an_unlisted_system_actor_is_refused(self, dmp: Dmp) -> None:
        assert search(dmp, auditor_token(dmp, "some-batch"))[0] == 403

    def test_the_patient_never_reaches_another_trail(self, dmp: Dmp) -> None:
        two_records(dmp)
        own = patient_token(dmp)
        for params in (
            {"patient.identifier": f"{INS_SYSTEM}|{OTHER_INS}"},
            {"patient.identifier": f"{INS_SYSTEM}|{OTHER_INS},{INS_SYSTEM}|{INS}", "agent": "nobody"},
            {"patient": f"Patient/1.2.250.1.213.1.4.8-{OTHER_INS}"},
            {"entity": OTHER_INS},
            {"patient.identifier": "urn:oid:9.9|garbage"},
        ):
            status, bundle = search(dmp, own, **params)
            assert status == 200 and entries(bundle) == [], params
        status, bundle = search(dmp, own)
        assert status == 200 and {p for r in entries(bundle) for p in patients_of(r)} == {INS}

    def test_an_auditor_reads_every_record_and_the_refusals(self, dmp: Dmp) -> None:
        two_records(dmp)
        dmp.find(STRANGER)  # refused
        status, bundle = search(dmp, auditor_token(dmp), _count="100")
        assert status == 200
        found = entries(bundle)
        assert {p for r in found for p in patients_of(r)} >= {INS, OTHER_INS}
        assert "8" in {r["outcome"] for r in found}
        _, only_other = search(dmp, auditor_token(dmp), **{"patient.identifier": f"{INS_SYSTEM}|{OTHER_INS}"})
        assert {p for r in entries(only_other) for p in patients_of(r)} == {OTHER_INS}

    def test_paging(self, dmp: Dmp) -> None:
        two_records(dmp)
        _, first = search(dmp, auditor_token(dmp), _count="2", subtype="ITI-18,ITI-42")
        assert len(entries(first)) == 2
        next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
        second = dmp.client.get(next_url, headers=auditor_token(dmp)).json()
        ids = {r["id"] for r in entries(first)} | {r["id"] for r in entries(second)}
        assert len(ids) == 4

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        params=st.dictionaries(
            st.sampled_from(
                ["patient.identifier", "patient", "date", "subtype", "outcome", "agent", "entity"]
            ),
            st.sampled_from(
                [
                    f"{INS_SYSTEM}|{OTHER_INS}",
                    f"{INS_SYSTEM}|{INS}",
                    f"{INS_SYSTEM}|{OTHER_INS},{INS_SYSTEM}|{INS}",
                    f"Patient/1.2.250.1.213.1.4.8-{OTHER_INS}",
                    OTHER_INS,
                    INS,
                    "ge2000-01-01",
                    "lt2100-01-01",
                    "ITI-18",
                    "ITI-42",
                    "0",
                    "8",
                    MEDECIN.national_id,
                    AUTHOR.national_id,
                    "",
                    "x|y",
                ]
            ),
        )
    )
    def test_isolation_property(self, dmp: Dmp, params: dict[str, str]) -> None:
        if not events(dmp.database):
            two_records(dmp)
        status, bundle = search(dmp, patient_token(dmp), **params)
        assert status in (200, 400)
        if status == 200:
            assert all(patients_of(r) <= {INS} for r in entries(bundle))


class TestWhatThePatientSees:
    def test_accesses_emergencies_new_documents_and_masking(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        doc = document()
        dmp.deposit(AUTHOR, doc)
        dmp.find(MEDECIN)
        dmp.find(dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason="patient inconscient"))
        dmp.find(STRANGER)  # refused: not shown
        masked = (*doc.confidentiality_codes, code("MASQUE_PS", DMP_VISIBILITY_OID))
        assert policy_e2e.TestMaskingUpdate()._update(
            dmp, AUTHOR, doc, confidentiality_codes=masked
        ).status == (policy_e2e.SUCCESS)
        status, bundle = search(dmp, patient_token(dmp))
        assert status == 200
        shown = entries(bundle)
        assert [subtype(r) for r in shown] == ["ITI-57", "ITI-18", "ITI-18", "ITI-42"]  # newest first
        assert all(r["outcome"] == "0" for r in shown)
        emergency = shown[1]["agent"][2]["purposeOfUse"][0]
        assert emergency["coding"][0]["code"] == "ETREAT" and emergency["text"] == "patient inconscient"
        # the patient is not shown the technical entities (raw query, assertion id, message id) nor addresses
        assert all(e["role"]["code"] in ("1", "3", "20") for r in shown for e in r.get("entity", []))
        assert not any("network" in a for r in shown for a in r["agent"])

    def test_hidden_documents_traces_appear_once_unmasked(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        invisible = code("INVISIBLE_PATIENT", DMP_VISIBILITY_OID)
        doc = document()
        hidden = dataclasses.replace(doc, confidentiality_codes=(*doc.confidentiality_codes, invisible))
        dmp.deposit(AUTHOR, hidden)
        dmp.retrieve(MEDECIN, hidden.unique_id or "")
        _, bundle = search(dmp, patient_token(dmp))
        assert [subtype(r) for r in entries(bundle)] == []
        unmasked = tuple(c for c in hidden.confidentiality_codes if c != invisible)
        update = policy_e2e.TestMaskingUpdate()._update
        assert update(dmp, AUTHOR, hidden, confidentiality_codes=unmasked).status == policy_e2e.SUCCESS
        _, bundle = search(dmp, patient_token(dmp))
        assert [subtype(r) for r in entries(bundle)] == ["ITI-57", "ITI-43", "ITI-42"]


class TestRepresentatives:
    def _minor(self, dmp: Dmp, born: date) -> None:
        dmp.record(authorised=[MEDECIN])
        with dmp.database.transaction() as connection:
            SqlPatientDirectory(connection).add(DMP_PATIENT, policy_e2e.PatientState.ACTIVATED, born)
            SqlRecordStore(connection).add_representative(DMP_PATIENT, PARENT_CX)
        dmp.find(MEDECIN)

    def _parent(self, dmp: Dmp) -> dict[str, str]:
        return token(dmp, identity=Identity(national_id=PARENT), representative_of=[DMP_PATIENT])

    def test_a_representative_reads_the_minors_trail(self, dmp: Dmp) -> None:
        today = datetime.now(UTC).date()
        self._minor(dmp, today.replace(year=today.year - 10))
        status, bundle = search(dmp, self._parent(dmp))
        assert status == 200 and [subtype(r) for r in entries(bundle)] == ["ITI-18"]

    def test_documents_hidden_from_the_representatives_are_the_patients_own(self, dmp: Dmp) -> None:
        today = datetime.now(UTC).date()
        self._minor(dmp, today.replace(year=today.year - 15))
        doc = document()
        secret = code("INVISIBLE_REPRESENTANTS_LEGAUX", DMP_VISIBILITY_OID)
        dmp.deposit(
            AUTHOR, dataclasses.replace(doc, confidentiality_codes=(*doc.confidentiality_codes, secret))
        )
        parent = [subtype(r) for r in entries(search(dmp, self._parent(dmp))[1])]
        own = [subtype(r) for r in entries(search(dmp, patient_token(dmp))[1])]
        assert (parent, own) == (["ITI-18"], ["ITI-42", "ITI-18"])

    def test_at_eighteen_the_representative_reads_nothing(self, dmp: Dmp) -> None:
        today = datetime.now(UTC).date()
        self._minor(dmp, today.replace(year=today.year - 18))
        status, bundle = search(dmp, self._parent(dmp))
        assert status == 200 and entries(bundle) == []
        assert [subtype(r) for r in entries(search(dmp, patient_token(dmp))[1])] == ["ITI-18"]


class TestFhirRequestsAreTraced:
    def test_the_search_and_a_refused_one(self, dmp: Dmp) -> None:
        dmp.record()
        search(dmp, patient_token(dmp))
        search(dmp, {})
        search(dmp, token(dmp, identity=MEDECIN))
        traces = events(dmp.database, "ITI-81")
        assert [t.outcome for t in traces] == [0, 8, 8]
        first = traces[0].json()
        assert first["agent"][2]["who"]["identifier"]["value"] == DMP_PATIENT
        assert first["agent"][2]["purposeOfUse"][0]["coding"][0]["code"] == "PATRQT"
        assert not any(a.get("requestor") for a in traces[1].json()["agent"])  # 401: no user


class TestAuditorToken:
    def test_the_dev_token_command_mints_an_auditor(self, dmp: Dmp, tmp_path: Path) -> None:
        from typer.testing import CliRunner

        from xds_server.cli import app as cli

        dmp.record(authorised=[MEDECIN])
        dmp.find(MEDECIN)
        result = CliRunner().invoke(cli, ["audit", "dev-token", "--id", AUDITOR, "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.stderr
        status, bundle = search(dmp, {"Authorization": f"Bearer {result.stdout.strip()}"}, subtype="ITI-18")
        assert status == 200 and len(entries(bundle)) == 1


class TestMhdTransactionsAreTraced:
    def test_document_search_and_retrieve(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        doc = document()
        dmp.deposit(AUTHOR, doc)
        headers = token(dmp, identity=MEDECIN)
        found = dmp.client.get(
            "/fhir/DocumentReference",
            params={"patient.identifier": f"{INS_SYSTEM}|{INS}", "status": "current"},
            headers=headers,
        )
        assert found.status_code == 200, found.text
        bundle = found.json()
        references = [
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"
        ]
        url = references[0]["content"][0]["attachment"]["url"]
        assert dmp.client.get(url, headers=headers).status_code == 200
        stranger = dmp.client.get(url, headers=token(dmp, identity=STRANGER))
        assert stranger.status_code in (403, 404)
        search_traces = events(dmp.database, "ITI-67")
        assert [t.outcome for t in search_traces] == [0] and search_traces[0].patient_id == DMP_PATIENT
        retrieves = events(dmp.database, "ITI-68")
        assert [t.outcome for t in retrieves] == [0, 8]
        served = retrieves[0].json()
        assert served["action"] == "R" and doc.unique_id in str(served["entity"])
