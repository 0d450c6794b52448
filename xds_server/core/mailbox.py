"""The patient's secure mailbox (Mon espace santé messaging, MSSanté-style): who may write what, where.

Theory of operation (issue 16; dmp-rules.md §(e)). Every patient with a record has a mailbox whose address is
his INS matricule (15 characters, NIR + key) at the patient domain (``patient.mssante.fr``). Only senders in
the MSSanté directory (professionals' personal mailboxes, organisations' mailboxes) write to it.

* Delivery (``delivery_verdict``): an address whose local part is no valid INS (length or key) bounces
  "invalide"; an INS with no record, or an opposed one, bounces "n'existe pas" (an opposed record is not
  revealed as such); a closed record bounces "clôturée". A created-but-not-activated record receives the
  message (the patient reads it once he activates his profile). Each bounce is an RFC 3464 report whose
  French text is ``bounce_text``.
* Conversations: only a professional starts one (any message of his that does not follow a thread of this
  patient opens a new one). The patient only replies, inside an open conversation. A professional's message
  whose subject is exactly ``[FIN]`` (``is_fin``: case-exact, nothing around it) closes its conversation;
  the patient then sees it closed and cannot write in it; a professional writing again starts a new one.
* The one exception: the patient may start a conversation with a pharmacy (``may_start_with``) that has an
  organisational mailbox in the directory (found in his reimbursement history or by search), sending a
  document of his record with a pre-filled message (``PHARMACY_MESSAGE``, editable) that reminds him to
  bring the paper prescription. A pharmacy's ``[FIN]`` closes that conversation only; he may start another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from xds_server.core.identifiers import ins_problem
from xds_server.core.ports import PatientState

DEFAULT_DOMAIN: Final = "patient.mssante.fr"
#: The subject that closes a conversation, exactly (``[fin]``, ``[FIN] `` or ``Re: [FIN]`` do not).
FIN_SUBJECT: Final = "[FIN]"
#: The editable message the patient's first message to a pharmacy starts with.
PHARMACY_SUBJECT: Final = "Ordonnance"
PHARMACY_MESSAGE: Final = (
    "Bonjour,\n\n"
    "Veuillez trouver ci-joint mon ordonnance afin de préparer ma délivrance.\n"
    "Je vous apporterai l'ordonnance papier lors de mon passage à la pharmacie.\n\n"
    "Cordialement."
)


class MailboxKind(StrEnum):
    """An MSSanté mailbox: a professional's own, or an organisation's (a service, a pharmacy)."""

    PERSONAL = "personal"
    ORGANISATIONAL = "organisational"


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """A mailbox of the MSSanté directory (the only senders the patient mailbox accepts)."""

    address: str
    idnps: str
    kind: MailboxKind
    name: str = ""
    pharmacy: bool = False
    finess: str | None = None


class Bounce(StrEnum):
    """Why a message to a patient address is not delivered (the DSN's reason)."""

    INVALID = "invalid"
    UNKNOWN = "unknown"  # no record, or an opposed one
    CLOSED = "closed"


#: RFC 3463 status of each bounce: bad mailbox address (5.1.1), mailbox disabled (5.2.1).
BOUNCE_STATUS: Final = {Bounce.INVALID: "5.1.1", Bounce.UNKNOWN: "5.1.1", Bounce.CLOSED: "5.2.1"}

_BOUNCE_REASON: Final = {
    Bounce.INVALID: "car cette adresse Mon espace santé est invalide.",
    Bounce.UNKNOWN: "car cette adresse Mon espace santé n'existe pas.",
    Bounce.CLOSED: "car la messagerie Mon espace santé de votre destinataire est clôturée.",
}


def bounce_text(reason: Bounce, address: str) -> str:
    """The sentence the professional reads, exactly as Mon espace santé words it."""
    return (
        f"Le message que vous avez envoyé à l'adresse \"{address}\" n'a pas pu être distribué, "
        f"{_BOUNCE_REASON[reason]}"
    )


def split_address(address: str) -> tuple[str, str]:
    """(local part, lower-case domain) of ``local@domain``; ValueError when it is not one."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"{address!r} is not an e-mail address")
    return local, domain.lower()


def patient_ins(address: str, domain: str) -> str | None:
    """The INS a patient address names; None when the address is not in ``domain`` at all (not ours)."""
    try:
        local, found = split_address(address)
    except ValueError:
        return None
    return local if found == domain.lower() else None


def delivery_verdict(ins: str, state: PatientState | None) -> Bounce | None:
    """None: deliver to ``ins``'s mailbox (its record in ``state``, None when unknown); else the bounce."""
    if ins_problem(ins.upper()) is not None:
        return Bounce.INVALID
    if state is None or state is PatientState.OPPOSED:
        return Bounce.UNKNOWN
    if state is PatientState.CLOSED:
        return Bounce.CLOSED
    return None


def is_fin(subject: str | None) -> bool:
    """Whether a professional's subject closes the conversation: exactly ``[FIN]``."""
    return subject == FIN_SUBJECT


class ConversationState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Starter(StrEnum):
    PROFESSIONAL = "professional"
    PATIENT = "patient"


class Refusal(StrEnum):
    """Why the patient may not write (each becomes a precise error at the face)."""

    CLOSED = "the conversation is closed ([FIN]): you can no longer write in it"
    NOT_A_PHARMACY = "you may start a conversation only with a pharmacy's organisational mailbox"
    NOT_IN_DIRECTORY = "this address is not in the MSSanté directory"
    NO_DOCUMENT = "a message to a pharmacy carries one document of your record (the prescription)"
    EMPTY = "the message is empty"


def may_reply(state: ConversationState) -> Refusal | None:
    """The patient replies only inside an open conversation."""
    return Refusal.CLOSED if state is ConversationState.CLOSED else None


def may_start_with(entry: DirectoryEntry | None) -> Refusal | None:
    """The patient starts a conversation only with a pharmacy that has an organisational mailbox."""
    if entry is None:
        return Refusal.NOT_IN_DIRECTORY
    if not entry.pharmacy or entry.kind is not MailboxKind.ORGANISATIONAL:
        return Refusal.NOT_A_PHARMACY
    return None


def state_after(
    current: ConversationState, subject: str | None, *, from_professional: bool
) -> ConversationState:
    """A conversation's state once a message is added: a professional's ``[FIN]`` closes it for good."""
    if from_professional and is_fin(subject):
        return ConversationState.CLOSED
    return current


@dataclass(frozen=True, slots=True)
class Attachment:
    position: int
    filename: str
    media_type: str
    size: int
    blob_key: str


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    patient_id: str
    counterpart: str
    subject: str
    started_by: Starter
    state: ConversationState
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    #: the patient's unread messages in it
    unread: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation; ``inbound``: to the patient."""

    id: str
    conversation_id: str
    patient_id: str
    inbound: bool
    rfc_message_id: str
    sender: str
    recipient: str
    subject: str
    body: str
    at: datetime
    raw_key: str
    mdn_to: str | None = None
    read_at: datetime | None = None
    attachments: tuple[Attachment, ...] = ()


class MailboxStore(Protocol):
    """The mailbox's tables on one open transaction (storage.mailbox.SqlMailbox); every conversation and
    message read is scoped to the patient it names."""

    def directory_get(self, address: str) -> DirectoryEntry | None: ...

    def password_hash(self, address: str) -> str | None: ...

    def pharmacies(self, text: str | None, limit: int) -> list[DirectoryEntry]: ...

    def history(self, patient_id: str) -> list[DirectoryEntry]: ...

    def thread_of(self, patient_id: str, rfc_ids: Sequence[str]) -> Conversation | None: ...

    def new_conversation(self, conversation: Conversation) -> None: ...

    def touch(self, conversation_id: str, state: ConversationState, now: datetime) -> None: ...

    def conversations(self, patient_id: str) -> list[Conversation]: ...

    def conversation(self, patient_id: str, conversation_id: str) -> Conversation | None: ...

    def add_message(self, message: Message) -> None: ...

    def messages(self, patient_id: str, conversation_id: str | None = None) -> list[Message]: ...

    def message(self, patient_id: str, message_id: str) -> Message | None: ...

    def mark_read(self, patient_id: str, message_id: str, now: datetime) -> bool: ...

    def queue(self, kind: str, sender: str, recipient: str, raw_key: str, now: datetime) -> None: ...


def reply_subject(subject: str) -> str:
    """``Re: subject`` (once: a subject that already starts with Re: is kept)."""
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}"


__all__ = [
    "BOUNCE_STATUS",
    "DEFAULT_DOMAIN",
    "FIN_SUBJECT",
    "PHARMACY_MESSAGE",
    "PHARMACY_SUBJECT",
    "Attachment",
    "Bounce",
    "Conversation",
    "ConversationState",
    "DirectoryEntry",
    "MailboxKind",
    "MailboxStore",
    "Message",
    "Refusal",
    "Starter",
    "bounce_text",
    "delivery_verdict",
    "is_fin",
    "may_reply",
    "may_start_with",
    "patient_ins",
    "reply_subject",
    "split_address",
    "state_after",
]
