"""The notice dispatcher against a real SMTP server (aiosmtpd on localhost): delivery to the registered
address, backoff on a temporary refusal, give-up on a permanent one, and never one notice twice, even when
the dispatcher dies between sending and recording it and another one starts."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from tests.audit.trail import notices
from tests.fakes import FixedClock
from tests.server_helpers import free_port
from xds_server.app import build_dispatcher, create_app
from xds_server.audit import render_json
from xds_server.audit.dispatch import Dispatcher, Outbox, SendError, SmtpMailer
from xds_server.config import Settings
from xds_server.core.audit import Notice, NoticeKind
from xds_server.core.ports import PatientState
from xds_server.storage.audit import SqlAuditStore, set_contact_email
from xds_server.storage.database import Database
from xds_server.storage.outbox import SqlOutbox
from xds_server.storage.patients import SqlPatientDirectory

PATIENT = "180037512345678^^^&1.2.250.1.213.1.4.8&ISO^NH"
ADDRESS = "patient@example.org"


@dataclass
class Inbox:
    """An aiosmtpd handler: keeps what it accepts; ``refuse`` answers DATA with that reply instead."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        message = email.message_from_bytes(envelope.content, _class=EmailMessage, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def queue(database: Database, *kinds: NoticeKind, email_address: str | None = ADDRESS) -> None:
    """``kinds`` queued for PATIENT at the FixedClock's time."""
    with database.transaction() as connection:
        SqlPatientDirectory(connection).add(PATIENT, PatientState.ACTIVATED)
        if email_address is not None:
            set_contact_email(connection, PATIENT, email_address)
        store = SqlAuditStore(connection, render_json, FixedClock())
        for index, kind in enumerate(kinds):
            facts = {"professional": "810000000002", "name": "Dr Test", "structure": "S1",
                     "mode": "break_glass", "reason": "coma", "document": f"1.2.3.{index}"}  # fmt: skip
            store.enqueue(Notice(PATIENT, kind, f"urn:uuid:00000000-0000-4000-8000-{index:012d}", facts))


def dispatcher(database: Database, port: int, clock: FixedClock, mailer: Any = None) -> Dispatcher:
    @contextmanager
    def outbox() -> Iterator[Outbox]:
        with database.transaction() as connection:
            yield SqlOutbox(connection)

    return Dispatcher(outbox, mailer or SmtpMailer("127.0.0.1", port), "dmp@example.org", clock)


def states(database: Database) -> list[str]:
    return [n["state"] for n in notices(database)]


class TestDelivery:
    def test_sent_once_to_the_registered_address(self, database: Database, smtp: tuple[Inbox, int]) -> None:
        inbox, port = smtp
        queue(database, NoticeKind.EMERGENCY_ACCESS, NoticeKind.NEW_DOCUMENT)
        clock = FixedClock()
        report = dispatcher(database, port, clock).run_once()
        assert report.sent == 2
        assert dispatcher(database, port, clock).run_once().sent == 0  # nothing twice
        assert [m["To"] for m in inbox.messages] == [ADDRESS, ADDRESS]
        emergency = inbox.messages[0]
        assert "urgence" in emergency["Subject"]
        assert "coma" in emergency.get_content() and "break_glass" in emergency.get_content()
        assert emergency["Message-ID"].startswith("<notice-")
        rows = notices(database)
        assert [r["state"] for r in rows] == ["sent", "sent"]
        assert all(r["recipient"] == ADDRESS and r["sent_at"] is not None for r in rows)

    def test_no_address_is_not_sent(self, database: Database, smtp: tuple[Inbox, int]) -> None:
        inbox, port = smtp
        queue(database, NoticeKind.FIRST_ACCESS, email_address=None)
        assert dispatcher(database, port, FixedClock()).run_once().no_address == 1
        assert inbox.messages == [] and states(database) == ["no_address"]

    def test_temporary_refusal_is_retried_after_the_backoff(
        self, database: Database, smtp: tuple[Inbox, int]
    ) -> None:
        inbox, port = smtp
        inbox.refuse.append("451 4.3.0 try again later")
        queue(database, NoticeKind.FIRST_ACCESS)
        clock = FixedClock()
        assert dispatcher(database, port, clock).run_once().retried == 1
        row = notices(database)[0]
        assert (row["state"], row["attempts"]) == ("pending", 1) and "451" in row["last_error"]
        clock.advance(10)  # before the backoff (30 s): not due
        assert dispatcher(database, port, clock).run_once().sent == 0
        clock.advance(30)
        assert dispatcher(database, port, clock).run_once().sent == 1
        assert len(inbox.messages) == 1 and states(database) == ["sent"]

    def test_permanent_refusal_fails(self, database: Database, smtp: tuple[Inbox, int]) -> None:
        inbox, port = smtp
        inbox.refuse.append("550 5.1.1 no such mailbox")
        queue(database, NoticeKind.FIRST_ACCESS)
        assert dispatcher(database, port, FixedClock()).run_once().failed == 1
        assert states(database) == ["failed"] and inbox.messages == []

    def test_relay_down_is_retried(self, database: Database) -> None:
        queue(database, NoticeKind.FIRST_ACCESS)
        assert dispatcher(database, free_port(), FixedClock()).run_once().retried == 1
        assert states(database) == ["pending"]

    def test_attempts_are_bounded(self, database: Database) -> None:
        queue(database, NoticeKind.FIRST_ACCESS)
        clock = FixedClock()
        port = free_port()  # nobody listens
        for _ in range(8):
            dispatcher(database, port, clock).run_once()
            clock.advance(7 * 3600)
        assert states(database) == ["failed"]


class _Crash(BaseException):
    """The process dies (not an error the dispatcher could handle)."""


@dataclass
class CrashAfterSending:
    """Hands the message to the relay, then the process dies before the outbox row is marked."""

    inner: SmtpMailer

    def send(self, message: EmailMessage) -> None:
        self.inner.send(message)
        raise _Crash


class TestAtMostOnce:
    def test_crash_between_send_and_mark_never_resends(
        self, database: Database, smtp: tuple[Inbox, int]
    ) -> None:
        inbox, port = smtp
        queue(database, NoticeKind.EMERGENCY_ACCESS, NoticeKind.NEW_DOCUMENT)
        clock = FixedClock()
        crashing = dispatcher(database, port, clock, CrashAfterSending(SmtpMailer("127.0.0.1", port)))
        with pytest.raises(_Crash):
            crashing.run_once()
        assert len(inbox.messages) == 1 and states(database) == ["sending", "pending"]
        # a new dispatcher starts (same clock: within the claim lease) and another after the lease
        assert dispatcher(database, port, clock).run_once().sent == 1
        clock.advance(timedelta(minutes=11).total_seconds())
        report = dispatcher(database, port, clock).run_once()
        assert (report.sent, report.expired) == (0, 1)
        assert states(database) == ["uncertain", "sent"]
        subjects = [m["Subject"] for m in inbox.messages]
        assert len(subjects) == 2 and len(set(subjects)) == 2  # each notice exactly once

    def test_a_claimed_row_cannot_be_claimed_again(self, database: Database) -> None:
        queue(database, NoticeKind.FIRST_ACCESS)
        clock = FixedClock()
        with database.transaction() as connection:
            (row_id,) = SqlOutbox(connection).due(clock.now(), 10)
            assert SqlOutbox(connection).claim(row_id, clock.now(), "a") is not None
        with database.transaction() as connection:
            assert SqlOutbox(connection).claim(row_id, clock.now(), "b") is None

    def test_connection_lost_while_sending_is_uncertain(self, database: Database) -> None:
        class LostMidTransfer:
            def send(self, message: EmailMessage) -> None:
                raise SendError("connection lost while sending", retry=False, uncertain=True)

        queue(database, NoticeKind.FIRST_ACCESS)
        clock = FixedClock()
        assert dispatcher(database, 0, clock, LostMidTransfer()).run_once().uncertain == 1
        clock.advance(3600)
        assert dispatcher(database, 0, clock, LostMidTransfer()).run_once().uncertain == 0
        assert states(database) == ["uncertain"]


class TestInsideServe:
    def test_the_server_delivers_the_outbox_in_the_background(
        self, database: Database, smtp: tuple[Inbox, int], tmp_path: Path
    ) -> None:
        inbox, port = smtp
        settings = Settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=port, notify_interval=0.05)
        with TestClient(create_app(settings, database=database)):
            with database.transaction() as connection:  # queued now: due at once (real clock)
                SqlPatientDirectory(connection).add(PATIENT, PatientState.ACTIVATED)
                set_contact_email(connection, PATIENT, ADDRESS)
                SqlAuditStore(connection, render_json).enqueue(
                    Notice(
                        PATIENT, NoticeKind.FIRST_ACCESS, "urn:uuid:00000000-0000-4000-8000-000000000001", {}
                    )
                )
            for _ in range(400):  # wait for the dispatcher's next pass (at most 20 s)
                if states(database) == ["sent"]:
                    break
                time.sleep(0.05)
        assert states(database) == ["sent"] and len(inbox.messages) == 1

    def test_no_relay_no_dispatcher(self, tmp_path: Path) -> None:
        assert build_dispatcher(Settings(data_dir=tmp_path), Database("sqlite://")) is None
