"""SqlMailbox: the patient mailbox's tables (directory, history, conversations, messages, outgoing mail).

Bound to the caller's open transaction, never commits. Every read of conversations and messages takes the
patient id and filters on it in SQL: another patient's conversation is never found, whatever id is asked
for. The outgoing-mail methods follow ``storage.outbox`` (claim committed before sending, at-most-once).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from xds_server.core.mailbox import (
    Attachment,
    Conversation,
    ConversationState,
    DirectoryEntry,
    MailboxKind,
    Message,
    Starter,
)
from xds_server.storage.errors import translate_db_errors
from xds_server.storage.tables import (
    mail_attachment,
    mail_conversation,
    mail_message,
    mail_outbox,
    mail_pharmacy_history,
    mssante_mailbox,
)

__all__ = ["OutgoingMail", "SqlMailbox"]

_d = mssante_mailbox.c
_h = mail_pharmacy_history.c
_c = mail_conversation.c
_m = mail_message.c
_a = mail_attachment.c
_o = mail_outbox.c


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    id: int
    kind: str
    sender: str
    recipient: str
    raw_key: str
    attempts: int


def _entry(row: Any) -> DirectoryEntry:
    return DirectoryEntry(
        address=row.address,
        idnps=row.idnps,
        kind=MailboxKind(row.kind),
        name=row.name,
        pharmacy=bool(row.pharmacy),
        finess=row.finess,
    )


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes (stored as UTC)
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class SqlMailbox:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def _run(self, statement: Any, params: Any = None) -> Any:
        with translate_db_errors():
            return self._connection.execute(statement, params)

    # -- the MSSanté directory ------------------------------------------------------------------------------

    def directory_add(self, entry: DirectoryEntry, password_hash: str | None, now: datetime) -> None:
        """Add or replace a mailbox (its password hash kept when none is given)."""
        address = entry.address.lower()
        values = {
            "idnps": entry.idnps,
            "kind": entry.kind.value,
            "name": entry.name,
            "pharmacy": entry.pharmacy,
            "finess": entry.finess,
        }
        if password_hash is not None:
            values["password_hash"] = password_hash
        changed = self._run(update(mssante_mailbox).where(_d.address == address).values(**values)).rowcount
        if not changed:
            self._run(
                insert(mssante_mailbox).values(
                    address=address, created_at=now, **{"password_hash": password_hash, **values}
                )
            )

    def directory_remove(self, address: str) -> bool:
        return bool(self._run(delete(mssante_mailbox).where(_d.address == address.lower())).rowcount)

    def directory_get(self, address: str) -> DirectoryEntry | None:
        row = self._run(select(mssante_mailbox).where(_d.address == address.lower())).one_or_none()
        return None if row is None else _entry(row)

    def password_hash(self, address: str) -> str | None:
        return self._run(  # type: ignore[no-any-return]
            select(_d.password_hash).where(_d.address == address.lower())
        ).scalar_one_or_none()

    def directory(self) -> list[DirectoryEntry]:
        return [_entry(r) for r in self._run(select(mssante_mailbox).order_by(_d.address))]

    def pharmacies(self, text: str | None, limit: int) -> list[DirectoryEntry]:
        """Pharmacies with an organisational mailbox whose name, address, FINESS or commune matches."""
        statement = select(mssante_mailbox).where(
            _d.pharmacy.is_(True), _d.kind == MailboxKind.ORGANISATIONAL.value
        )
        if text and text.strip():
            like = f"%{text.strip().lower()}%"
            statement = statement.where(
                or_(func.lower(_d.name).like(like), _d.address.like(like), _d.finess.like(like))
            )
        return [_entry(r) for r in self._run(statement.order_by(_d.name, _d.address).limit(limit))]

    # -- reimbursement history -----------------------------------------------------------------------------

    def history_add(self, patient_id: str, address: str, last_seen: date | None, now: datetime) -> None:
        address = address.lower()
        self._run(delete(mail_pharmacy_history).where(_h.patient_id == patient_id, _h.address == address))
        self._run(
            insert(mail_pharmacy_history).values(
                patient_id=patient_id, address=address, last_seen=last_seen, loaded_at=now
            )
        )

    def history(self, patient_id: str) -> list[DirectoryEntry]:
        """The pharmacies of the patient's reimbursement history that are in the directory."""
        statement = (
            select(mssante_mailbox)
            .join(mail_pharmacy_history, _h.address == _d.address)
            .where(_h.patient_id == patient_id)
            .order_by(_h.last_seen.desc(), _d.name)
        )
        return [_entry(r) for r in self._run(statement)]

    # -- conversations --------------------------------------------------------------------------------------

    def thread_of(self, patient_id: str, rfc_ids: Sequence[str]) -> Conversation | None:
        """The patient's conversation one of ``rfc_ids`` (In-Reply-To, then References, newest first)
        belongs to."""
        for rfc_id in rfc_ids:
            row = self._run(
                select(_m.conversation_id).where(_m.patient_id == patient_id, _m.rfc_message_id == rfc_id)
            ).first()
            if row is not None:
                return self.conversation(patient_id, row.conversation_id)
        return None

    def new_conversation(self, conversation: Conversation) -> None:
        self._run(
            insert(mail_conversation).values(
                id=conversation.id,
                patient_id=conversation.patient_id,
                counterpart=conversation.counterpart.lower(),
                subject=conversation.subject,
                started_by=conversation.started_by.value,
                state=conversation.state.value,
                created_at=conversation.created_at,
                updated_at=conversation.updated_at,
                closed_at=conversation.closed_at,
            )
        )

    def touch(self, conversation_id: str, state: ConversationState, now: datetime) -> None:
        values: dict[str, Any] = {"updated_at": now, "state": state.value}
        if state is ConversationState.CLOSED:
            values["closed_at"] = now
        self._run(update(mail_conversation).where(_c.id == conversation_id).values(**values))

    def _unread(self) -> Any:
        return (
            select(func.count())
            .where(_m.conversation_id == _c.id, _m.direction == "in", _m.read_at.is_(None))
            .correlate(mail_conversation)
            .scalar_subquery()
        )

    def conversations(self, patient_id: str) -> list[Conversation]:
        statement = (
            select(mail_conversation, self._unread().label("unread"))
            .where(_c.patient_id == patient_id)
            .order_by(_c.updated_at.desc(), _c.id)
        )
        return [self._conversation(r) for r in self._run(statement)]

    def conversation(self, patient_id: str, conversation_id: str) -> Conversation | None:
        statement = select(mail_conversation, self._unread().label("unread")).where(
            _c.patient_id == patient_id, _c.id == conversation_id
        )
        row = self._run(statement).one_or_none()
        return None if row is None else self._conversation(row)

    @staticmethod
    def _conversation(row: Any) -> Conversation:
        return Conversation(
            id=row.id,
            patient_id=row.patient_id,
            counterpart=row.counterpart,
            subject=row.subject,
            started_by=Starter(row.started_by),
            state=ConversationState(row.state),
            created_at=_aware(row.created_at) or datetime.now(UTC),
            updated_at=_aware(row.updated_at) or datetime.now(UTC),
            closed_at=_aware(row.closed_at),
            unread=int(row.unread or 0),
        )

    # -- messages -------------------------------------------------------------------------------------------

    def add_message(self, message: Message) -> None:
        self._run(
            insert(mail_message).values(
                id=message.id,
                conversation_id=message.conversation_id,
                patient_id=message.patient_id,
                direction="in" if message.inbound else "out",
                rfc_message_id=message.rfc_message_id,
                sender=message.sender,
                recipient=message.recipient,
                subject=message.subject,
                body=message.body,
                at=message.at,
                raw_key=message.raw_key,
                mdn_to=message.mdn_to,
                read_at=message.read_at,
            )
        )
        if message.attachments:
            self._run(
                insert(mail_attachment),
                [
                    {
                        "message_id": message.id,
                        "position": a.position,
                        "filename": a.filename,
                        "media_type": a.media_type,
                        "size": a.size,
                        "blob_key": a.blob_key,
                    }
                    for a in message.attachments
                ],
            )

    def messages(self, patient_id: str, conversation_id: str | None = None) -> list[Message]:
        statement = select(mail_message).where(_m.patient_id == patient_id)
        if conversation_id is not None:
            statement = statement.where(_m.conversation_id == conversation_id)
        rows = list(self._run(statement.order_by(_m.at, _m.id)))
        return self._with_attachments(rows)

    def message(self, patient_id: str, message_id: str) -> Message | None:
        rows = list(self._run(select(mail_message).where(_m.patient_id == patient_id, _m.id == message_id)))
        found = self._with_attachments(rows)
        return found[0] if found else None

    def _with_attachments(self, rows: Iterable[Any]) -> list[Message]:
        rows = list(rows)
        by_message: dict[str, list[Attachment]] = defaultdict(list)
        if rows:
            found = self._run(
                select(mail_attachment)
                .where(_a.message_id.in_([r.id for r in rows]))
                .order_by(_a.message_id, _a.position)
            )
            for a in found:
                by_message[a.message_id].append(
                    Attachment(a.position, a.filename, a.media_type, int(a.size), a.blob_key)
                )
        return [
            Message(
                id=r.id,
                conversation_id=r.conversation_id,
                patient_id=r.patient_id,
                inbound=r.direction == "in",
                rfc_message_id=r.rfc_message_id,
                sender=r.sender,
                recipient=r.recipient,
                subject=r.subject,
                body=r.body,
                at=_aware(r.at) or datetime.now(UTC),
                raw_key=r.raw_key,
                mdn_to=r.mdn_to,
                read_at=_aware(r.read_at),
                attachments=tuple(by_message.get(r.id, ())),
            )
            for r in rows
        ]

    def mark_read(self, patient_id: str, message_id: str, now: datetime) -> bool:
        """Mark an inbound message read; True only for the call that changed it (the MDN goes once)."""
        statement = (
            update(mail_message)
            .where(
                _m.id == message_id, _m.patient_id == patient_id, _m.direction == "in", _m.read_at.is_(None)
            )
            .values(read_at=now)
        )
        return bool(self._run(statement).rowcount == 1)

    def count_inbound(self, patient_id: str, since: datetime, until: datetime) -> int:
        """Messages received by the patient in [since, until) (his yearly statement)."""
        statement = select(func.count()).where(
            _m.patient_id == patient_id, _m.direction == "in", _m.at >= since, _m.at < until
        )
        return int(self._run(statement).scalar_one())

    def referenced_blobs(self) -> set[str]:
        """Every blob the mailbox names (raw messages, attachments, outgoing mail): never collected."""
        found: set[str] = set()
        for column in (_m.raw_key, _a.blob_key, _o.raw_key):
            found.update(v for (v,) in self._run(select(column).distinct()))
        return found

    # -- outgoing mail --------------------------------------------------------------------------------------

    def queue(self, kind: str, sender: str, recipient: str, raw_key: str, now: datetime) -> None:
        self._run(
            insert(mail_outbox).values(
                kind=kind,
                sender=sender,
                recipient=recipient,
                raw_key=raw_key,
                created_at=now,
                state="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )

    def expire_claims(self, claimed_before: datetime) -> int:
        statement = (
            update(mail_outbox)
            .where(_o.state == "sending", _o.claimed_at < claimed_before)
            .values(state="uncertain", last_error="the sender stopped while sending: not sent again")
        )
        return int(self._run(statement).rowcount or 0)

    def due(self, now: datetime, limit: int) -> list[int]:
        statement = (
            select(_o.id).where(_o.state == "pending", _o.next_attempt_at <= now).order_by(_o.id).limit(limit)
        )
        return [int(i) for i in self._run(statement).scalars()]

    def claim(self, row_id: int, now: datetime) -> OutgoingMail | None:
        statement = (
            update(mail_outbox)
            .where(_o.id == row_id, _o.state == "pending")
            .values(state="sending", claimed_at=now, attempts=_o.attempts + 1)
        )
        if self._run(statement).rowcount != 1:
            return None
        row = self._run(select(mail_outbox).where(_o.id == row_id)).one()
        return OutgoingMail(int(row.id), row.kind, row.sender, row.recipient, row.raw_key, int(row.attempts))

    def mark(self, row_id: int, state: str, *, at: datetime, error: str | None = None) -> None:
        values: dict[str, Any] = {"state": state, "last_error": error[:2000] if error else None}
        if state == "sent":
            values["sent_at"] = at
        elif state == "pending":
            values["next_attempt_at"] = at
        self._run(update(mail_outbox).where(_o.id == row_id, _o.state == "sending").values(**values))

    def outbox_counts(self) -> dict[str, int]:
        statement = select(_o.state, func.count()).group_by(_o.state)
        return {str(state): int(count) for state, count in self._run(statement)}
