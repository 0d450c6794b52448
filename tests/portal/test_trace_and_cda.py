"""The portal's requests are traced like their FHIR twins (same transaction kinds, the patient as the
user, fail closed), and CDA documents are rendered through the locked-down XSLT."""

from __future__ import annotations

import pytest

from tests.audit.test_fhir_trail import dmp as dmp
from tests.audit.trail import events, user
from tests.core.builders import DMP_PATIENT
from tests.e2e.test_dmp_policy import AUTHOR, MEDECIN, Dmp, document
from tests.portal.helpers import login, page, post
from xds_server.portal.cda import render_cda


def test_pages_and_actions_are_traced_like_the_fhir_patient_api(dmp: Dmp) -> None:
    dmp.record(authorised=[MEDECIN])
    doc = document()
    dmp.deposit(AUTHOR, doc)
    login(dmp, DMP_PATIENT)
    page(dmp.client, "documents")
    doc_id = doc.entry_uuid.removeprefix("urn:uuid:")
    page(dmp.client, f"documents/{doc_id}")
    post(dmp.client, f"documents/{doc_id}/masquage", {"masquer": "oui"})
    listed = events(dmp.database, "ITI-67")
    assert listed and all(e.patient_id == DMP_PATIENT for e in listed)
    assert all(user(e.json())["who"]["identifier"]["value"] == DMP_PATIENT for e in listed)
    read = events(dmp.database, "ITI-68")
    assert len(read) == 1 and read[0].outcome == 0
    masked = events(dmp.database, "PATIENT-API")
    assert len(masked) == 1 and masked[0].outcome == 0 and masked[0].patient_id == DMP_PATIENT
    resource = masked[0].json()
    assert any(a.get("requestor") for a in resource["agent"])


def test_a_refused_page_is_traced_as_a_failure(dmp: Dmp) -> None:
    dmp.record()
    login(dmp, DMP_PATIENT)
    assert page(dmp.client, "documents/00000000-0000-0000-0000-000000000000").status_code == 404
    read = events(dmp.database, "ITI-68")
    assert len(read) == 1 and read[0].outcome == 8


def test_fail_closed_when_the_trail_cannot_be_written(dmp: Dmp, monkeypatch: pytest.MonkeyPatch) -> None:
    dmp.record()
    dmp.deposit(AUTHOR, document())
    login(dmp, DMP_PATIENT)
    from xds_server.storage.audit import SqlAuditStore

    def broken(self: object, record: object) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(SqlAuditStore, "append", broken)
    with pytest.raises(Exception):  # noqa: B017 - the TestClient re-raises the server error
        page(dmp.client, "documents")


CDA = b"""<?xml version="1.0"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
 <effectiveTime value="20240102"/>
 <component><structuredBody><component><section>
  <title>Conclusion</title>
  <text><paragraph onclick="alert(1)" style="x">Tout va bien &lt;script&gt;alert(2)&lt;/script&gt;</paragraph>
   <list listType="ordered"><item>un</item></list>
   <table><thead><tr><th>Examen</th></tr></thead><tbody><tr><td>IRM</td></tr></tbody></table>
   <linkHtml href="javascript:alert(3)">lien</linkHtml>
   <renderMultiMedia referencedObject="x"/>
  </text>
 </section></component></structuredBody></component>
</ClinicalDocument>"""


def test_cda_rendering_is_escaped_and_allow_listed() -> None:
    html = str(render_cda(CDA))
    assert "<h3>Conclusion</h3>" in html and "<ol><li>un</li></ol>" in html
    assert '<th scope="col">Examen</th>' in html
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "onclick" not in html and "style" not in html and "javascript:" not in html
    assert "href" not in html


def test_cda_with_a_doctype_or_external_loads_is_not_rendered(tmp_path: object) -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        + CDA.split(b"?>", 1)[1]
    )
    assert render_cda(xxe) is None
    assert render_cda(b"<not-a-cda/>") is None
    assert render_cda(b"\x00garbage") is None
