"""Inbound delivery: one message a directory sender handed over SMTP, into the patients' mailboxes.

Theory of operation (issue 16 item 2, 3, 4, 6). ``deliver`` runs before the SMTP server answers DATA:

1. the MIME is read (``mime.parse``, limits of the settings); a message that cannot be read is refused
   with its SMTP code and nothing is kept;
2. the raw message and its attachments are made durable in the blob store (content-addressed, as documents);
3. ONE database transaction: for each recipient, the record's state decides (``core.mailbox
   .delivery_verdict``): delivered -> the message joins its conversation (or opens one), a professional's
   ``[FIN]`` closes it, and the patient's new-message notice is queued in the notification outbox; bounced ->
   an RFC 3464 report is queued in the outgoing mail. The answer 250 is given only after this commit, so a
   crash before it loses nothing the sender was told was delivered (he sends again: the message is
   recognised by its Message-ID and kept once), and a crash after it loses nothing either: the notice and the
   reports wait in their outboxes and leave once the server runs again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from xds_server.config import Settings
from xds_server.core.audit import Notice, NoticeKind
from xds_server.core.blobs import BlobStore, blob_key
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.mailbox import (
    BOUNCE_STATUS,
    Attachment,
    Bounce,
    Conversation,
    ConversationState,
    DirectoryEntry,
    MailboxStore,
    Message,
    Starter,
    bounce_text,
    delivery_verdict,
    patient_ins,
    state_after,
)
from xds_server.core.ports import PatientState
from xds_server.core.profile import DomainProfile
from xds_server.mailbox.mime import MimeError, ParsedMessage, delivery_report, parse, wire
from xds_server.wiring import Services, UnitOfWork

__all__ = ["Delivered", "MimeError", "deliver", "find_patient", "patient_address", "store_bytes"]


def store_bytes(blobs: BlobStore, content: bytes) -> str:
    """Make ``content`` durable in the blob store under its SHA-256 (a SHA-1 key would let a colliding
    attachment stand for another); its key."""
    key = blob_key(hashlib.sha256(content).hexdigest())
    if blobs.exists(key):
        return key
    staging = blobs.staging_dir
    staging.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=staging, prefix="mail-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        blobs.put_file(key, Path(name))
    finally:
        if os.path.exists(name):
            os.unlink(name)
    return key


def _candidates(ins: str, profile: DomainProfile) -> list[str]:
    """The canonical patient ids an INS may be known as (each accepted INS authority)."""
    authorities = sorted(profile.patient_id_authorities or ())
    if profile.accept_test_authorities:
        authorities += sorted(profile.test_authorities)
    if profile.default_patient_authority and profile.default_patient_authority not in authorities:
        authorities.insert(0, profile.default_patient_authority)
    found: list[str] = []
    for authority in authorities:
        try:
            found.append(canonical_patient_id(f"{ins}^^^&{authority}&ISO", profile))
        except IdentifierError:
            continue
    return found


def find_patient(
    work: UnitOfWork, profile: DomainProfile, ins: str
) -> tuple[str | None, PatientState | None]:
    """The record an INS names (canonical id, state), or (None, None)."""
    for candidate in _candidates(ins.upper(), profile):
        state = work.patients.get(candidate)
        if state is not None:
            return candidate, state
    return None, None


def patient_address(patient_id: str, domain: str) -> str:
    """The mailbox address of a canonical patient id (its INS matricule at the patient domain)."""
    return f"{patient_id.split('^', 1)[0]}@{domain}"


@dataclass(frozen=True, slots=True)
class Delivered:
    """What one DATA did: messages stored (id per recipient) and reports queued (recipient, reason)."""

    messages: dict[str, str]
    bounced: dict[str, Bounce]


def _mailbox(work: UnitOfWork) -> MailboxStore:
    if work.mailbox is None:
        raise RuntimeError("UnitOfWork.mailbox is not wired: the composition root must provide it")
    return work.mailbox


def deliver(
    services: Services, sender: DirectoryEntry, recipients: list[str], raw: bytes, arrival: datetime
) -> Delivered:
    """Steps 1-3 of the module docstring; MimeError when the message is refused as a whole."""
    settings = services.settings
    blobs = services.blobs
    if blobs is None:
        raise RuntimeError("the mailbox needs the blob store")
    parsed = parse(
        raw,
        max_attachments=settings.mailbox_max_attachments,
        allowed_types=frozenset(t.lower() for t in settings.mailbox_attachment_types),
    )
    raw_key = store_bytes(blobs, raw)
    attachments = tuple(
        Attachment(
            position, part.filename, part.media_type, len(part.content), store_bytes(blobs, part.content)
        )
        for position, part in enumerate(parsed.attachments)
    )
    messages: dict[str, str] = {}
    bounced: dict[str, Bounce] = {}
    with services.transaction() as work:
        mailbox = _mailbox(work)
        now = services.clock.now()
        for recipient in recipients:
            ins = patient_ins(recipient, settings.mailbox_domain) or ""
            patient_id, state = find_patient(work, services.profile, ins)
            verdict = delivery_verdict(ins, state)
            if verdict is not None or patient_id is None:
                reason = verdict or Bounce.UNKNOWN
                _queue_report(services, mailbox, sender, recipient, reason, parsed, arrival, now)
                bounced[recipient] = reason
                continue
            messages[recipient] = _file(
                services, work, mailbox, sender, recipient, patient_id, parsed, raw_key, attachments, now
            )
    return Delivered(messages, bounced)


def _queue_report(
    services: Services,
    mailbox: MailboxStore,
    sender: DirectoryEntry,
    recipient: str,
    reason: Bounce,
    parsed: ParsedMessage,
    arrival: datetime,
    now: datetime,
) -> None:
    settings: Settings = services.settings
    address = recipient.strip().strip("<>")
    report = delivery_report(
        reporter=settings.mailbox_reporter,
        sender=sender.address,
        recipient=address,
        status=BOUNCE_STATUS[reason],
        text=bounce_text(reason, address),
        original_headers=parsed.headers,
        arrival=arrival,
        now=now,
    )
    assert services.blobs is not None
    key = store_bytes(services.blobs, wire(report))
    # RFC 3464 §2: a report goes with the null reverse-path, so that it is never answered by another
    mailbox.queue("dsn", "", sender.address, key, now)


def _file(
    services: Services,
    work: UnitOfWork,
    mailbox: MailboxStore,
    sender: DirectoryEntry,
    recipient: str,
    patient_id: str,
    parsed: ParsedMessage,
    raw_key: str,
    attachments: tuple[Attachment, ...],
    now: datetime,
) -> str:
    """Store the message in the patient's conversation; its id (the existing one for a message the sender
    sent again after a lost answer)."""
    rfc_id = parsed.message_id or f"<{uuid.uuid4()}@{services.settings.mailbox_domain}>"
    if parsed.message_id is not None:
        again = mailbox.thread_of(patient_id, [rfc_id])
        if again is not None:
            same = [m for m in mailbox.messages(patient_id, again.id) if m.rfc_message_id == rfc_id]
            if same and same[0].inbound and same[0].sender == sender.address:
                return same[0].id
    conversation = mailbox.thread_of(patient_id, parsed.thread) if parsed.thread else None
    if (
        conversation is None
        or conversation.state is ConversationState.CLOSED
        or conversation.counterpart != sender.address
    ):
        conversation = Conversation(
            id=str(uuid.uuid4()),
            patient_id=patient_id,
            counterpart=sender.address,
            subject=parsed.subject,
            started_by=Starter.PROFESSIONAL,
            state=ConversationState.OPEN,
            created_at=now,
            updated_at=now,
        )
        mailbox.new_conversation(conversation)
    message_id = str(uuid.uuid4())
    mailbox.add_message(
        Message(
            id=message_id,
            conversation_id=conversation.id,
            patient_id=patient_id,
            inbound=True,
            rfc_message_id=rfc_id[:998],
            sender=sender.address,
            recipient=recipient.strip().strip("<>").lower(),
            subject=parsed.subject,
            body=parsed.body,
            at=now,
            raw_key=raw_key,
            mdn_to=parsed.disposition_to,
            attachments=attachments,
        )
    )
    mailbox.touch(
        conversation.id, state_after(conversation.state, parsed.subject, from_professional=True), now
    )
    if work.audit is not None:
        facts = {"sender": sender.name or sender.address, "address": sender.address}
        work.audit.enqueue(Notice(patient_id, NoticeKind.NEW_MESSAGE, f"urn:uuid:{message_id}", facts))
    return message_id
