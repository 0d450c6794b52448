"""Historique and Notifications: the trail as the patient sees it (the same search as GET
/fhir/AuditEvent), emergency accesses highlighted with their mode and reason, filters; the notices."""

from __future__ import annotations

import dataclasses
import re
from html import unescape

from tests.audit.test_fhir_trail import OTHER_PATIENT
from tests.audit.test_fhir_trail import dmp as dmp
from tests.audit.trail import events
from tests.core.builders import DMP_PATIENT
from tests.e2e.test_dmp_policy import (
    APPROVED,
    AUTHOR,
    FIND_DOCUMENTS,
    MEDECIN,
    STRANGER,
    Dmp,
    document,
)
from tests.portal.helpers import login, page
from xds_server.core.policy import AccessMode

REASON = "patient inconscient aux urgences"


def rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1] if "<tbody>" in html else ""
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)


def test_the_trail_with_an_emergency_access_highlighted(dmp: Dmp) -> None:
    dmp.record(authorised=[MEDECIN])
    dmp.deposit(AUTHOR, document())
    dmp.find(MEDECIN)
    dmp.find(dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason=REASON))
    login(dmp, DMP_PATIENT)
    html = page(dmp.client, "historique").text
    shown = rows(html)
    assert len(shown) == 3  # the deposit (ITI-42), the médecin's and the urgentiste's queries, newest first
    assert 'class="urgence"' in html and f"Motif : « {REASON} »" in html and "bris de glace" in html
    assert STRANGER.national_id in shown[0] and "Médecin" in shown[0]
    assert "a ajouté un document" in shown[-1]
    assert len(events(dmp.database, "ITI-81")) == 1  # the page itself is traced like the FHIR search

    only = rows(page(dmp.client, "historique?urgence=oui").text)
    assert len(only) == 1 and REASON in only[0]
    mine = rows(page(dmp.client, f"historique?professionnel={MEDECIN.national_id}").text)
    assert len(mine) == 1 and MEDECIN.national_id in mine[0]
    none = rows(page(dmp.client, "historique?depuis=2001-01-01&jusqua=2001-01-02").text)
    assert none == []


def test_another_patients_trail_never_shows(dmp: Dmp) -> None:
    dmp.record(authorised=[MEDECIN])
    dmp.record(patient=OTHER_PATIENT, authorised=[MEDECIN])
    other = dataclasses.replace(STRANGER, patient=OTHER_PATIENT)
    dmp.query(
        other,
        FIND_DOCUMENTS,
        {"$XDSDocumentEntryPatientId": f"'{OTHER_PATIENT}'", "$XDSDocumentEntryStatus": f"('{APPROVED}')"},
    )
    assert [e.patient_id for e in events(dmp.database, "ITI-18")] == [OTHER_PATIENT]
    login(dmp, DMP_PATIENT)
    html = page(dmp.client, "historique").text
    assert STRANGER.national_id not in html and rows(html) == []


def test_notifications_list_the_notices(dmp: Dmp) -> None:
    dmp.record(authorised=[MEDECIN])
    dmp.deposit(AUTHOR, document())
    dmp.find(dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason=REASON))
    login(dmp, DMP_PATIENT)
    html = unescape(page(dmp.client, "notifications").text)
    assert "un nouveau document a été ajouté" in html
    assert "accès en urgence à votre dossier" in html and REASON in html
    assert "en attente d'envoi" in html
