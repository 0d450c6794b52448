"""The patient mailbox end to end (issue 16): a real ``serve --dev --smtp-port`` process, professionals
writing with smtplib (STARTTLS, then AUTH or a client certificate), the patient over FHIR with his token,
and an aiosmtpd relay catching everything that leaves (delivery reports, read receipts, the patient's
messages, notices). On SQLite, and on PostgreSQL when XDS_DATABASE_URL is set.

``XDS_MAILBOX_SAMPLES=FILE`` writes the raw messages of one whole conversation and the three delivery
reports, as they crossed SMTP, to FILE (the issue's closing note quotes them).
"""

from __future__ import annotations

import base64
import os
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.mailbox.helpers import (
    DOMAIN,
    Caught,
    Relay,
    Server,
    cx,
    human_text,
    ins,
    professional_message,
    start_relay,
)
from tests.pg_helpers import scratch_schema
from xds_server.core.mailbox import DirectoryEntry, MailboxKind
from xds_server.core.ports import PatientState
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity
from xds_server.mailbox.credentials import hash_password
from xds_server.storage.audit import set_contact_email
from xds_server.storage.database import Database, sqlite_url_for
from xds_server.storage.mailbox import SqlMailbox
from xds_server.storage.migrate import upgrade
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore

pytestmark = pytest.mark.slow

DOCTOR, DOCTOR_PW = "dr.martin@chu-exemple.mssante.fr", "motdepasse-martin"
SERVICE, SERVICE_PW = "cardiologie@chu-exemple.mssante.fr", "motdepasse-service"
PHARMACY, PHARMACY_PW = "pharmacie.centrale@pharmacie.mssante.fr", "motdepasse-officine"
PHARMACY_2 = "pharmacie.du.port@pharmacie.mssante.fr"
PHARMACIST = (
    "j.dupont@pharmacie.mssante.fr"  # a pharmacist's personal mailbox: no conversation from the patient
)
CERT_DOCTOR = "dr.cert@chu-exemple.mssante.fr"  # logs in with a client certificate only

MAIN = ins("2800175123456")
OTHER = ins("1790275123457")
OPPOSED = ins("2810375123458")
CLOSED = ins("1820475123459")
CREATED = ins("2830575123460")
FINS = ins("1840675123461")
PHARMA = ins("2850775123462")
CRASH = ins("1860875123463")


def addr(value: str) -> str:
    return f"{value}@{DOMAIN}"


@dataclass
class World:
    server: Server
    relay: Relay
    data: Path
    samples: list[tuple[str, bytes]] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    def patient(self, value: str) -> Any:
        if value not in self.tokens:  # minting one costs a command (seconds)
            self.tokens[value] = self.token(patient_self=f"{cx(value)}^NH")
        return self.server.fhir(self.tokens[value])

    @contextmanager
    def database(self) -> Iterator[Any]:
        database = open_database(self.server.env)
        try:
            with database.transaction() as connection:
                yield connection
        finally:
            database.dispose()

    def token(self, identity: Identity | None = None, **claims: Any) -> str:
        """A token of the server's test authority (minted here: the command costs seconds)."""
        authority = dev_authority.load(self.data)
        return dev_authority.mint_token(authority, dev_authority.token_claims(identity, **claims))

    def from_server(self, to: str, kind: str | None = None) -> list[Caught]:
        def match(c: Caught) -> bool:
            if to not in c.rcpt_tos:
                return False
            content_type = c.message.get("Content-Type", "")
            return kind is None or kind in content_type

        return [c for c in self.relay.caught if match(c)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("mailbox")
    relay, controller, relay_port = start_relay()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    env |= {"XDS_PROFILE": "dmp-test", "XDS_DATA_DIR": str(root / "data"), "XDS_SMTP_HOST": "127.0.0.1",
            "XDS_SMTP_PORT": str(relay_port), "XDS_SMTP_FROM": "notifications@monespacesante.example",
            "XDS_NOTIFY_INTERVAL": "0.2", "XDS_LOG_LEVEL": "WARNING", "XDS_MAILBOX_MAX_BYTES": "300000",
            "XDS_MAILBOX_MAX_ATTACHMENTS": "3", "XDS_DOCTOR_PW": DOCTOR_PW, "XDS_SERVICE_PW": SERVICE_PW,
            "XDS_PHARMACY_PW": PHARMACY_PW}  # fmt: skip
    (root / "data").mkdir()
    with scratch_schema("xds_mailbox") as schema:
        if schema is not None:
            env |= schema.env
        server = Server(env, root / "serve.log")
        seed(env)
        # the administrator's commands, as he would type them
        server.cli("mssante", "directory", "add", DOCTOR, "--idnps", "810001234567", "--kind", "personal",
                   "--name", "Dr Martin", "--password-env", "XDS_DOCTOR_PW")  # fmt: skip
        history = root / "history.csv"
        history.write_text(f"patient,pharmacy,last\n{cx(PHARMA)},{PHARMACY},2026-11-30\n", encoding="utf-8")
        server.cli("mssante", "history", "load", str(history))
        server.start()
        world = World(server, relay, root / "data")
        try:
            yield world
        finally:
            server.stop()
            controller.stop()
            target = os.environ.get("XDS_MAILBOX_SAMPLES")
            if target and world.samples:
                with open(target, "wb") as out:
                    for title, raw in world.samples:
                        out.write(f"===== {title} =====\n".encode())
                        out.write(raw.replace(b"\r\n", b"\n"))
                        out.write(b"\n")


def open_database(env: dict[str, str]) -> Database:
    url = env.get("XDS_DATABASE_URL") or sqlite_url_for(Path(env["XDS_DATA_DIR"]))
    return Database(url, schema=env.get("XDS_DATABASE_SCHEMA"))


def seed(env: dict[str, str]) -> None:
    """Patients and directory entries written in-process (one command each would cost seconds)."""
    database = open_database(env)
    upgrade(database)
    now = datetime.now(UTC)
    try:
        with database.transaction() as connection:
            patients = SqlPatientDirectory(connection)
            for value, state in [(MAIN, "activated"), (OTHER, "activated"), (OPPOSED, "opposed"),
                                 (CLOSED, "closed"), (CREATED, "created"), (FINS, "activated"),
                                 (PHARMA, "activated"), (CRASH, "activated")]:  # fmt: skip
                patients.add(f"{cx(value)}^NH", PatientState(state))
            set_contact_email(connection, f"{cx(MAIN)}^NH", "patient.main@example.org")
            store = SqlMailbox(connection)
            for entry, password in [
                (DirectoryEntry(SERVICE, "3900000000001", MailboxKind.ORGANISATIONAL, "Cardiologie"),
                 SERVICE_PW),
                (DirectoryEntry(PHARMACY, "3900000000002", MailboxKind.ORGANISATIONAL, "Pharmacie Centrale",
                                pharmacy=True, finess="750000001"), PHARMACY_PW),
                (DirectoryEntry(PHARMACY_2, "3900000000003", MailboxKind.ORGANISATIONAL, "Pharmacie du Port",
                                pharmacy=True, finess="750000002"), None),
                (DirectoryEntry(PHARMACIST, "810009999999", MailboxKind.PERSONAL, "J. Dupont", pharmacy=True,
                                finess="750000001"), None),
                (DirectoryEntry(CERT_DOCTOR, "810007654321", MailboxKind.PERSONAL, "Dr Cert"), None),
            ]:  # fmt: skip
                store.directory_add(entry, hash_password(password) if password else None, now)
    finally:
        database.dispose()


def send(world: World, sender: str, password: str | None, to: str, subject: str, body: str, **kw: Any) -> str:
    message_id, raw = professional_message(sender, to, subject, body, **kw)
    code, reply = world.server.send(sender, password, [to], raw)
    assert code == 250, reply
    return message_id


def messages(client: Any, conversation: str | None = None) -> list[dict[str, Any]]:
    answer = client.get("/Communication", params={"conversation": conversation} if conversation else None)
    assert answer.status_code == 200, answer.text
    return [e["resource"] for e in answer.json().get("entry", [])]


def ext(resource: dict[str, Any], url: str) -> Any:
    for item in resource.get("extension", []):
        if item["url"] == url:
            return next(v for k, v in item.items() if k.startswith("value"))
    return None


CONVERSATION = "urn:xds-server:mailbox:conversation"
STATE = "urn:xds-server:mailbox:conversation-state"


class TestSenders:
    def test_mail_before_login_is_refused(self, world: World) -> None:
        with world.server.smtp() as client:
            client.starttls(context=world.server.tls())
            client.ehlo()
            code, text = client.mail(DOCTOR)
        assert code == 530 and b"5.7.0" in text

    def test_starttls_comes_first(self, world: World) -> None:
        with world.server.smtp() as client:
            client.ehlo()
            assert client.has_extn("starttls")
            code, _ = client.mail(DOCTOR)
        assert code == 530

    def test_wrong_password(self, world: World) -> None:
        with world.server.smtp() as client:
            client.starttls(context=world.server.tls())
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                client.login(DOCTOR, "not the password")
        assert refused.value.smtp_code == 535

    def test_sender_must_be_the_authenticated_mailbox(self, world: World) -> None:
        with world.server.smtp() as client:
            client.starttls(context=world.server.tls())
            client.login(DOCTOR, DOCTOR_PW)
            code, text = client.mail(SERVICE)
        assert code == 550 and b"5.7.1" in text

    def test_outside_the_patient_domain_nothing_is_relayed(self, world: World) -> None:
        with world.server.smtp() as client:
            client.starttls(context=world.server.tls())
            client.login(DOCTOR, DOCTOR_PW)
            assert client.mail(DOCTOR)[0] == 250
            code, text = client.rcpt("someone@example.org")
        assert code == 550 and b"5.7.1" in text

    def test_a_client_certificate_naming_the_mailbox_authenticates(
        self, world: World, tmp_path: Path
    ) -> None:
        world.server.cli("mssante", "dev-certificate", CERT_DOCTOR, "-o", str(tmp_path))
        cert = (tmp_path / "cert.pem", tmp_path / "key.pem")
        _, raw = professional_message(CERT_DOCTOR, addr(OTHER), "Par certificat", "Bonjour.")
        code, _ = world.server.send(CERT_DOCTOR, None, [addr(OTHER)], raw, cert=cert)
        assert code == 250
        # the same certificate does not let its holder write as another mailbox
        with world.server.smtp() as client:
            client.starttls(context=world.server.tls(*cert))
            client.ehlo()
            code, _ = client.mail(DOCTOR)
        assert code == 530

    def test_a_mailbox_outside_the_directory_is_refused(self, world: World, tmp_path: Path) -> None:
        stranger = "intrus@ailleurs.mssante.fr"
        world.server.cli("mssante", "dev-certificate", stranger, "-o", str(tmp_path))
        with world.server.smtp() as client:
            client.starttls(context=world.server.tls(tmp_path / "cert.pem", tmp_path / "key.pem"))
            client.ehlo()
            code, text = client.mail(stranger)
        assert code == 550 and b"not in the MSSant" in text


class TestAddressRules:
    EXPECTED: ClassVar[dict[str, str]] = {
        "invalid": "car cette adresse Mon espace santé est invalide.",
        "opposed": "car cette adresse Mon espace santé n'existe pas.",
        "closed": "car la messagerie Mon espace santé de votre destinataire est clôturée.",
    }

    @pytest.mark.parametrize(
        ("case", "address", "status"),
        [
            ("invalid", f"{MAIN[:13]}{(int(MAIN[13:]) + 1) % 100:02d}@{DOMAIN}", "5.1.1"),
            ("opposed", addr(OPPOSED), "5.1.1"),
            ("closed", addr(CLOSED), "5.2.1"),
        ],
    )
    def test_delivery_report(self, world: World, case: str, address: str, status: str) -> None:
        before = len(world.from_server(SERVICE, "delivery-status"))
        send(world, SERVICE, SERVICE_PW, address, f"Compte rendu ({case})", "Bonjour.")
        reports = world.relay.wait(
            lambda c: SERVICE in c.rcpt_tos and "delivery-status" in c.message["Content-Type"], before + 1
        )
        report = reports[before]
        assert report.mail_from == "<>"  # the null reverse-path of RFC 3464
        message = report.message
        assert message.get_content_type() == "multipart/report"
        assert message.get_param("report-type") == "delivery-status"
        expected = (
            f"Le message que vous avez envoyé à l'adresse \"{address}\" n'a pas pu être distribué, "
            f"{self.EXPECTED[case]}"
        )
        assert human_text(message) == expected
        fields = report.raw.decode("ascii", "replace")
        assert f"Final-Recipient: rfc822; {address}" in fields and f"Status: {status}" in fields
        assert "Action: failed" in fields
        world.samples.append((f"delivery report: {case} ({address})", report.raw))

    def test_created_record_receives_readable_once_activated(self, world: World) -> None:
        before = len(world.from_server(SERVICE, "delivery-status"))
        send(world, SERVICE, SERVICE_PW, addr(CREATED), "Bienvenue", "Votre compte rendu.")
        patient = world.patient(CREATED)
        refused = patient.get("/Communication")
        assert refused.status_code == 403 and "activate" in refused.text
        with world.database() as connection:
            SqlPatientDirectory(connection).set_state(f"{cx(CREATED)}^NH", PatientState.ACTIVATED)
        found = messages(patient)
        assert [m["topic"]["text"] for m in found] == ["Bienvenue"]
        assert len(world.from_server(SERVICE, "delivery-status")) == before  # no report for it

    def test_one_message_to_good_and_bad_addresses(self, world: World) -> None:
        before = len(world.from_server(SERVICE, "delivery-status"))
        _, raw = professional_message(SERVICE, addr(OTHER), "Deux destinataires", "Bonjour.")
        code, reply = world.server.send(SERVICE, SERVICE_PW, [addr(OTHER), addr(CLOSED)], raw)
        assert code == 250 and b"1 mailbox(es), 1 delivery report" in reply
        world.relay.wait(
            lambda c: SERVICE in c.rcpt_tos and "delivery-status" in c.message["Content-Type"], before + 1
        )
        assert "Deux destinataires" in [m["topic"]["text"] for m in messages(world.patient(OTHER))]


class TestConversation:
    def test_professional_patient_reply_fin(self, world: World) -> None:
        patient = world.patient(MAIN)
        first_id, first_raw = professional_message(
            DOCTOR, addr(MAIN), "Vos résultats d'analyse",
            "Bonjour,\n\nVos résultats sont normaux. Le compte rendu est joint.\n\nDr Martin",
            receipt=True, attachments=[("resultats.pdf", "application/pdf", b"%PDF-1.4\n% resultats\n")],
        )  # fmt: skip
        code, _ = world.server.send(DOCTOR, DOCTOR_PW, [addr(MAIN)], first_raw)
        assert code == 250
        world.samples.append(("1. professional -> patient (crossed SMTP into the server)", first_raw))
        # the patient is told by e-mail (his contact address), without the content
        notice = world.relay.wait(lambda c: "patient.main@example.org" in c.rcpt_tos)
        assert notice and "nouveau message" in str(notice[0].message["Subject"])
        assert "résultats sont normaux" not in notice[0].message.get_body().get_content()

        [received] = messages(patient)
        assert received["identifier"][0]["value"] == first_id
        assert ext(received, STATE) == "open" and ext(received, "urn:xds-server:mailbox:read") is None
        attachment = received["payload"][1]["contentAttachment"]
        assert attachment["title"] == "resultats.pdf"
        download = patient.get(attachment["url"].split("/fhir", 1)[1])
        assert download.status_code == 200 and download.content == b"%PDF-1.4\n% resultats\n"

        # reading it sends the read receipt, once
        assert patient.get(f"/Communication/{received['id']}").status_code == 200
        assert patient.get(f"/Communication/{received['id']}").status_code == 200
        receipts = world.relay.wait(lambda c: "disposition-notification" in c.message["Content-Type"])
        assert len(receipts) == 1
        mdn = receipts[0]
        assert mdn.rcpt_tos == [DOCTOR] and mdn.mail_from == addr(MAIN)
        assert f"Original-Message-ID: {first_id}" in mdn.raw.decode()
        assert "Disposition: automatic-action/MDN-sent-automatically; displayed" in mdn.raw.decode()
        world.samples.append(("2. read receipt (MDN), patient -> professional, through the relay", mdn.raw))

        # the patient replies: it leaves through the relay, threaded
        answer = patient.post(
            "/Communication",
            json={"resourceType": "Communication", "status": "completed",
                  "inResponseTo": [{"reference": f"Communication/{received['id']}"}],
                  "payload": [{"contentString": "Merci docteur, bonne journée."}]},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text
        [reply] = world.relay.wait(lambda c: c.mail_from == addr(MAIN) and "multipart/report" not in
                                   c.message["Content-Type"])  # fmt: skip
        assert reply.rcpt_tos == [DOCTOR]
        reply_message = reply.message
        assert reply_message["In-Reply-To"] == first_id and str(reply_message["Subject"]).startswith("Re: ")
        assert reply_message.get_body().get_content().strip() == "Merci docteur, bonne journée."
        world.samples.append(("3. patient -> professional (the reply, through the relay)", reply.raw))

        # the professional closes the conversation: exactly [FIN]
        fin_id, fin_raw = professional_message(
            DOCTOR, addr(MAIN), "[FIN]", "Conversation terminée.", in_reply_to=reply_message["Message-ID"]
        )
        assert world.server.send(DOCTOR, DOCTOR_PW, [addr(MAIN)], fin_raw)[0] == 250
        world.samples.append(("4. professional -> patient: [FIN] (crossed SMTP into the server)", fin_raw))
        thread = messages(patient, ext(received, CONVERSATION))
        assert [m["identifier"][0]["value"] for m in thread][-1] == fin_id
        assert {ext(m, STATE) for m in thread} == {"closed"}
        refused = patient.post(
            "/Communication",
            json={"resourceType": "Communication", "status": "completed",
                  "inResponseTo": [{"reference": f"Communication/{thread[-1]['id']}"}],
                  "payload": [{"contentString": "Encore une question"}]},
        )  # fmt: skip
        assert refused.status_code == 409 and "closed" in refused.text

        # the professional may start a new conversation afterwards
        send(world, DOCTOR, DOCTOR_PW, addr(MAIN), "Nouveau sujet", "Bonjour.", in_reply_to=fin_id)
        conversations = {ext(m, CONVERSATION): ext(m, STATE) for m in messages(patient)}
        assert sorted(conversations.values()) == ["closed", "open"]

    def test_the_patient_never_starts_one_with_a_professional(self, world: World) -> None:
        answer = world.patient(OTHER).post(
            "/Communication",
            json={"resourceType": "Communication", "status": "completed",
                  "recipient": [{"identifier": {"system": "urn:ietf:rfc:3986", "value": f"mailto:{DOCTOR}"}}],
                  "payload": [{"contentString": "Bonjour"},
                              {"contentReference": {"identifier": {"value": "1.2.3"}}}]},
        )  # fmt: skip
        assert answer.status_code == 403

    @pytest.mark.parametrize("subject", ["[fin]", "[FIN] ", "Re: [FIN]"])
    def test_fin_variants_do_not_close(self, world: World, subject: str) -> None:
        patient = world.patient(FINS)
        first = send(world, DOCTOR, DOCTOR_PW, addr(FINS), f"Suivi {subject!r}", "Bonjour.")
        send(world, DOCTOR, DOCTOR_PW, addr(FINS), subject, "Fin ?", in_reply_to=first)
        ours = [m for m in messages(patient) if m["topic"]["text"] == f"Suivi {subject!r}"]
        assert len(ours) == 2 and {ext(m, STATE) for m in ours} == {"open"}
        answer = patient.post(
            "/Communication",
            json={"resourceType": "Communication", "status": "completed",
                  "inResponseTo": [{"reference": f"Communication/{ours[-1]['id']}"}],
                  "payload": [{"contentString": "Toujours ouverte"}]},
        )  # fmt: skip
        assert answer.status_code == 201, answer.text


@pytest.fixture(scope="module")
def prescription(world: World, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A document of PHARMA's record he may see (sent by his doctor over ITI-41), its uniqueId."""
    server = world.server
    with world.database() as connection:
        SqlRecordStore(connection).authorize(f"{cx(PHARMA)}^NH", "899700000001")
    pdf = tmp_path_factory.mktemp("doc") / "ordonnance.pdf"
    pdf.write_bytes(b"%PDF-1.4\n% ordonnance\n")
    server.env |= {"XDS_URL": server.base}
    printed = server.cli("send", str(pdf), "--patient", cx(PHARMA), "--dev")
    return next(line.split()[1] for line in printed.splitlines() if line.startswith("Success: "))


class TestPharmacy:
    def body(self, to: str, document: str, text: str | None = None) -> dict[str, Any]:
        payload: list[dict[str, Any]] = [
            {"contentReference": {"identifier": {"value": f"urn:oid:{document}"}}}
        ]
        if text is not None:
            payload.insert(0, {"contentString": text})
        return {"resourceType": "Communication", "status": "completed",
                "recipient": [{"identifier": {"system": "urn:ietf:rfc:3986", "value": f"mailto:{to}"}}],
                "payload": payload}  # fmt: skip

    def test_history_and_search(self, world: World) -> None:
        patient = world.patient(PHARMA)
        history = patient.get("/Organization", params={"type": "pharmacy", "reimbursed": "true"}).json()
        assert [e["resource"]["telecom"][0]["value"] for e in history["entry"]] == [PHARMACY]
        found = patient.get("/Organization", params={"type": "pharmacy", "name": "port"}).json()
        assert [e["resource"]["telecom"][0]["value"] for e in found["entry"]] == [PHARMACY, PHARMACY_2]
        # a pharmacist's personal mailbox is never offered
        everything = patient.get("/Organization", params={"type": "pharmacy", "name": ""}).json()
        assert PHARMACIST not in str(everything)

    def test_start_with_prefilled_message_and_document(self, world: World, prescription: str) -> None:
        patient = world.patient(PHARMA)
        answer = patient.post("/Communication", json=self.body(PHARMACY, prescription))
        assert answer.status_code == 201, answer.text
        [sent] = world.relay.wait(lambda c: c.rcpt_tos == [PHARMACY] and c.mail_from == addr(PHARMA))
        message = sent.message
        text = message.get_body(preferencelist=("plain",)).get_content()
        assert "ordonnance papier" in text
        [attached] = list(message.iter_attachments())
        assert attached.get_content_type() == "application/pdf"
        assert attached.get_payload(decode=True) == b"%PDF-1.4\n% ordonnance\n"

        # the pharmacy answers, then closes with [FIN]: that conversation only
        first = send(world, PHARMACY, PHARMACY_PW, addr(PHARMA), "Re: Ordonnance", "Prête demain.",
                     in_reply_to=message["Message-ID"])  # fmt: skip
        send(world, PHARMACY, PHARMACY_PW, addr(PHARMA), "[FIN]", "Délivrée.", in_reply_to=first)
        ours = [m for m in messages(patient) if m["topic"]["text"] == "Ordonnance"]
        assert len(ours) == 3 and {ext(m, STATE) for m in ours} == {"closed"}
        # ... and he may start a new one with the same pharmacy, with his own words
        again = patient.post("/Communication", json=self.body(PHARMACY, prescription, "Renouvellement svp"))
        assert again.status_code == 201 and ext(again.json(), STATE) == "open"

    def test_search_found_pharmacy_is_allowed(self, world: World, prescription: str) -> None:
        answer = world.patient(PHARMA).post("/Communication", json=self.body(PHARMACY_2, prescription))
        assert answer.status_code == 201, answer.text

    @pytest.mark.parametrize("to", [PHARMACIST, SERVICE, DOCTOR, "inconnu@pharmacie.mssante.fr"])
    def test_not_a_pharmacy_organisational_mailbox(self, world: World, prescription: str, to: str) -> None:
        answer = world.patient(PHARMA).post("/Communication", json=self.body(to, prescription))
        assert answer.status_code == 403

    def test_a_document_outside_his_record(self, world: World, prescription: str) -> None:
        answer = world.patient(OTHER).post("/Communication", json=self.body(PHARMACY, prescription))
        assert answer.status_code == 404

    def test_a_document_is_required(self, world: World) -> None:
        body = self.body(PHARMACY, "x")
        body["payload"] = [{"contentString": "Bonjour"}]
        assert world.patient(PHARMA).post("/Communication", json=body).status_code == 400


class TestIsolation:
    def test_another_patient_reaches_nothing(self, world: World) -> None:
        send(world, DOCTOR, DOCTOR_PW, addr(OTHER), "Confidentiel", "Pour OTHER seulement.",
             attachments=[("cr.pdf", "application/pdf", b"%PDF-1.4 x")])  # fmt: skip
        mine = next(m for m in messages(world.patient(OTHER)) if m["topic"]["text"] == "Confidentiel")
        intruder = world.patient(FINS)
        assert "Confidentiel" not in str(messages(intruder))
        assert intruder.get(f"/Communication/{mine['id']}").status_code == 404
        assert (
            intruder.get(f"/Communication/{mine['id']}/$attachment", params={"index": 0}).status_code == 404
        )
        conversation = ext(mine, CONVERSATION)
        assert intruder.get("/Communication", params={"conversation": conversation}).status_code == 404
        reply = intruder.post(
            "/Communication",
            json={"resourceType": "Communication", "status": "completed",
                  "inResponseTo": [{"reference": f"Communication/{mine['id']}"}],
                  "payload": [{"contentString": "je réponds à sa place"}]},
        )  # fmt: skip
        assert reply.status_code == 404
        # and the intruder's reading did not mark it read
        fresh = world.patient(OTHER).get("/Communication", params={"conversation": conversation}).json()
        assert ext(fresh["entry"][0]["resource"], "urn:xds-server:mailbox:read") is None

    def test_no_token(self, world: World) -> None:
        with world.server.fhir(None) as anonymous:
            assert anonymous.get("/Communication").status_code == 401
            assert anonymous.post("/Communication", json={"resourceType": "Communication"}).status_code == 401

    def test_a_professional_token_cannot_read_the_mailbox(self, world: World) -> None:
        doctor = world.server.fhir(world.token(Identity(patient=f"{cx(OTHER)}^NH")))
        assert doctor.get("/Communication").status_code == 403
        mine = messages(world.patient(OTHER))[0]
        assert doctor.get(f"/Communication/{mine['id']}").status_code == 403

    def test_a_representative_token_is_refused(self, world: World) -> None:
        representative = world.server.fhir(
            world.token(Identity(national_id=ins("1650175123499")), representative_of=[f"{cx(OTHER)}^NH"])
        )
        assert representative.get("/Communication").status_code == 403


class TestLimits:
    def test_attachment_type_refused(self, world: World) -> None:
        _, raw = professional_message(DOCTOR, addr(OTHER), "exe", "x",
                                      attachments=[("a.exe", "application/x-msdownload", b"MZ")])  # fmt: skip
        code, reply = world.server.send(DOCTOR, DOCTOR_PW, [addr(OTHER)], raw)
        assert code == 554 and b"5.6.1" in reply

    def test_too_many_attachments(self, world: World) -> None:
        parts = [(f"{i}.pdf", "application/pdf", b"%PDF") for i in range(4)]
        _, raw = professional_message(DOCTOR, addr(OTHER), "4 pieces", "x", attachments=parts)
        code, reply = world.server.send(DOCTOR, DOCTOR_PW, [addr(OTHER)], raw)
        assert code == 552 and b"at most 3" in reply
        assert "4 pieces" not in str(messages(world.patient(OTHER)))

    def test_too_large(self, world: World) -> None:
        big = base64.b64encode(os.urandom(300_000)).decode()
        _, raw = professional_message(DOCTOR, addr(OTHER), "gros", big)
        with world.server.smtp() as client:
            client.starttls(context=world.server.tls())
            client.login(DOCTOR, DOCTOR_PW)
            client.mail(DOCTOR)
            client.rcpt(addr(OTHER))
            code, _ = client.data(raw)
        assert code == 552


class TestSaveToRecord:
    def test_an_attachment_becomes_a_document_of_his_own(self, world: World) -> None:
        send(world, DOCTOR, DOCTOR_PW, addr(OTHER), "A garder", "Votre compte rendu.",
             attachments=[("compte-rendu.pdf", "application/pdf", b"%PDF-1.4\n% a garder\n"),
                          ("photo.png", "image/png", b"\x89PNG\r\n")])  # fmt: skip
        patient = world.patient(OTHER)
        mine = next(m for m in messages(patient) if m["topic"]["text"] == "A garder")
        saved = patient.post(f"/Communication/{mine['id']}/$save-to-record", params={"index": 0})
        assert saved.status_code == 201, saved.text
        unique_id = saved.json()["parameter"][0]["valueIdentifier"]["value"]
        found = patient.get(
            "/DocumentReference",
            params={"patient.identifier": f"urn:oid:1.2.250.1.213.1.4.10|{OTHER}", "status": "current"},
        ).json()
        [document] = [e["resource"] for e in found.get("entry", [])
                      if e["resource"]["masterIdentifier"]["value"] == unique_id]  # fmt: skip
        assert document["category"][0]["coding"][0]["code"] == "90"
        assert document["type"]["coding"][0]["code"] == "DOCPAT02"
        content = patient.get(document["content"][0]["attachment"]["url"].split("/fhir", 1)[1])
        assert content.content == b"%PDF-1.4\n% a garder\n"
        # a PNG has no unstructured-document format in the DMP: refused, nothing deposited
        png = patient.post(f"/Communication/{mine['id']}/$save-to-record", params={"index": 1})
        assert png.status_code == 400
        # another patient's message: as unknown
        intruder = world.patient(FINS).post(
            f"/Communication/{mine['id']}/$save-to-record", params={"index": 0}
        )
        assert intruder.status_code == 404


class TestStatement:
    def test_counts_the_messages_of_a_patient_without_e_mail(self, world: World) -> None:
        send(world, DOCTOR, DOCTOR_PW, addr(OTHER), "Pour le relevé", "Bonjour.")
        year = datetime.now(UTC).year
        inbound = [m for m in messages(world.patient(OTHER)) if "received" in m]
        printed = world.server.cli("patients", "statement", cx(OTHER), "--year", str(year))
        expected = (
            f"{len(inbound)} message(s) reçu(s) dans votre messagerie sécurisée Mon espace santé en {year}."
        )
        assert expected in printed.splitlines()
        # MAIN registered an e-mail address: each message was announced there, the statement does not count
        assert "message(s) reçu(s)" not in world.server.cli(
            "patients", "statement", cx(MAIN), "--year", str(year)
        )
