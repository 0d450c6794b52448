"""The seeded record as the FHIR API shows it to professionals, before any page is opened: the facts the
browser tests build on (if one breaks, the others would fail for a reason that is not the portal's)."""

from __future__ import annotations

import pytest

from tests.browser.seed import LEFEVRE, MARIE, MESSAGE_SUBJECT, Portal
from xds_server.core.policy import AccessMode
from xds_server.demo import RADIOLOGUE, URGENTISTE

pytestmark = pytest.mark.slow


def test_what_the_professionals_see(portal: Portal) -> None:
    radiologue = portal.titles_seen_by(RADIOLOGUE, MARIE.nir)
    assert "Compte rendu de soins infirmiers" in radiologue
    assert "Consultation de psychiatrie" not in radiologue  # MASQUE_PS, written by another
    assert portal.iti67(LEFEVRE, MARIE.nir).status_code == 200  # authorised by the seed


def test_break_glass_is_allowed_until_refused(portal: Portal) -> None:
    answer = portal.iti67(URGENTISTE, MARIE.nir, AccessMode.BREAK_GLASS, "contrôle")
    assert answer.status_code == 200, answer.text
    assert portal.consents(MARIE.nir)["break-glass"] == "permit"


def test_the_message_arrived(portal: Portal) -> None:
    with portal.patient_api(MARIE.nir) as client:
        answer = client.get("/Communication")
    assert answer.status_code == 200, answer.text
    assert MESSAGE_SUBJECT in [e["resource"]["topic"]["text"] for e in answer.json().get("entry", [])]
