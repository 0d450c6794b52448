"""The DMP rules through the FHIR face (``dmp-test`` profile), from the attacker's side first: documents fed
through SOAP (ITI-42) by their author, then read with bearer tokens on ITI-67, DocumentReference read,
ITI-66 and ITI-68. The same actors and rules as tests/e2e/test_dmp_policy.py (the SOAP face)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.core.builders import DMP_PATIENT, INS, NIR_OID, dmp_submission, member, submission_set
from tests.e2e import test_dmp_policy as soap_policy
from tests.e2e.test_dmp_policy import (
    AUTHOR,
    CONTENT,
    MEDECIN,
    OTHER_INS,
    STRANGER,
    SUCCESS,
    Dmp,
    document,
    new_uuid,
)
from tests.identity_helpers import install_authority
from tests.mhd.seed import entries, ids
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.metadata import DocumentEntry
from xds_server.core.policy import AccessMode
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity
from xds_server.storage.database import Database

PATIENT_ID = f"urn:oid:{NIR_OID}|{INS}"
OTHER_PATIENT = f"{OTHER_INS}^^^&{NIR_OID}&ISO^NH"
OTHER_ID = f"urn:oid:{NIR_OID}|{OTHER_INS}"


@pytest.fixture
def dmp(database: Database, tmp_path: Path) -> Iterator[Dmp]:
    app = create_app(Settings(data_dir=tmp_path, profile="dmp-test"), database=database)
    authority = install_authority(tmp_path)
    with TestClient(app) as client:
        yield Dmp(client, database, authority, app.state.services)


def auth(dmp: Dmp, identity: Identity) -> dict[str, str]:
    token = dev_authority.mint_token(dmp.authority, dev_authority.token_claims(identity))
    return {"Authorization": f"Bearer {token}"}


def search(dmp: Dmp, identity: Identity, patient: str = PATIENT_ID, **more: str) -> Any:
    params = {"patient.identifier": patient, "status": "current", **more}
    return dmp.client.get("/fhir/DocumentReference", params=params, headers=auth(dmp, identity))


def binary(dmp: Dmp, identity: Identity, entry_uuid: str) -> Any:
    return dmp.client.get(f"/fhir/Binary/{entry_uuid.removeprefix('urn:uuid:')}", headers=auth(dmp, identity))


def read(dmp: Dmp, identity: Identity, entry_uuid: str) -> Any:
    return dmp.client.get(
        f"/fhir/DocumentReference/{entry_uuid.removeprefix('urn:uuid:')}", headers=auth(dmp, identity)
    )


UNKNOWN = "urn:uuid:00000000-1111-2222-3333-444444444444"


def same_answer(a: Any, b: Any, hidden: str, unknown: str) -> None:
    """Two answers that tell nothing apart: same status, same issue, same text but for the id asked."""
    assert a.status_code == b.status_code
    issue_a, issue_b = a.json()["issue"][0], b.json()["issue"][0]
    assert issue_a["code"] == issue_b["code"]
    assert issue_a.get("details") == issue_b.get("details")
    strip = lambda text, uid: text.replace(uid.removeprefix("urn:uuid:"), "ID")  # noqa: E731
    assert strip(issue_a.get("diagnostics", ""), hidden) == strip(issue_b.get("diagnostics", ""), unknown)


class TestMasquePs:
    def test_hidden_from_a_consented_medecin_everywhere(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        normal = dmp.deposit(AUTHOR, document()).documents[0]
        masked = dmp.deposit(AUTHOR, document(masked=True)).documents[0]
        bundle = search(dmp, MEDECIN).json()
        assert ids(bundle) == [normal.entry_uuid.removeprefix("urn:uuid:")]
        assert bundle["total"] == 1  # not counted either
        # not found by its identifiers
        assert ids(search(dmp, MEDECIN, identifier=f"urn:oid:{masked.unique_id}").json()) == []
        assert ids(search(dmp, MEDECIN, _id=masked.entry_uuid.removeprefix("urn:uuid:")).json()) == []
        # read and retrieve answer exactly as for an id that never existed
        same_answer(
            read(dmp, MEDECIN, masked.entry_uuid), read(dmp, MEDECIN, UNKNOWN), masked.entry_uuid, UNKNOWN
        )
        assert read(dmp, MEDECIN, masked.entry_uuid).status_code == 404
        same_answer(
            binary(dmp, MEDECIN, masked.entry_uuid), binary(dmp, MEDECIN, UNKNOWN), masked.entry_uuid, UNKNOWN
        )
        assert binary(dmp, MEDECIN, masked.entry_uuid).status_code == 404
        # nor as a member of its SubmissionSet
        lists = dmp.client.get(
            "/fhir/List",
            params={"patient.identifier": PATIENT_ID, "status": "current", "code": "submissionset"},
            headers=auth(dmp, MEDECIN),
        ).json()
        members = {e["item"]["reference"] for r in entries(lists) for e in r.get("entry", [])}
        assert f"DocumentReference/{masked.entry_uuid.removeprefix('urn:uuid:')}" not in members
        assert f"DocumentReference/{normal.entry_uuid.removeprefix('urn:uuid:')}" in members

    def test_its_author_sees_and_retrieves_it(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN, AUTHOR])
        masked = dmp.deposit(AUTHOR, document(masked=True)).documents[0]
        assert ids(search(dmp, AUTHOR).json()) == [masked.entry_uuid.removeprefix("urn:uuid:")]
        response = binary(dmp, AUTHOR, masked.entry_uuid)
        assert response.status_code == 200
        assert response.content == CONTENT


class TestOutsideTheCareTeam:
    def test_refused_without_revealing_anything(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        doc = dmp.deposit(AUTHOR, document()).documents[0]
        response = search(dmp, STRANGER)
        assert response.status_code == 403
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["details"]["coding"][0]["code"] == "DMPAccessDenied"
        assert doc.entry_uuid.removeprefix("urn:uuid:") not in response.text
        # a known and an unknown document: one answer
        same_answer(
            binary(dmp, STRANGER, doc.entry_uuid), binary(dmp, STRANGER, UNKNOWN), doc.entry_uuid, UNKNOWN
        )
        same_answer(
            read(dmp, STRANGER, doc.entry_uuid), read(dmp, STRANGER, UNKNOWN), doc.entry_uuid, UNKNOWN
        )
        assert binary(dmp, STRANGER, doc.entry_uuid).status_code in (403, 404)
        assert CONTENT not in binary(dmp, STRANGER, doc.entry_uuid).content

    def test_break_glass_without_reason_is_refused(self, dmp: Dmp) -> None:
        dmp.record()
        doc = dmp.deposit(AUTHOR, document()).documents[0]
        no_reason = dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS)
        response = search(dmp, no_reason)
        assert response.status_code == 403
        assert "reason" in response.json()["issue"][0]["diagnostics"]
        assert binary(dmp, no_reason, doc.entry_uuid).status_code == 403

    def test_break_glass_with_reason_reads(self, dmp: Dmp) -> None:
        dmp.record()
        doc = dmp.deposit(AUTHOR, document()).documents[0]
        masked = dmp.deposit(AUTHOR, document(masked=True)).documents[0]
        urgent = dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason="patient inconscient")
        assert ids(search(dmp, urgent).json()) == [doc.entry_uuid.removeprefix("urn:uuid:")]
        assert binary(dmp, urgent, doc.entry_uuid).content == CONTENT
        assert binary(dmp, urgent, masked.entry_uuid).status_code == 404  # MASQUE_PS stays hidden


class TestRemoved:
    def test_a_removed_document_answers_like_an_unknown_one(self, dmp: Dmp) -> None:
        """In the DMP profiles the concealment rule wins over MHD's 410: nothing tells an id once existed."""
        dmp.record(authorised=[MEDECIN])
        submission = dmp.deposit(AUTHOR, document())
        doc = submission.documents[0]
        assert binary(dmp, MEDECIN, doc.entry_uuid).status_code == 200
        removed = soap_policy.TestRemoval()._delete(
            dmp, AUTHOR, *(o.entry_uuid for o in submission.objects())
        )
        assert removed.status == SUCCESS, removed
        same_answer(
            binary(dmp, MEDECIN, doc.entry_uuid), binary(dmp, MEDECIN, UNKNOWN), doc.entry_uuid, UNKNOWN
        )
        assert binary(dmp, MEDECIN, doc.entry_uuid).status_code == 404


class TestAnotherPatient:
    def test_never_reachable(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        dmp.record(patient=OTHER_PATIENT, authorised=[MEDECIN])
        bound_elsewhere = dataclasses.replace(MEDECIN, patient=OTHER_PATIENT)
        theirs = _deposit_for_other(dmp)
        # searching the other record with a token bound to this one: refused before any record is read
        response = search(dmp, MEDECIN, patient=OTHER_ID)
        assert response.status_code == 403
        assert response.json()["issue"][0]["details"]["coding"][0]["code"] == "DMPAccessDenied"
        # by id, from this patient's token: as unknown
        same_answer(
            read(dmp, MEDECIN, theirs.entry_uuid), read(dmp, MEDECIN, UNKNOWN), theirs.entry_uuid, UNKNOWN
        )
        assert read(dmp, MEDECIN, theirs.entry_uuid).status_code == 404
        same_answer(
            binary(dmp, MEDECIN, theirs.entry_uuid), binary(dmp, MEDECIN, UNKNOWN), theirs.entry_uuid, UNKNOWN
        )
        assert binary(dmp, MEDECIN, theirs.entry_uuid).status_code == 404
        # the token bound to the other patient reads it
        assert binary(dmp, bound_elsewhere, theirs.entry_uuid).status_code == 200


def _deposit_for_other(dmp: Dmp) -> DocumentEntry:
    """A document of the other patient, registered by its author (a token bound to that patient)."""
    doc = dataclasses.replace(document(), patient_id=OTHER_PATIENT, source_patient_id=OTHER_PATIENT)
    ss = submission_set(new_uuid(), patient_id=OTHER_PATIENT)
    submission = dataclasses.replace(
        dmp_submission(doc, ss=ss),
        associations=(member(ss.entry_uuid, doc.entry_uuid, entry_uuid=new_uuid()),),
    )
    answer = dmp.register(dataclasses.replace(AUTHOR, patient=OTHER_PATIENT), submission)
    assert answer.status == SUCCESS, answer
    path = dmp.services.settings.data_dir / "content.bin"
    path.write_bytes(CONTENT)
    assert dmp.services.blobs is not None
    dmp.services.blobs.put_file(hashlib.sha1(CONTENT).hexdigest(), path)
    return doc


def test_patient_dmp_cx_forms_name_one_patient(dmp: Dmp) -> None:
    dmp.record(authorised=[MEDECIN])
    doc = dmp.deposit(AUTHOR, document()).documents[0]
    for params in (
        {"patient.identifier": PATIENT_ID},
        {"patient": f"Patient/{NIR_OID}-{INS}"},
    ):
        response = dmp.client.get(
            "/fhir/DocumentReference", params={**params, "status": "current"}, headers=auth(dmp, MEDECIN)
        )
        assert ids(response.json()) == [doc.entry_uuid.removeprefix("urn:uuid:")], params
    assert DMP_PATIENT.startswith(INS)
