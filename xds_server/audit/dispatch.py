"""Delivering the patient notices of the outbox by e-mail (SMTP), at most once each.

Theory of operation. SMTP has no idempotency key: after a crash between "the relay accepted the message"
and "the outbox row says sent", nothing tells whether the patient got it. We choose AT-MOST-ONCE, because
the promise is "never sends one row twice" and a duplicate alarm about an emergency access is itself a
harm; the price is that a notice in flight during a crash is not retried. So, per row:

1. claim: ``pending`` -> ``sending`` (attempts + 1), COMMITTED before anything is sent;
2. send to the address the patient registered (none: ``no_address``, his yearly statement tells him);
3. mark in a new transaction: ``sent`` (with the recipient and time); when the relay ANSWERED with a
   refusal (an SMTP reply code: the message was not accepted) 4xx -> ``pending`` again after a backoff
   (``failed`` once the attempts are spent), 5xx -> ``failed``; a connection that failed before the
   message was handed over (connect, STARTTLS, login) -> ``pending`` after a backoff; a connection lost
   while the message was being handed over -> ``uncertain`` (never resent).
4. a row still ``sending`` after the claim lease (its dispatcher died between 1 and 3) becomes
   ``uncertain`` at the next run, never ``pending``.

Each message carries a Message-ID derived from the row (``<notice-ID.EVENT@observer>``), so an operator who
re-queues uncertain rows by hand lets the mail system drop a duplicate. Messages say what happened and who
did it, never medical content.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

from xds_server.core.audit import NoticeKind, QueuedNotice
from xds_server.core.ports import Clock

__all__ = [
    "DispatchReport",
    "Dispatcher",
    "Mailer",
    "Outbox",
    "SendError",
    "SmtpMailer",
    "compose",
    "notice_text",
]

log = logging.getLogger(__name__)


class Outbox(Protocol):
    """The outbox on one open transaction (storage.outbox.SqlOutbox)."""

    def expire_claims(self, claimed_before: datetime) -> int: ...

    def due(self, now: datetime, limit: int) -> list[int]: ...

    def claim(self, row_id: int, now: datetime, dispatcher: str) -> QueuedNotice | None: ...

    def contact_email(self, patient_id: str) -> str | None: ...

    def mark_sent(self, row_id: int, now: datetime, recipient: str) -> None: ...

    def retry_later(self, row_id: int, at: datetime, error: str) -> None: ...

    def give_up(self, row_id: int, state: str, error: str | None, recipient: str | None = None) -> None: ...


class SendError(Exception):
    """A delivery that did not happen (``retry``: worth another attempt) or may have (``uncertain``)."""

    def __init__(self, message: str, *, retry: bool, uncertain: bool = False) -> None:
        super().__init__(message)
        self.retry = retry
        self.uncertain = uncertain


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the relay; raise SendError when it was not (or may not have been) taken."""
        ...


@dataclass(frozen=True, slots=True)
class SmtpMailer:
    """smtplib over one connection per message (notices are few: no pooling)."""

    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0

    def send(self, message: EmailMessage) -> None:
        self._session(lambda client: client.send_message(message))

    def send_raw(self, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        """Hand the bytes of a message as they are (the mailbox keeps what crossed SMTP byte for byte)."""
        self._session(lambda client: client.sendmail(sender, list(recipients), raw))

    def _session(self, transfer: Callable[[smtplib.SMTP], dict[str, tuple[int, bytes]]]) -> None:
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as error:
            raise SendError(f"cannot reach the SMTP relay: {error}", retry=True) from error
        with client:
            try:
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                if self.user:
                    client.login(self.user, self.password or "")
            except smtplib.SMTPResponseException as error:
                raise SendError(_reply(error), retry=error.smtp_code < 500) from error
            except (OSError, smtplib.SMTPException) as error:
                raise SendError(f"SMTP session failed before sending: {error}", retry=True) from error
            try:
                refused = transfer(client)
            except smtplib.SMTPRecipientsRefused as error:
                codes = [code for code, _ in error.recipients.values()]
                raise SendError(
                    f"recipient refused: {error.recipients}", retry=all(c < 500 for c in codes)
                ) from error
            except smtplib.SMTPResponseException as error:  # the relay answered: not accepted
                raise SendError(_reply(error), retry=error.smtp_code < 500) from error
            except (OSError, smtplib.SMTPException) as error:  # lost mid-transfer: accepted or not?
                raise SendError(
                    f"connection lost while sending: {error}", retry=False, uncertain=True
                ) from error
            if refused:
                raise SendError(f"recipient refused: {refused}", retry=False)


def _reply(error: smtplib.SMTPResponseException) -> str:
    text = (
        error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
    )
    return f"SMTP {error.smtp_code} {text}"


#: (subject, body) per notice kind; ``{…}`` fields come from the notice's facts.
_TEXTS: Mapping[str, tuple[str, str]] = {
    NoticeKind.FIRST_ACCESS: (
        "Votre DMP : un nouveau professionnel a accédé à votre dossier",
        "Le professionnel {name} ({professional}, structure {structure}) a accédé pour la première fois à "
        "votre dossier médical partagé.",
    ),
    NoticeKind.EMERGENCY_ACCESS: (
        "Votre DMP : accès en urgence à votre dossier",
        "Le professionnel {name} ({professional}, structure {structure}) a accédé à votre dossier en mode "
        "d'urgence ({mode}). Motif déclaré : {reason}",
    ),
    NoticeKind.NEW_DOCUMENT: (
        "Votre DMP : un nouveau document a été ajouté",
        "Le professionnel {name} ({professional}) a ajouté un document ({document}) à votre dossier.",
    ),
    NoticeKind.NEW_MESSAGE: (
        "Mon espace santé : vous avez reçu un nouveau message",
        "{sender} vous a envoyé un message dans votre messagerie sécurisée Mon espace santé. Connectez-vous "
        "à votre profil pour le lire.",
    ),
}
_FOOTER = "\n\nL'historique complet des accès est consultable dans votre espace santé.\n"


def notice_text(kind: str, facts: Mapping[str, str]) -> tuple[str, str]:
    """(subject, text) of a notice: what the e-mail says, and what the portal's notification list shows."""
    subject, body = _TEXTS.get(kind, ("Votre DMP", "Votre dossier a été modifié."))
    return subject, body.format_map(_Missing({k: (v or "-") for k, v in facts.items()}))


def compose(notice: QueuedNotice, recipient: str, sender: str, domain: str) -> EmailMessage:
    subject, text = notice_text(notice.kind, notice.facts)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(notice.created_at)
    message["Message-ID"] = f"<notice-{notice.id}.{notice.event_id.removeprefix('urn:uuid:')}@{domain}>"
    message.set_content(text + _FOOTER)
    return message


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "-"


@dataclass(slots=True)
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    no_address: int = 0
    uncertain: int = 0
    expired: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"sent {self.sent}, retry later {self.retried}, failed {self.failed}, "
            f"no address {self.no_address}, uncertain {self.uncertain + self.expired}"
        )


@dataclass
class Dispatcher:
    """One outbox pass per ``run_once`` (see the module docstring for the contract)."""

    outbox: Callable[[], AbstractContextManager[Outbox]]  # one committed transaction per call
    mailer: Mailer
    sender: str
    clock: Clock
    name: str = "dispatcher"
    domain: str = "xds-server"
    batch: int = 100
    max_attempts: int = 8
    base_delay: timedelta = timedelta(seconds=30)
    lease: timedelta = timedelta(minutes=10)

    def backoff(self, attempts: int) -> timedelta:
        """30 s, 1 min, 2 min, ... capped at 6 h."""
        delay: timedelta = self.base_delay * (2 ** max(attempts - 1, 0))
        return min(delay, timedelta(hours=6))

    def run_once(self) -> DispatchReport:
        report = DispatchReport()
        now = self.clock.now()
        with self.outbox() as outbox:
            report.expired = outbox.expire_claims(now - self.lease)
            due = outbox.due(now, self.batch)
        for row_id in due:
            self._deliver(row_id, report)
        return report

    def _deliver(self, row_id: int, report: DispatchReport) -> None:
        now = self.clock.now()
        with self.outbox() as outbox:  # the claim commits before anything is sent
            notice = outbox.claim(row_id, now, self.name)
            recipient = outbox.contact_email(notice.patient_id) if notice is not None else None
        if notice is None:
            return  # another dispatcher has it
        if recipient is None:
            with self.outbox() as outbox:
                outbox.give_up(row_id, "no_address", "the patient registered no e-mail address")
            report.no_address += 1
            return
        try:
            self.mailer.send(compose(notice, recipient, self.sender, self.domain))
        except SendError as error:
            self._after_failure(notice, recipient, error, report)
            return
        with self.outbox() as outbox:
            outbox.mark_sent(row_id, self.clock.now(), recipient)
        report.sent += 1

    def _after_failure(
        self, notice: QueuedNotice, recipient: str, error: SendError, report: DispatchReport
    ) -> None:
        message = str(error)
        report.errors.append(f"notice {notice.id}: {message}")
        log.warning("notice %s to %s not delivered: %s", notice.id, recipient, message)
        with self.outbox() as outbox:
            if error.uncertain:
                outbox.give_up(notice.id, "uncertain", message, recipient)
                report.uncertain += 1
            elif error.retry and notice.attempts < self.max_attempts:
                outbox.retry_later(notice.id, self.clock.now() + self.backoff(notice.attempts), message)
                report.retried += 1
            else:
                outbox.give_up(notice.id, "failed", message, recipient)
                report.failed += 1
