"""The patient's side of his secure mailbox: plain functions the FHIR routes (``Communication``) and the web
portal call with the services and the verified actor.

Who: the patient himself, with a patient token (his INS names his mailbox). Anyone else, professionals and
legal representatives included, is refused (``MailboxRefused("forbidden")``); a conversation, message or
attachment outside his mailbox is answered exactly like an unknown one (``"not-found"``): every read filters
on his patient id in SQL. His mailbox opens with his profile: while the record is only created it keeps what
arrives, unreadable ("forbidden") until he activates it; a closed or opposed record has no mailbox.

What each function does in one transaction (the face's audit hook traces the request in it):

* ``list_conversations`` / ``list_messages``: newest conversation first, messages oldest first;
* ``read_message``: the message, marked read the first time; when the sender asked for a read receipt
  (Disposition-Notification-To) the RFC 8098 MDN is queued then, and only then (once, whatever the reads);
* ``reply``: inside an open conversation only, to its professional, threaded (In-Reply-To, References);
* ``pharmacy_choices`` / ``start_with_pharmacy``: the pharmacies of his reimbursement history and those he
  finds by search; a first message to one of them carries one document of his record he may see (the
  prescription) with ``PHARMACY_MESSAGE`` unless he wrote his own;
* ``attachment``: the bytes of one attachment of one of his messages.

Every message leaves through the outgoing mail (``mail_outbox``) written in the same transaction: committed
with the conversation, sent once by the mail sender.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.mailbox import (
    PHARMACY_MESSAGE,
    PHARMACY_SUBJECT,
    Attachment,
    Conversation,
    ConversationState,
    DirectoryEntry,
    MailboxStore,
    Message,
    Starter,
    may_reply,
    may_start_with,
    reply_subject,
)
from xds_server.core.policy import AccessContext, ActorKind
from xds_server.core.ports import PatientState
from xds_server.core.usecases.retrieve import DocumentRequest, retrieve
from xds_server.mailbox.delivery import patient_address, store_bytes
from xds_server.mailbox.mime import AttachmentPart, patient_message, read_receipt, wire
from xds_server.mailbox.outbound import read_blob
from xds_server.wiring import Services, UnitOfWork
from xds_server.wiring.access import retrieve_authorizer

__all__ = [
    "MailboxRefused",
    "PharmacyChoices",
    "attachment",
    "conversation_of",
    "list_conversations",
    "list_messages",
    "mailbox_address",
    "mailbox_patient",
    "pharmacy_choices",
    "read_message",
    "reply",
    "start_with_pharmacy",
]

Kind = Literal["forbidden", "not-found", "invalid", "conflict"]


class MailboxRefused(Exception):
    """A request the mailbox refuses: ``kind`` says how the face answers (403, 404, 400, 409)."""

    def __init__(self, kind: Kind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class PharmacyChoices:
    history: list[DirectoryEntry]
    found: list[DirectoryEntry]


def _owner(services: Services, actor: AccessContext) -> str:
    """The canonical patient id of the caller's mailbox; only the patient himself has one."""
    if actor.actor_kind is not ActorKind.PATIENT or not actor.patient_ins:
        raise MailboxRefused("forbidden", "only the patient reads and writes his secure mailbox")
    try:
        return canonical_patient_id(actor.patient_ins, services.profile)
    except IdentifierError:
        raise MailboxRefused("forbidden", "the token names no patient of this server") from None


def _open(services: Services, actor: AccessContext, work: UnitOfWork) -> tuple[str, MailboxStore]:
    patient = _owner(services, actor)
    if work.trail is not None:
        work.trail.patient(patient)
    state = work.patients.get(patient)
    if state is PatientState.CREATED:
        raise MailboxRefused("forbidden", "activate your Mon espace santé profile to read your messages")
    if state is not PatientState.ACTIVATED:
        raise MailboxRefused("forbidden", "this record has no secure mailbox (closed, opposed or unknown)")
    if work.mailbox is None:
        raise RuntimeError("UnitOfWork.mailbox is not wired: the composition root must provide it")
    return patient, work.mailbox


def mailbox_patient(services: Services, actor: AccessContext) -> str:
    """The canonical patient id of the caller's mailbox ("forbidden" for anyone but a patient)."""
    return _owner(services, actor)


def mailbox_address(services: Services, actor: AccessContext) -> str:
    """The caller's own mailbox address (``<INS>@patient domain``)."""
    return patient_address(_owner(services, actor), services.settings.mailbox_domain)


def list_conversations(services: Services, actor: AccessContext) -> list[Conversation]:
    with services.for_reading().transaction() as work:
        patient, mailbox = _open(services, actor, work)
        return mailbox.conversations(patient)


def list_messages(
    services: Services, actor: AccessContext, conversation_id: str | None = None
) -> list[Message]:
    """His messages (of one conversation when named: an unknown or foreign one is "not-found")."""
    with services.for_reading().transaction() as work:
        patient, mailbox = _open(services, actor, work)
        if conversation_id is not None and mailbox.conversation(patient, conversation_id) is None:
            raise MailboxRefused("not-found", "no such conversation")
        return mailbox.messages(patient, conversation_id)


def conversation_of(services: Services, actor: AccessContext, conversation_id: str) -> Conversation:
    with services.for_reading().transaction() as work:
        patient, mailbox = _open(services, actor, work)
        found = mailbox.conversation(patient, conversation_id)
    if found is None:
        raise MailboxRefused("not-found", "no such conversation")
    return found


def read_message(services: Services, actor: AccessContext, message_id: str) -> Message:
    """The message; the first opening marks it read and queues the read receipt the sender asked for."""
    with services.transaction() as work:
        patient, mailbox = _open(services, actor, work)
        message = mailbox.message(patient, message_id)
        if message is None:
            raise MailboxRefused("not-found", "no such message")
        now = services.clock.now()
        if message.inbound and mailbox.mark_read(patient, message.id, now):
            if message.mdn_to:
                own = patient_address(patient, services.settings.mailbox_domain)
                mdn = read_receipt(
                    patient_address=own,
                    to=message.mdn_to,
                    original_id=message.rfc_message_id,
                    subject=message.subject,
                    read_at=now,
                    reporter=services.settings.mailbox_domain,
                )
                mailbox.queue("mdn", own, message.mdn_to, _stored(services, wire(mdn)), now)
            message = mailbox.message(patient, message_id) or message
        return message


def _stored(services: Services, raw: bytes) -> str:
    if services.blobs is None:
        raise RuntimeError("the mailbox needs the blob store")
    return store_bytes(services.blobs, raw)


def _send(
    services: Services,
    mailbox: MailboxStore,
    patient: str,
    conversation: Conversation,
    *,
    subject: str,
    body: str,
    attachments: Sequence[AttachmentPart],
    thread: Sequence[Message],
) -> Message:
    """Write the patient's message (MIME, stored raw), file it in ``conversation`` and queue it."""
    own = patient_address(patient, services.settings.mailbox_domain)
    now = services.clock.now()
    last = next((m for m in reversed(thread) if m.inbound), thread[-1] if thread else None)
    references = tuple(dict.fromkeys(m.rfc_message_id for m in thread))[-20:]
    mime = patient_message(
        sender=own,
        to=conversation.counterpart,
        subject=subject,
        body=body,
        now=now,
        in_reply_to=last.rfc_message_id if last is not None else None,
        references=references,
        attachments=tuple(attachments),
    )
    raw = wire(mime)
    raw_key = _stored(services, raw)
    stored_parts = tuple(
        Attachment(i, a.filename, a.media_type, len(a.content), _stored(services, a.content))
        for i, a in enumerate(attachments)
    )
    message = Message(
        id=str(uuid.uuid4()),
        conversation_id=conversation.id,
        patient_id=patient,
        inbound=False,
        rfc_message_id=str(mime["Message-ID"]),
        sender=own,
        recipient=conversation.counterpart,
        subject=subject,
        body=body,
        at=now,
        raw_key=raw_key,
        read_at=now,
        attachments=stored_parts,
    )
    mailbox.add_message(message)
    mailbox.touch(conversation.id, conversation.state, now)
    mailbox.queue("message", own, conversation.counterpart, raw_key, now)
    return message


def _text(body: str | None, max_chars: int = 100_000) -> str:
    text = (body or "").strip()
    if not text:
        raise MailboxRefused("invalid", "the message is empty")
    if len(text) > max_chars:
        raise MailboxRefused("invalid", f"the message is longer than {max_chars} characters")
    return text


def _checked_attachments(services: Services, parts: Sequence[AttachmentPart]) -> list[AttachmentPart]:
    settings = services.settings
    allowed = {t.lower() for t in settings.mailbox_attachment_types}
    if len(parts) > settings.mailbox_max_attachments:
        raise MailboxRefused("invalid", f"at most {settings.mailbox_max_attachments} attachments")
    total = 0
    for part in parts:
        if part.media_type.lower() not in allowed:
            raise MailboxRefused("invalid", f"attachments of type {part.media_type} are not accepted")
        total += len(part.content)
    if total > settings.mailbox_max_bytes:
        raise MailboxRefused("invalid", f"the attachments exceed {settings.mailbox_max_bytes} bytes")
    return list(parts)


def reply(
    services: Services,
    actor: AccessContext,
    conversation_id: str,
    body: str,
    attachments: Sequence[AttachmentPart] = (),
) -> Message:
    """The patient's answer in an open conversation (a closed one: "conflict")."""
    text = _text(body)
    parts = _checked_attachments(services, attachments)
    with services.transaction() as work:
        patient, mailbox = _open(services, actor, work)
        conversation = mailbox.conversation(patient, conversation_id)
        if conversation is None:
            raise MailboxRefused("not-found", "no such conversation")
        refusal = may_reply(conversation.state)
        if refusal is not None:
            raise MailboxRefused("conflict", refusal.value)
        thread = mailbox.messages(patient, conversation.id)
        return _send(
            services,
            mailbox,
            patient,
            conversation,
            subject=reply_subject(conversation.subject),
            body=text,
            attachments=parts,
            thread=thread,
        )


def pharmacy_choices(
    services: Services, actor: AccessContext, search: str | None = None, limit: int = 50
) -> PharmacyChoices:
    """The pharmacies he may write to: those of his reimbursement history, and those ``search`` finds."""
    with services.for_reading().transaction() as work:
        patient, mailbox = _open(services, actor, work)
        history = [e for e in mailbox.history(patient) if may_start_with(e) is None]
        found = mailbox.pharmacies(search, limit) if search is not None else []
    return PharmacyChoices(history, found)


def _record_document(
    services: Services, actor: AccessContext, work: UnitOfWork, unique_id: str
) -> AttachmentPart:
    """A document of his record he may see (ITI-43's decision for his token), as an attachment."""
    blobs = services.blobs
    if blobs is None:
        raise RuntimeError("the mailbox needs the blob store")
    repository = services.settings.repository_unique_id
    request = DocumentRequest(repository, unique_id.strip())
    authorize = retrieve_authorizer(services, actor, work, [request])
    result = retrieve(
        [request], index=work.documents, blobs=blobs, repository_unique_id=repository, authorize=authorize
    )
    if not result.documents:
        raise MailboxRefused("not-found", f"no document {unique_id!r} in your record")
    found = result.documents[0]
    extension = {"application/pdf": ".pdf", "text/plain": ".txt", "image/jpeg": ".jpg", "image/png": ".png"}
    name = f"ordonnance{extension.get(found.mime_type, '.xml')}"
    return AttachmentPart(name, found.mime_type, read_blob(blobs, found.key))


def start_with_pharmacy(
    services: Services,
    actor: AccessContext,
    pharmacy: str,
    document_unique_id: str,
    body: str | None = None,
    subject: str | None = None,
) -> Message:
    """His first message to a pharmacy (organisational mailbox of the directory), carrying one document
    of his record; the pre-filled ``PHARMACY_MESSAGE`` when ``body`` is None."""
    if not document_unique_id or not document_unique_id.strip():
        raise MailboxRefused("invalid", "name the document of your record to send (the prescription)")
    text = _text(PHARMACY_MESSAGE if body is None else body)
    with services.transaction() as work:
        patient, mailbox = _open(services, actor, work)
        entry = mailbox.directory_get(pharmacy.strip().lower())
        refusal = may_start_with(entry)
        if refusal is not None or entry is None:
            raise MailboxRefused("forbidden", refusal.value if refusal else "unknown mailbox")
        document = _record_document(services, actor, work, document_unique_id)
        parts = _checked_attachments(services, [document])
        now = services.clock.now()
        conversation = Conversation(
            id=str(uuid.uuid4()),
            patient_id=patient,
            counterpart=entry.address,
            subject=(subject or PHARMACY_SUBJECT).strip() or PHARMACY_SUBJECT,
            started_by=Starter.PATIENT,
            state=ConversationState.OPEN,
            created_at=now,
            updated_at=now,
        )
        mailbox.new_conversation(conversation)
        return _send(
            services,
            mailbox,
            patient,
            conversation,
            subject=conversation.subject,
            body=text,
            attachments=parts,
            thread=(),
        )


def attachment(
    services: Services, actor: AccessContext, message_id: str, position: int
) -> tuple[Attachment, bytes]:
    """One attachment of one of his messages, with its bytes."""
    with services.for_reading().transaction() as work:
        patient, mailbox = _open(services, actor, work)
        message = mailbox.message(patient, message_id)
    found = next((a for a in message.attachments if a.position == position), None) if message else None
    if found is None or services.blobs is None:
        raise MailboxRefused("not-found", "no such attachment")
    try:
        return found, read_blob(services.blobs, found.blob_key)
    except KeyError:
        raise MailboxRefused("not-found", "the attachment is no longer available") from None
