"""Professionnels and Paramètres: each action through the portal has its effect on the policy, seen from
the other faces (a blocked professional's ITI-67 is refused, a refused break-glass access fails over
SOAP), is traced as PATIENT-API like its FHIR twin, and closing or opposing needs the confirmation."""

from __future__ import annotations

import dataclasses
from html import unescape

from tests.audit.test_fhir_trail import dmp as dmp
from tests.audit.test_fhir_trail import patient_token, token
from tests.audit.trail import events
from tests.core.builders import DMP_PATIENT, INS
from tests.e2e.test_dmp_policy import AUTHOR, MEDECIN, STRANGER, SUCCESS, Dmp, document
from tests.portal.helpers import login, page, post, status_text
from xds_server.core.policy import AccessMode
from xds_server.core.professionals import Professional, Site
from xds_server.storage.database import Database
from xds_server.storage.professionals import SqlProfessionalDirectory
from xds_server.storage.records import SqlRecordStore

DOCTOR = Professional(
    MEDECIN.national_id, "MARTIN", "Claire", "10", "Médecin", (Site("Cabinet", "69003", "Lyon"),)
)


def directory(database: Database) -> None:
    with database.transaction() as connection:
        SqlProfessionalDirectory(connection).replace([DOCTOR])


def iti67(dmp: Dmp) -> int:
    return dmp.client.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": f"urn:oid:1.2.250.1.213.1.4.8|{INS}", "status": "current"},
        headers=token(dmp, identity=MEDECIN),
    ).status_code


def test_search_block_and_unblock(dmp: Dmp) -> None:
    dmp.record(authorised=[MEDECIN])
    directory(dmp.database)
    dmp.deposit(AUTHOR, document())
    assert iti67(dmp) == 200
    login(dmp, DMP_PATIENT)
    found = unescape(page(dmp.client, "professionnels?nom=mart&lieu=Lyon").text)
    assert "Claire MARTIN" in found and MEDECIN.national_id in found
    assert "Claire MARTIN" in unescape(page(dmp.client, "professionnels?nom=martin&lieu=69003").text)
    bad = unescape(page(dmp.client, "professionnels?nom=m&lieu=Lyon").text)
    assert "au moins deux lettres" in bad
    answer = post(dmp.client, "professionnels/bloquer", {"idnps": MEDECIN.national_id})
    assert answer.status_code == 303
    after = unescape(page(dmp.client, "professionnels").text)
    assert "ne peut plus accéder" in status_text(after)
    assert iti67(dmp) == 403  # blocked over FHIR too
    post(dmp.client, "professionnels/debloquer", {"idnps": MEDECIN.national_id})
    assert iti67(dmp) == 200
    changes = events(dmp.database, "PATIENT-API")
    assert [e.outcome for e in changes].count(0) >= 2


def test_revoke_and_administrator(dmp: Dmp) -> None:
    dmp.record(authorised=[MEDECIN])
    login(dmp, DMP_PATIENT)
    post(dmp.client, "professionnels/revoquer", {"idnps": MEDECIN.national_id})
    post(dmp.client, "professionnels/administrateur", {"idnps": STRANGER.national_id, "action": "ajouter"})
    consents = dmp.client.get("/fhir/Consent", headers=patient_token(dmp)).json()
    ids = {e["resource"]["id"] for e in consents.get("entry", [])}
    assert f"authorised-{MEDECIN.national_id}" not in ids
    assert f"administrator-{STRANGER.national_id}" in ids
    post(dmp.client, "professionnels/administrateur", {"idnps": STRANGER.national_id, "action": "retirer"})
    consents = dmp.client.get("/fhir/Consent", headers=patient_token(dmp)).json()
    assert f"administrator-{STRANGER.national_id}" not in {e["resource"]["id"] for e in consents["entry"]}


def test_refusing_break_glass_refuses_it_over_soap(dmp: Dmp) -> None:
    dmp.record()
    login(dmp, DMP_PATIENT)
    urgent = dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason="urgence vitale")
    assert dmp.find(urgent).status == SUCCESS
    answer = post(dmp.client, "parametres/urgence", {"samu": "oui", "bris_de_glace": "non"})
    assert answer.status_code == 303
    html = unescape(page(dmp.client, "parametres").text)
    assert "accès en urgence sont enregistrés" in status_text(html)
    assert 'id="bdg-non" name="bris_de_glace" value="non" checked' in html
    assert dmp.find(urgent).status != SUCCESS


def test_contact_email(dmp: Dmp) -> None:
    dmp.record()
    login(dmp, DMP_PATIENT)
    post(dmp.client, "parametres/email", {"email": "moi@example.org"})
    with dmp.database.transaction(readonly=True) as connection:
        assert SqlRecordStore(connection).contact_email(DMP_PATIENT) == "moi@example.org"
    refused = post(dmp.client, "parametres/email", {"email": "pas une adresse"})
    assert refused.status_code == 303
    assert "pas valide" in unescape(status_text(page(dmp.client, "parametres").text))
    with dmp.database.transaction(readonly=True) as connection:
        assert SqlRecordStore(connection).contact_email(DMP_PATIENT) == "moi@example.org"


def test_opposition_needs_confirmation_then_hides_the_record(dmp: Dmp) -> None:
    dmp.record(authorised=[MEDECIN])
    dmp.deposit(AUTHOR, document())
    login(dmp, DMP_PATIENT)
    confirm = unescape(page(dmp.client, "parametres/opposition").text)
    assert "aucune consultation, même en urgence" in confirm and "Confirmer l'opposition" in confirm
    unconfirmed = post(dmp.client, "parametres/opposition", {})
    assert unconfirmed.headers["location"].endswith("/parametres/opposition")
    assert iti67(dmp) == 200
    done = post(dmp.client, "parametres/opposition", {"confirmer": "oui"})
    assert done.status_code == 303
    assert iti67(dmp) != 200  # the record no longer exists for professionals
    html = unescape(page(dmp.client, "parametres").text)
    assert "opposé" in html and "Réactiver mon profil" in html
    post(dmp.client, "parametres/reactiver", {})
    assert iti67(dmp) == 200


def test_closing_needs_confirmation(dmp: Dmp) -> None:
    dmp.record()
    login(dmp, DMP_PATIENT)
    assert "messagerie" in unescape(page(dmp.client, "parametres/cloture").text)
    post(dmp.client, "parametres/cloture", {"confirmer": "oui"})
    assert "clôturé" in unescape(page(dmp.client, "parametres").text)
