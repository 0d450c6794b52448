"""ITI-57 and ITI-62 with the patient spelled each accepted way, in the assertion and in the request
(``dmp-test`` profile, real SOAP endpoint; one fresh registry per test, SQLite and PostgreSQL). The
attacker's side: the other patient with the same 15 characters (test authority) reaches nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.e2e.spellings import CANONICAL, CASE_IDS, CASES, FORMS, Fed, feed, other_form, query
from tests.e2e.test_dmp_policy import AUTHOR, FAILURE, MEDECIN, NS, SUCCESS, Answer, Dmp, _answer, envelope
from tests.identity_helpers import install_authority
from tests.update.registry import next_version, status_update, update_request
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.metadata import DocumentEntry, LocalizedText
from xds_server.core.query.queries import FindDocuments
from xds_server.core.vocabulary import SoapAction
from xds_server.ebxml.encoding import encode_submission
from xds_server.identity.dev_authority import Identity
from xds_server.storage.database import Database

APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
OTHER = {"production": "test", "test": "production"}


def as_patient(identity: Identity, spelled: str) -> Identity:
    return dataclasses.replace(identity, patient=spelled)


@pytest.fixture
def dmp(database: Database, tmp_path: Path) -> Iterator[Dmp]:
    app = create_app(Settings(data_dir=tmp_path, profile="dmp-test"), database=database)
    authority = install_authority(tmp_path)
    with TestClient(app) as client:
        dmp = Dmp(client, database, authority, app.state.services)
        for canonical in CANONICAL.values():
            dmp.record(patient=canonical, authorised=[MEDECIN])
        yield dmp


def update(dmp: Dmp, by: Identity, original: DocumentEntry, spelled: str, **changes: object) -> Answer:
    """ITI-57: a new version of ``original``, the SubmissionSet and the version spelling the patient so."""
    new = next_version(original, original.entry_uuid, "NewVersion01", patient_id=spelled, **changes)
    request = update_request(new, patient_id=spelled)
    return _answer(
        dmp.post(by, envelope(SoapAction.UPDATE, encode_submission(request))), "env:Body/rs:RegistryResponse"
    )


def deprecate(dmp: Dmp, by: Identity, original: DocumentEntry, spelled: str) -> Answer:
    request = update_request(associations=[status_update(original.entry_uuid)], patient_id=spelled)
    return _answer(
        dmp.post(by, envelope(SoapAction.UPDATE, encode_submission(request))), "env:Body/rs:RegistryResponse"
    )


def remove(dmp: Dmp, by: Identity, *entry_uuids: str) -> Answer:
    refs = "".join(f'<rim:ObjectRef id="{u}"/>' for u in entry_uuids)
    body = (
        f'<lcm:RemoveObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" '
        f'xmlns:rim="{NS["rim"]}"><rim:ObjectRefList>{refs}</rim:ObjectRefList></lcm:RemoveObjectsRequest>'
    )
    return _answer(dmp.post(by, envelope(SoapAction.DELETE, body)), "env:Body/rs:RegistryResponse")


def find(dmp: Dmp, patient: str) -> Answer:
    params = {
        "$XDSDocumentEntryPatientId": f"'{CANONICAL[patient]}'",
        "$XDSDocumentEntryStatus": f"('{APPROVED}')",
    }
    return query(
        dmp, as_patient(MEDECIN, CANONICAL[patient]), FindDocuments.query_id, params, return_type="LeafClass"
    )


def fed_canonically(dmp: Dmp, patient: str) -> Fed:
    return feed(dmp, as_patient(AUTHOR, CANONICAL[patient]), CANONICAL[patient])


# ---- ITI-57 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("patient", "form"), CASES, ids=CASE_IDS)
def test_update_with_the_patient_in_each_spelling(dmp: Dmp, patient: str, form: str) -> None:
    """The author's new version, the request spelling the patient ``form`` and the assertion another way."""
    fed = fed_canonically(dmp, patient)
    by = as_patient(AUTHOR, other_form(patient, form))
    answer = update(dmp, by, fed.document, FORMS[patient][form], title=LocalizedText("retitled"))
    assert answer.status == SUCCESS, answer
    found = find(dmp, patient)
    assert len(found.ids) == 1 and found.ids != (fed.document.entry_uuid,)  # the new version only
    assert b"retitled" in found.xml


@pytest.mark.parametrize(("patient", "form"), CASES, ids=CASE_IDS)
def test_status_update_with_the_assertion_in_each_spelling(dmp: Dmp, patient: str, form: str) -> None:
    fed = fed_canonically(dmp, patient)
    answer = deprecate(dmp, as_patient(AUTHOR, FORMS[patient][form]), fed.document, other_form(patient, form))
    assert answer.status == SUCCESS, answer
    assert find(dmp, patient).ids == ()


@pytest.mark.parametrize(("patient", "form"), CASES, ids=CASE_IDS)
def test_update_naming_another_patient_reaches_nothing(dmp: Dmp, patient: str, form: str) -> None:
    """The author of a document of the other patient (same 15 characters, other authority) sends its new
    version under this patient's spelling: refused, and the other record is unchanged."""
    fed = fed_canonically(dmp, OTHER[patient])
    spelled = FORMS[patient][form]
    answer = update(dmp, as_patient(AUTHOR, spelled), fed.document, spelled, title=LocalizedText("hijacked"))
    assert answer.status == FAILURE and answer.codes == ("XDSMetadataVersionError",), answer  # unknown lid
    unchanged = find(dmp, OTHER[patient])
    assert unchanged.ids == (fed.document.entry_uuid,) and b"hijacked" not in unchanged.xml


# ---- ITI-62 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("patient", "form"), CASES, ids=CASE_IDS)
def test_removal_with_the_assertion_in_each_spelling(dmp: Dmp, patient: str, form: str) -> None:
    fed = fed_canonically(dmp, patient)
    everything = (fed.submission_set, fed.document.entry_uuid, fed.folder, *fed.associations)
    answer = remove(dmp, as_patient(AUTHOR, FORMS[patient][form]), *everything)
    assert answer.status == SUCCESS, answer
    assert find(dmp, patient).ids == ()


@pytest.mark.parametrize(("patient", "form"), CASES, ids=CASE_IDS)
def test_removal_bound_to_another_patient_is_refused(dmp: Dmp, patient: str, form: str) -> None:
    """The author asserting this patient, in any spelling, cannot remove the other patient's objects: they do
    not exist for him."""
    fed = fed_canonically(dmp, OTHER[patient])
    answer = remove(dmp, as_patient(AUTHOR, FORMS[patient][form]), fed.document.entry_uuid)
    assert answer.status == FAILURE and answer.codes == ("UnresolvedReferenceException",), answer
    assert find(dmp, OTHER[patient]).ids == (fed.document.entry_uuid,)
