"""From the attacker's side: whatever a logged-in patient (or someone without a session) sends to the
portal's routes, the answer is a page or a redirect, never a server error, and another record is never
reached."""

from __future__ import annotations

import pytest

from tests.audit.test_fhir_trail import OTHER_PATIENT
from tests.audit.test_fhir_trail import dmp as dmp
from tests.core.builders import DMP_PATIENT
from tests.e2e.test_dmp_policy import AUTHOR, Dmp, document
from tests.portal.helpers import BASE, csrf, login, page

NASTY = [
    "",
    "x" * 5000,
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "'; DROP TABLE patient; --",
    "\u0000\u202e",
    OTHER_PATIENT,
    "urn:uuid:00000000-0000-0000-0000-000000000000",
]
POSTS = [
    "dossier",
    "documents/masquage",
    "documents/{v}/masquage",
    "professionnels/bloquer",
    "professionnels/administrateur",
    "professionnels/{v}",
    "parametres/urgence",
    "parametres/email",
    "parametres/opposition",
    "parametres/{v}",
    "messages/pharmacie",
    "messages/{v}/repondre",
    "messages/{v}/pieces/{v}/{v}/enregistrer",
]
GETS = [
    "documents?q={v}&categorie={v}",
    "documents/{v}",
    "documents/{v}/contenu",
    "historique?depuis={v}&jusqua={v}&professionnel={v}",
    "professionnels?nom={v}&lieu={v}",
    "parametres/{v}",
    "messages?pharmacie={v}",
    "messages/{v}",
    "messages/{v}/pieces/{v}/{v}",
]
FIELDS = ("ins", "masquer", "idnps", "action", "samu", "bris_de_glace", "email", "confirmer", "pharmacie",
          "document", "texte")  # fmt: skip


@pytest.mark.parametrize("value", NASTY, ids=range(len(NASTY)))
def test_no_input_makes_a_server_error(dmp: Dmp, value: str) -> None:
    dmp.record()
    dmp.record(patient=OTHER_PATIENT)
    dmp.deposit(AUTHOR, document())
    login(dmp, DMP_PATIENT)
    token = csrf(page(dmp.client, "documents").text)
    safe = value.replace("/", "%2F").replace("?", "%3F").replace("#", "%23").replace("\u0000", "%00")
    for route in GETS:
        answer = dmp.client.get(f"{BASE}/{route.format(v=safe)}", follow_redirects=False)
        assert answer.status_code < 500, (route, value, answer.status_code)
    for route in POSTS:
        data = {name: value for name in FIELDS} | {"csrf_token": token}
        answer = dmp.client.post(f"{BASE}/{route.format(v=safe)}", data=data, follow_redirects=False)
        assert answer.status_code < 500, (route, value, answer.status_code)
    # still his own record, and the other one untouched
    assert "Dossier de <strong>" in page(dmp.client, "documents").text
    shown = page(dmp.client, "documents").text
    assert OTHER_PATIENT.split("^")[0] not in shown.split("<main", 1)[1]
