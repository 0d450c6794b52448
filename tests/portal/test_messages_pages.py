"""Messages: a professional's conversation seen, read (marked read, receipt queued once), answered; the
[FIN] conversation marked closed with no reply form, a forged reply refused; an ordonnance sent to an
eligible pharmacy; an attachment saved into the record (then listed in Documents); a representative has
no mailbox. Everything through the mailbox use cases of the FHIR Communication routes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

from tests.audit.test_fhir_trail import dmp as dmp
from tests.audit.test_fhir_trail import patient_token
from tests.audit.trail import events
from tests.core.builders import DMP_PATIENT, INS
from tests.e2e.test_dmp_policy import AUTHOR, Dmp, document
from tests.mailbox.helpers import professional_message
from tests.portal.helpers import csrf, login, page, post, status_text
from xds_server.core.mailbox import DirectoryEntry, MailboxKind
from xds_server.mailbox.delivery import deliver
from xds_server.storage.mailbox import SqlMailbox

DOCTOR = DirectoryEntry("dr.martin@chu.mssante.fr", "810000000001", MailboxKind.PERSONAL, "Dr Martin")
PHARMACY = DirectoryEntry(
    "pharmacie@officine.mssante.fr", "3900000000002", MailboxKind.ORGANISATIONAL, "Pharmacie Centrale",
    pharmacy=True, finess="750000001",
)  # fmt: skip
ADDRESS = f"{INS}@patient.mssante.fr"


def setup(dmp: Dmp) -> None:
    dmp.record()
    now = datetime.now(UTC)
    with dmp.database.transaction() as connection:
        store = SqlMailbox(connection)
        store.directory_add(DOCTOR, None, now)
        store.directory_add(PHARMACY, None, now)
        store.history_add(DMP_PATIENT, PHARMACY.address, None, now)


def send(dmp: Dmp, subject: str, body: str, **more: object) -> str:
    message_id, raw = professional_message(DOCTOR.address, ADDRESS, subject, body, **more)  # type: ignore[arg-type]
    delivered = deliver(dmp.services, DOCTOR, [ADDRESS], raw, datetime.now(UTC))
    assert delivered.messages, delivered
    return message_id


def conversation_ids(html: str) -> list[str]:
    return re.findall(r'<a href="/espace-sante/messages/([0-9a-f-]{36})">', html)


def test_read_and_reply(dmp: Dmp) -> None:
    setup(dmp)
    send(dmp, "Résultats", "Vos résultats sont normaux.", receipt=True)
    login(dmp, DMP_PATIENT)
    listing = page(dmp.client, "messages").text
    (cid,) = conversation_ids(listing)
    assert "1 non lu" in listing
    thread = unescape(page(dmp.client, f"messages/{cid}").text)
    assert "Vos résultats sont normaux." in thread and "Répondre" in thread
    assert "non lu" not in page(dmp.client, "messages").text
    page(dmp.client, f"messages/{cid}")  # a second read sends no second receipt
    with dmp.database.transaction(readonly=True) as connection:
        assert SqlMailbox(connection).outbox_counts().get("pending", 0) == 1  # the MDN, once
    answer = post(dmp.client, f"messages/{cid}/repondre", {"texte": "Merci docteur"}, token=csrf(thread))
    assert answer.status_code == 303
    after = unescape(page(dmp.client, f"messages/{cid}").text)
    assert "Votre réponse est envoyée." in status_text(after) and "Merci docteur" in after
    assert events(dmp.database, "PATIENT-MAILBOX")
    fhir = dmp.client.get("/fhir/Communication", headers=patient_token(dmp)).json()
    assert len([e for e in fhir["entry"] if e["resource"]["resourceType"] == "Communication"]) == 2


def test_a_closed_conversation_is_marked_and_refuses_replies(dmp: Dmp) -> None:
    setup(dmp)
    first = send(dmp, "Suivi", "Bonjour")
    send(dmp, "[FIN]", "Fin de la conversation", in_reply_to=first)
    login(dmp, DMP_PATIENT)
    listing = page(dmp.client, "messages").text
    assert "Conversation clôturée" in unescape(listing)
    (cid,) = conversation_ids(listing)
    thread = unescape(page(dmp.client, f"messages/{cid}").text)
    assert "Conversation clôturée" in thread and 'name="texte"' not in thread
    forged = post(dmp.client, f"messages/{cid}/repondre", {"texte": "encore"}, token=csrf(thread))
    assert forged.status_code == 303
    assert "clôturée" in unescape(status_text(page(dmp.client, f"messages/{cid}").text))


def test_send_an_ordonnance_to_a_pharmacy(dmp: Dmp) -> None:
    setup(dmp)
    doc = document()
    dmp.deposit(AUTHOR, doc)
    login(dmp, DMP_PATIENT)
    html = unescape(page(dmp.client, "messages").text)
    assert "Pharmacie Centrale" in html and "ordonnance papier" in html
    answer = post(
        dmp.client,
        "messages/pharmacie",
        {"pharmacie": PHARMACY.address, "document": doc.unique_id, "texte": "Bonjour, voici mon ordonnance."},
    )
    assert answer.status_code == 303
    after = unescape(page(dmp.client, "messages").text)
    assert "envoyé à la pharmacie" in status_text(after) and PHARMACY.address in after
    refused = post(dmp.client, "messages/pharmacie", {"pharmacie": DOCTOR.address, "document": doc.unique_id})
    assert refused.status_code == 303
    shown = unescape(status_text(page(dmp.client, "messages").text))
    assert shown == "Vous ne pouvez écrire en premier qu'à la messagerie d'une pharmacie."


def test_a_representative_has_no_mailbox(dmp: Dmp) -> None:
    from tests.portal.test_representative import PARENT_CX, family, years_ago

    family(dmp, years_ago(10))
    login(dmp, PARENT_CX)
    post(dmp.client, "dossier", {"ins": DMP_PATIENT})
    html = unescape(page(dmp.client, "messages").text)
    assert "réservée au titulaire" in html and 'name="texte"' not in html


def test_save_an_attachment_into_the_record(dmp: Dmp) -> None:
    setup(dmp)
    send(
        dmp, "Compte rendu", "Ci-joint", attachments=[("cr.pdf", "application/pdf", b"%PDF-1.4 compte rendu")]
    )
    login(dmp, DMP_PATIENT)
    (cid,) = conversation_ids(page(dmp.client, "messages").text)
    thread = page(dmp.client, f"messages/{cid}").text
    saved = re.search(r'action="(/espace-sante/messages/[^"]+/enregistrer)"', thread)
    assert saved is not None
    download = dmp.client.get(saved.group(1).removesuffix("/enregistrer"))
    assert download.status_code == 200 and download.content.startswith(b"%PDF")
    assert "attachment" in download.headers["content-disposition"]
    answer = post(dmp.client, saved.group(1), {}, token=csrf(thread))
    assert answer.status_code == 303
    assert "enregistrée dans vos documents" in unescape(status_text(page(dmp.client, f"messages/{cid}").text))
    assert "cr.pdf" in page(dmp.client, "documents").text
