"""One real trail as the patient sees it (``GET /fhir/AuditEvent`` with his token), after a professional's
first access, a new document, a break-glass access with its reason and a masking change, all through the
real SOAP transactions. With ``XDS_TRAIL_SAMPLE=FILE`` set, the Bundle is also written to FILE (the sample
of the issue's closing note)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from tests.audit.test_fhir_trail import dmp as dmp
from tests.audit.test_fhir_trail import entries, patient_token, search, subtype
from tests.core.builders import code
from tests.e2e import test_dmp_policy as policy_e2e
from tests.e2e.test_dmp_policy import AUTHOR, MEDECIN, STRANGER, Dmp, document
from xds_server.core.policy import AccessMode
from xds_server.core.vocabulary import DMP_VISIBILITY_OID

REASON = "patient inconscient aux urgences, pronostic vital engagé"


def test_the_patients_view_of_his_trail(dmp: Dmp) -> None:
    dmp.record(authorised=[MEDECIN])
    doc = document()
    dmp.deposit(AUTHOR, doc)  # a new document (and the author's first access)
    dmp.find(MEDECIN)  # the médecin's first access
    dmp.find(dataclasses.replace(STRANGER, mode=AccessMode.BREAK_GLASS, reason=REASON))
    masked = (*doc.confidentiality_codes, code("MASQUE_PS", DMP_VISIBILITY_OID))
    update = policy_e2e.TestMaskingUpdate()._update(dmp, AUTHOR, doc, confidentiality_codes=masked)
    assert update.status == policy_e2e.SUCCESS  # the masking change
    status, bundle = search(dmp, patient_token(dmp))
    assert status == 200
    shown = entries(bundle)
    assert [subtype(r) for r in shown] == ["ITI-57", "ITI-18", "ITI-18", "ITI-42"]
    users = [next(a for a in r["agent"] if a.get("requestor"))["who"]["identifier"]["value"] for r in shown]
    assert users == [AUTHOR.national_id, STRANGER.national_id, MEDECIN.national_id, AUTHOR.national_id]
    emergency = shown[1]["purposeOfEvent"][0]
    assert emergency["coding"][0]["code"] == "ETREAT" and emergency["text"] == REASON
    labels = [c["code"] for e in shown[0]["entity"] for c in e.get("securityLabel", [])]
    assert "MASQUE_PS" in labels
    target = os.environ.get("XDS_TRAIL_SAMPLE")
    if target:
        Path(target).write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
