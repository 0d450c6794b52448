"""Mail leaving the patient mailbox (his messages, read receipts, delivery reports) through the relay.

The same contract as the notice dispatcher (xds_server/audit/dispatch.py, which says why): each row of
``mail_outbox`` is claimed in a committed transaction before it is handed to the relay, then marked ``sent``;
a relay's refusal 4xx is retried later, 5xx fails; a connection lost mid-transfer, or a sender that died
while holding the claim, leaves the row ``uncertain``, never sent twice. The bytes sent are the ones stored
when the mail was written (the blob store keeps them), so what crossed SMTP is what the mailbox shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from xds_server.audit.dispatch import SendError
from xds_server.core.blobs import BlobStore
from xds_server.core.ports import Clock

__all__ = ["MailSender", "OutgoingQueue", "RawMailer", "SendReport", "read_blob"]

log = logging.getLogger(__name__)


class Outgoing(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def sender(self) -> str: ...

    @property
    def recipient(self) -> str: ...

    @property
    def raw_key(self) -> str: ...

    @property
    def attempts(self) -> int: ...


class OutgoingQueue(Protocol):
    """``storage.mailbox.SqlMailbox``'s outgoing-mail methods, on one open transaction."""

    def expire_claims(self, claimed_before: datetime) -> int: ...

    def due(self, now: datetime, limit: int) -> list[int]: ...

    def claim(self, row_id: int, now: datetime) -> Outgoing | None: ...

    def mark(self, row_id: int, state: str, *, at: datetime, error: str | None = None) -> None: ...


class RawMailer(Protocol):
    def send_raw(self, sender: str, recipients: Sequence[str], raw: bytes) -> None: ...


@dataclass(slots=True)
class SendReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"mail sent {self.sent}, retry later {self.retried}, failed {self.failed}, "
            f"uncertain {self.uncertain}"
        )


def read_blob(blobs: BlobStore, key: str) -> bytes:
    """The whole blob (mail and attachments are bounded by the mailbox limits); KeyError when missing."""
    handle = blobs.open(key)
    try:
        return handle.read()
    finally:
        handle.close()


@dataclass
class MailSender:
    queue: Callable[[], AbstractContextManager[OutgoingQueue]]  # one committed transaction per call
    blobs: BlobStore
    mailer: RawMailer
    clock: Clock
    batch: int = 100
    max_attempts: int = 8
    base_delay: timedelta = timedelta(seconds=30)
    lease: timedelta = timedelta(minutes=10)

    def run_once(self) -> SendReport:
        report = SendReport()
        now = self.clock.now()
        with self.queue() as queue:
            report.uncertain += queue.expire_claims(now - self.lease)
            due = queue.due(now, self.batch)
        for row_id in due:
            self._send(row_id, report)
        return report

    def _send(self, row_id: int, report: SendReport) -> None:
        with self.queue() as queue:  # the claim commits before anything is sent
            mail = queue.claim(row_id, self.clock.now())
        if mail is None:
            return
        try:
            raw = read_blob(self.blobs, mail.raw_key)
            self.mailer.send_raw(mail.sender, [mail.recipient], raw)
        except SendError as error:
            self._after_failure(mail, error, report)
            return
        except KeyError:
            with self.queue() as queue:
                queue.mark(row_id, "failed", at=self.clock.now(), error="the stored message is missing")
            report.failed += 1
            return
        with self.queue() as queue:
            queue.mark(row_id, "sent", at=self.clock.now())
        report.sent += 1

    def _after_failure(self, mail: Outgoing, error: SendError, report: SendReport) -> None:
        message = str(error)
        report.errors.append(f"mail {mail.id}: {message}")
        log.warning("mail %s to %s not delivered: %s", mail.id, mail.recipient, message)
        now = self.clock.now()
        with self.queue() as queue:
            if error.uncertain:
                queue.mark(mail.id, "uncertain", at=now, error=message)
                report.uncertain += 1
            elif error.retry and mail.attempts < self.max_attempts:
                delay = min(self.base_delay * (2 ** max(mail.attempts - 1, 0)), timedelta(hours=6))
                queue.mark(mail.id, "pending", at=now + delay, error=message)
                report.retried += 1
            else:
                queue.mark(mail.id, "failed", at=now, error=message)
                report.failed += 1
