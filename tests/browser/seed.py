"""The server the browser tests drive, and what it holds before the first page is opened.

``start_portal`` seeds a fresh data dir the way an administrator would, then starts ``xds-server serve --dev
--smtp-port`` (profile dmp-test, the test authority trusted: the dev login is on):

* ``xds-server demo``: six patients, among them DUPONT Marie (an adult, ten documents of several classes,
  one masked from professionals, one invisible to her) and her daughter DUPONT Lucie (a minor whose legal
  representative she is); MOREAU Jean (an adult with two documents) is another patient she must never see;
* ``xds-server professionals load``: the directory extract of tests/data/annuaire, in which Hélène LEFÈVRE
  (médecin, Saint-Étienne 42000) is then authorised on Marie's record (so that blocking her has an effect);
* the MSSanté directory: Marie's médecin traitant (a personal mailbox) and her pharmacy (in her
  reimbursement history, so eligible for an ordonnance);
* once the server listens: a normal read by the radiologue and a break-glass read with a reason by the
  urgentiste (ITI-67 over FHIR: two trail entries, an emergency notification), and a message of the
  médecin traitant to Marie's mailbox over SMTP (STARTTLS, AUTH), which opens a conversation.

Everything a test checks over FHIR goes through ``Portal.iti67`` with a token of the server's test authority
(minted in process: the ``xds-server dev token`` command would cost seconds each time).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.mailbox.helpers import Caught, Relay, Server, professional_message, start_relay
from tests.pg_helpers import scratch_schema
from xds_server.core.mailbox import DirectoryEntry, MailboxKind
from xds_server.core.policy import AccessMode
from xds_server.core.ports import PatientState
from xds_server.demo import PATIENTS, RADIOLOGUE, URGENTISTE, Patient, Pro, patient_id
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity
from xds_server.mailbox.credentials import hash_password
from xds_server.storage.audit import contact_email, set_contact_email
from xds_server.storage.database import Database, sqlite_url_for
from xds_server.storage.mailbox import SqlMailbox
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore

PROFILE = "dmp-test"
INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"
PS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
DIRECTORY = Path(__file__).parents[1] / "data" / "annuaire" / "PS_LibreAcces_Personne_activite_sample.txt"

MARIE, LUCIE, MOREAU = PATIENTS[0], PATIENTS[1], PATIENTS[3]
#: a professional of the directory extract, authorised on Marie's record by the seed
LEFEVRE = Pro("810100000037", "LEFÈVRE Hélène", "10", None, "3900000000137", "Cabinet Lefèvre")
BREAK_GLASS_REASON = "patiente inconsciente aux urgences"

DOCTOR = "claire.martin@cabinet-martin.mssante.fr"
DOCTOR_PASSWORD = "motdepasse-martin"
PHARMACY = "pharmacie.blanc@pharmacie.mssante.fr"
MESSAGE_SUBJECT = "Résultats de votre IRM du genou"
ATTACHMENT = "compte-rendu-irm.pdf"
MESSAGE_BODY = "Bonjour Madame Dupont,\n\nL'IRM ne montre pas de lésion. Nous en reparlerons.\n\nDr Martin"


def ins(nir: str) -> str:
    """The 15 characters of a demo patient's INS (NIR + key), as the dev login lists it."""
    return patient_id(nir, PROFILE).split("^", 1)[0]


def cx(nir: str) -> str:
    return patient_id(nir, PROFILE)


@dataclass
class Portal:
    server: Server
    data: Path
    relay: Relay  # what the server sent out by e-mail (notifications, the patient's messages)

    @property
    def base(self) -> str:
        return self.server.base

    # -- FHIR, as another application would see the record -------------------------------------------

    def token(self, identity: Identity | None = None, **claims: object) -> str:
        authority = dev_authority.load(self.data)
        return dev_authority.mint_token(authority, dev_authority.token_claims(identity, **claims))  # type: ignore[arg-type]

    def fhir(self, token: str) -> httpx.Client:
        return self.server.fhir(token)

    def professional(
        self, pro: Pro, patient: str, mode: AccessMode = AccessMode.NORMAL, reason: str | None = None
    ) -> httpx.Client:
        return self.fhir(self.token(pro.identity(cx(patient), mode, reason)))

    def patient_api(self, nir: str) -> httpx.Client:
        """The patient's own FHIR client (her settings, her messages)."""
        return self.fhir(self.token(patient_self=cx(nir)))

    def iti67(
        self, pro: Pro, nir: str, mode: AccessMode = AccessMode.NORMAL, reason: str | None = None
    ) -> httpx.Response:
        """A professional's ITI-67 (Find Document References) on a patient's current documents."""
        with self.professional(pro, nir, mode, reason) as client:
            return client.get(
                "/DocumentReference",
                params={"patient.identifier": identifier(nir), "status": "current"},
            )

    def titles_seen_by(self, pro: Pro, nir: str) -> set[str]:
        """The titles of the documents ``pro`` finds (asserting the search succeeded)."""
        answer = self.iti67(pro, nir)
        assert answer.status_code == 200, answer.text
        return {
            content["attachment"].get("title", "")
            for entry in answer.json().get("entry", [])
            for content in entry["resource"].get("content", [])
        }

    def consents(self, nir: str) -> dict[str, str]:
        """The patient's record settings over FHIR: Consent id -> provision type (permit | deny)."""
        with self.patient_api(nir) as client:
            answer = client.get("/Consent")
        assert answer.status_code == 200, answer.text
        return {
            e["resource"]["id"]: e["resource"]["provision"]["type"] for e in answer.json().get("entry", [])
        }

    def delete_consent(self, nir: str, consent: str) -> None:
        """Put a record setting back as the seed left it (a blocked, administrator or emergency setting),
        over the patient's FHIR API; nothing to do is fine."""
        with self.patient_api(nir) as client:
            answer = client.delete(f"/Consent/{consent}", params={"patient.identifier": identifier(nir)})
        assert answer.status_code in (200, 204, 404), answer.text

    def put_consent(self, nir: str, consent: str, provision: str, professional: str) -> None:
        body = {
            "resourceType": "Consent",
            "id": consent,
            "status": "active",
            "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"identifier": {"system": INS_SYSTEM, "value": ins(nir)}},
            "provision": {
                "type": provision,
                "actor": [
                    {
                        "role": {"coding": [{"system": PARTICIPATION, "code": "PRCP"}]},
                        "reference": {"identifier": {"system": PS_SYSTEM, "value": professional}},
                    }
                ],
            },
        }
        with self.patient_api(nir) as client:
            answer = client.put(
                f"/Consent/{consent}", json=body, headers={"Content-Type": "application/fhir+json"}
            )
        assert answer.status_code in (200, 201), answer.text

    def messages_text(self, nir: str) -> str:
        """Everything the patient's mailbox holds over FHIR (Communication), as one text."""
        with self.patient_api(nir) as client:
            answer = client.get("/Communication")
        assert answer.status_code == 200, answer.text
        return json.dumps(answer.json(), ensure_ascii=False)

    def own_documents(self, nir: str) -> list[str]:
        """The ids of the documents the patient deposited herself (DOCPAT*), over her FHIR API."""
        with self.patient_api(nir) as client:
            answer = client.get(
                "/DocumentReference", params={"patient.identifier": identifier(nir), "status": "current"}
            )
        assert answer.status_code == 200, answer.text
        return [
            e["resource"]["id"]
            for e in answer.json().get("entry", [])
            if e["resource"]["type"]["coding"][0]["code"].startswith("DOCPAT")
        ]

    def contact_email(self, nir: str) -> str | None:
        database = open_database(self.server.env)
        try:
            with database.transaction(readonly=True) as connection:
                return contact_email(connection, cx(nir))
        finally:
            database.dispose()

    def reactivate(self, patient: Patient) -> None:
        """A record back in the activated state (after a test closed it), as the administrator would."""
        database = open_database(self.server.env)
        try:
            with database.transaction() as connection:
                SqlPatientDirectory(connection).add(cx(patient.nir), PatientState.ACTIVATED, patient.born)
        finally:
            database.dispose()


def identifier(nir: str) -> str:
    """A FHIR token naming the patient (``patient.identifier=SYSTEM|VALUE``)."""
    return f"{INS_SYSTEM}|{ins(nir)}"


def mail_text(caught: Caught) -> str:
    """Every text part of a message the server sent."""
    return "\n".join(
        str(part.get_content()) for part in caught.message.walk() if part.get_content_maintype() == "text"
    )


def open_database(env: dict[str, str]) -> Database:
    url = env.get("XDS_DATABASE_URL") or sqlite_url_for(Path(env["XDS_DATA_DIR"]))
    return Database(url, schema=env.get("XDS_DATABASE_SCHEMA"))


def _seed_in_process(env: dict[str, str]) -> None:
    """What no command writes in one line: the authorisation of a directory professional, the MSSanté
    directory entries with a password, the pharmacy history, a contact e-mail."""
    now = datetime.now(UTC)
    database = open_database(env)
    try:
        with database.transaction() as connection:
            SqlRecordStore(connection).authorize(cx(MARIE.nir), LEFEVRE.national_id)
            set_contact_email(connection, cx(MARIE.nir), "marie.dupont@example.org")
            mailbox = SqlMailbox(connection)
            mailbox.directory_add(
                DirectoryEntry(DOCTOR, "810000000101", MailboxKind.PERSONAL, "Dr MARTIN Claire"),
                hash_password(DOCTOR_PASSWORD),
                now,
            )
            mailbox.directory_add(
                DirectoryEntry(
                    PHARMACY,
                    "3900000000105",
                    MailboxKind.ORGANISATIONAL,
                    "Pharmacie Blanc",
                    True,
                    "420000105",
                ),
                None,
                now,
            )
            mailbox.history_add(cx(MARIE.nir), PHARMACY, now.date(), now)
    finally:
        database.dispose()


def _after_start(portal: Portal) -> None:
    """Trail entries, a notification and a conversation, made through the server's own faces."""
    normal = portal.iti67(RADIOLOGUE, MARIE.nir)
    assert normal.status_code == 200, normal.text
    urgent = portal.iti67(URGENTISTE, MARIE.nir, AccessMode.BREAK_GLASS, BREAK_GLASS_REASON)
    assert urgent.status_code == 200, urgent.text
    mailbox = f"{ins(MARIE.nir)}@patient.mssante.fr"
    attachment = (ATTACHMENT, "application/pdf", b"%PDF-1.4\n% compte rendu IRM (fictif)\n%%EOF\n")
    _, raw = professional_message(DOCTOR, mailbox, MESSAGE_SUBJECT, MESSAGE_BODY, attachments=[attachment])
    code, reply = portal.server.send(DOCTOR, DOCTOR_PASSWORD, [mailbox], raw)
    assert code == 250, reply


@contextmanager
def start_portal(root: Path) -> Iterator[Portal]:
    relay, controller, relay_port = start_relay()  # where the notifications and the patient's mail go
    data = root / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    env |= {
        "XDS_PROFILE": PROFILE,
        "XDS_DATA_DIR": str(data),
        "XDS_SMTP_HOST": "127.0.0.1",
        "XDS_SMTP_PORT": str(relay_port),
        "XDS_SMTP_FROM": "notifications@monespacesante.example",
        "XDS_LOG_LEVEL": "WARNING",
        "XDS_NOTIFY_INTERVAL": "0.5",  # the outbox (notices, the patient's messages) polled often
    }
    try:
        with scratch_schema("xds_browser") as schema:
            if schema is not None:
                env |= schema.env
            server = Server(env, root / "serve.log")
            server.cli("demo", "--data-dir", str(data), "--profile", PROFILE)
            server.cli("professionals", "load", str(DIRECTORY))
            _seed_in_process(env)
            server.start()
            portal = Portal(server, data, relay)
            try:
                _after_start(portal)
                yield portal
            finally:
                server.stop()
    finally:
        controller.stop()


__all__ = [
    "ATTACHMENT",
    "BREAK_GLASS_REASON",
    "DOCTOR",
    "LEFEVRE",
    "LUCIE",
    "MARIE",
    "MESSAGE_SUBJECT",
    "MOREAU",
    "PHARMACY",
    "Portal",
    "cx",
    "identifier",
    "ins",
    "mail_text",
    "start_portal",
]
