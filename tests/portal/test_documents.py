"""Login, session, CSRF and the Documents pages: what the patient sees, and that each action has the
same effect as its FHIR twin (a masked document disappears for another professional's ITI-67)."""

from __future__ import annotations

import re

from tests.audit.test_fhir_trail import dmp as dmp
from tests.audit.test_fhir_trail import patient_token, token
from tests.core.builders import DMP_PATIENT, INS
from tests.e2e.test_dmp_policy import AUTHOR, MEDECIN, OTHER_INS, Dmp, document
from tests.portal.helpers import BASE, csrf, login, page, post, status_text

OTHER = f"{OTHER_INS}^^^&1.2.250.1.213.1.4.8&ISO^NH"


def titles(html: str) -> list[str]:
    return re.findall(r'<a href="/espace-sante/documents/[0-9a-f-]+">([^<]+)</a>', html)


def doc_ids(html: str) -> list[str]:
    return re.findall(r'<a href="/espace-sante/documents/([0-9a-f-]+)">', html)


def fhir_ids(dmp: Dmp, headers: dict[str, str]) -> set[str]:
    response = dmp.client.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": f"urn:oid:1.2.250.1.213.1.4.8|{INS}", "status": "current"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return {e["resource"]["id"] for e in response.json().get("entry", [])}


class TestLogin:
    def test_root_and_home_lead_to_the_login(self, dmp: Dmp) -> None:
        assert dmp.client.get("/", follow_redirects=False).headers["location"] == f"{BASE}/"
        home = dmp.client.get(f"{BASE}/", follow_redirects=False)
        assert home.status_code == 303 and home.headers["location"] == f"{BASE}/connexion"
        assert page(dmp.client, "documents").url.path == f"{BASE}/connexion"

    def test_dev_login_lists_the_directory_and_logs_in(self, dmp: Dmp) -> None:
        dmp.record()
        form = page(dmp.client, "connexion")
        assert '<html lang="fr">' in form.text and INS in form.text and "Se connecter" in form.text
        answer = login(dmp, DMP_PATIENT)
        assert answer.status_code == 303 and answer.headers["location"] == f"{BASE}/documents"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" not in cookie
        shown = page(dmp.client, "documents")
        assert shown.status_code == 200 and "Vous êtes connecté." in shown.text

    def test_a_patient_without_record_cannot_log_in(self, dmp: Dmp) -> None:
        assert login(dmp, OTHER).status_code == 403

    def test_dev_login_needs_the_csrf_token(self, dmp: Dmp) -> None:
        dmp.record()
        page(dmp.client, "connexion")
        refused = post(dmp.client, "connexion/dev", {"ins": DMP_PATIENT}, token="forged")
        assert refused.status_code == 403
        assert page(dmp.client, "documents").url.path == f"{BASE}/connexion"

    def test_a_forged_cookie_is_no_session(self, dmp: Dmp) -> None:
        dmp.record()
        login(dmp, DMP_PATIENT)
        dmp.client.cookies.set("espace_sante", "e30.forged.signature", path="/espace-sante")
        assert page(dmp.client, "documents").url.path == f"{BASE}/connexion"

    def test_logout(self, dmp: Dmp) -> None:
        dmp.record()
        login(dmp, DMP_PATIENT)
        answer = post(dmp.client, "deconnexion")
        assert answer.status_code == 303
        assert page(dmp.client, "documents").url.path == f"{BASE}/connexion"


class TestDocuments:
    def test_lists_the_records_documents_but_never_invisible_patient(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        visible, hidden = document(), document()
        from tests.core.builders import code
        from xds_server.core.vocabulary import DMP_VISIBILITY_OID

        invisible = (*hidden.confidentiality_codes, code("INVISIBLE_PATIENT", DMP_VISIBILITY_OID))
        import dataclasses

        dmp.deposit(AUTHOR, visible, dataclasses.replace(hidden, confidentiality_codes=invisible))
        login(dmp, DMP_PATIENT)
        html = page(dmp.client, "documents").text
        assert len(doc_ids(html)) == 1
        assert doc_ids(html)[0] == visible.entry_uuid.removeprefix("urn:uuid:")
        # the hidden one answers like an unknown id
        hidden_page = page(dmp.client, f"documents/{hidden.entry_uuid.removeprefix('urn:uuid:')}")
        assert hidden_page.status_code == 404
        assert page(dmp.client, "documents/00000000-0000-0000-0000-000000000000").status_code == 404

    def test_document_page_and_inline_pdf(self, dmp: Dmp) -> None:
        dmp.record()
        doc = document()
        dmp.deposit(AUTHOR, doc)
        login(dmp, DMP_PATIENT)
        doc_id = doc.entry_uuid.removeprefix("urn:uuid:")
        shown = page(dmp.client, f"documents/{doc_id}")
        assert shown.status_code == 200
        content = page(dmp.client, f"documents/{doc_id}/contenu")
        assert content.status_code == 200 and content.content.startswith(b"%PDF")

    def test_mask_one_hides_it_from_a_consented_professional(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        doc = document()
        dmp.deposit(AUTHOR, doc)
        medecin = token(dmp, identity=MEDECIN)
        before = fhir_ids(dmp, medecin)
        assert len(before) == 1
        login(dmp, DMP_PATIENT)
        doc_id = doc.entry_uuid.removeprefix("urn:uuid:")
        answer = post(dmp.client, f"documents/{doc_id}/masquage", {"masquer": "oui"})
        assert answer.status_code == 303 and answer.headers["location"] == f"{BASE}/documents"
        after = page(dmp.client, "documents").text
        assert "Le document est masqué aux professionnels." in status_text(after)
        assert "Masqué aux professionnels</span>" in after
        assert fhir_ids(dmp, medecin) == set()  # gone from the médecin's ITI-67
        assert len(fhir_ids(dmp, patient_token(dmp))) == 1  # still the patient's
        post(dmp.client, f"documents/{doc_id}/masquage", {"masquer": "non"})
        assert len(fhir_ids(dmp, medecin)) == 1

    def test_mask_all_and_show_all(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        dmp.deposit(AUTHOR, document(), document())
        medecin = token(dmp, identity=MEDECIN)
        login(dmp, DMP_PATIENT)
        answer = post(dmp.client, "documents/masquage", {"masquer": "oui"})
        assert answer.status_code == 303
        assert "2 document(s) masqué(s)" in status_text(page(dmp.client, "documents").text)
        assert fhir_ids(dmp, medecin) == set()
        post(dmp.client, "documents/masquage", {"masquer": "non"})
        assert len(fhir_ids(dmp, medecin)) == 2

    def test_a_post_without_a_valid_token_changes_nothing(self, dmp: Dmp) -> None:
        dmp.record(authorised=[MEDECIN])
        dmp.deposit(AUTHOR, document())
        medecin = token(dmp, identity=MEDECIN)
        login(dmp, DMP_PATIENT)
        assert post(dmp.client, "documents/masquage", {"masquer": "oui"}, token="wrong").status_code == 403
        assert dmp.client.post(f"{BASE}/documents/masquage", data={"masquer": "oui"}).status_code == 403
        good = csrf(page(dmp.client, "documents").text)
        cross = post(
            dmp.client, "documents/masquage", {"masquer": "oui"}, token=good, origin="https://evil.example"
        )
        assert cross.status_code == 403
        assert len(fhir_ids(dmp, medecin)) == 1

    def test_search_and_category_filters(self, dmp: Dmp) -> None:
        dmp.record()
        dmp.deposit(AUTHOR, document())
        login(dmp, DMP_PATIENT)
        html = page(dmp.client, "documents").text
        title = titles(html)[0]
        assert titles(page(dmp.client, f"documents?q={title[:4]}").text) == [title]
        assert titles(page(dmp.client, "documents?q=zzzz-nothing").text) == []
