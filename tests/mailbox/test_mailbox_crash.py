"""A crash between the 250 and the patient's notice (issue 16 item 6): the server is killed (SIGKILL) right
after acknowledging a message, before its notice left; once restarted, the message is in the mailbox and
the notice is sent, once. Bounded: one message, one kill, one restart. SQLite, and PostgreSQL when
XDS_DATABASE_URL is set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.mailbox.helpers import DOMAIN, Server, cx, ins, professional_message, start_relay
from tests.pg_helpers import scratch_schema
from xds_server.identity import dev_authority
from xds_server.storage.database import Database, sqlite_url_for
from xds_server.storage.tables import mail_message, notification

pytestmark = pytest.mark.slow

DOCTOR, PASSWORD = "dr.crash@chu-exemple.mssante.fr", "motdepasse"
PATIENT = ins("1860875123463")
CONTACT = "patient.crash@example.org"


def _rows(env: dict[str, str]) -> tuple[list[str], list[str]]:
    url = env.get("XDS_DATABASE_URL") or sqlite_url_for(Path(env["XDS_DATA_DIR"]))
    database = Database(url, schema=env.get("XDS_DATABASE_SCHEMA"))
    try:
        with database.transaction(readonly=True) as connection:
            messages = list(connection.execute(select(mail_message.c.subject)).scalars())
            notices = list(connection.execute(select(notification.c.state)).scalars())
        return messages, notices
    finally:
        database.dispose()


def test_acknowledged_message_and_its_notice_survive_a_kill(tmp_path: Path) -> None:
    relay, controller, relay_port = start_relay()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    # the dispatcher passes once at start, then not for an hour: the kill comes before its next pass
    env |= {"XDS_PROFILE": "dmp-test", "XDS_DATA_DIR": str(tmp_path / "data"), "XDS_SMTP_HOST": "127.0.0.1",
            "XDS_SMTP_PORT": str(relay_port), "XDS_NOTIFY_INTERVAL": "3600", "XDS_LOG_LEVEL": "WARNING",
            "XDS_CRASH_PW": PASSWORD}  # fmt: skip
    (tmp_path / "data").mkdir()
    with scratch_schema("xds_mailbox_crash") as schema:
        if schema is not None:
            env |= schema.env
        server = Server(env, tmp_path / "serve.log")
        try:
            server.cli("patients", "add", cx(PATIENT), "--state", "activated")
            server.cli("patients", "contact", cx(PATIENT), "--email", CONTACT)
            server.cli("mssante", "directory", "add", DOCTOR, "--idnps", "810001111111", "--kind", "personal",
                       "--password-env", "XDS_CRASH_PW")  # fmt: skip
            server.start()
            _, raw = professional_message(DOCTOR, f"{PATIENT}@{DOMAIN}", "Avant la panne", "Bonjour.")
            code, _ = server.send(DOCTOR, PASSWORD, [f"{PATIENT}@{DOMAIN}"], raw)
            assert code == 250
            server.kill()  # right after the 250: the notice waits in the outbox
            assert _rows(env) == (["Avant la panne"], ["pending"])
            assert not relay.wait(lambda c: CONTACT in c.rcpt_tos, timeout=1)

            server.start()  # the dispatcher's first pass
            notices = relay.wait(lambda c: CONTACT in c.rcpt_tos)
            assert len(notices) == 1
            patient = server.fhir(
                dev_authority.mint_token(
                    dev_authority.load(Path(env["XDS_DATA_DIR"])),
                    dev_authority.token_claims(patient_self=f"{cx(PATIENT)}^NH"),
                )
            )
            found = patient.get("/Communication").json()
            assert [e["resource"]["topic"]["text"] for e in found["entry"]] == ["Avant la panne"]
            server.stop()
            server.start()  # and never again
            assert len(relay.wait(lambda c: CONTACT in c.rcpt_tos, count=2, timeout=3)) == 1
            assert _rows(env) == (["Avant la panne"], ["sent"])
        finally:
            server.stop()
            controller.stop()
