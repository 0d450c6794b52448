"""Messages: the patient's secure mailbox, through ``xds_server.mailbox.patient`` and ``mailbox.record``
(the functions the FHIR ``Communication`` routes call): conversations (closed ones marked, no reply form),
reading (marks read and sends the read receipt once, as ``GET /fhir/Communication/{id}``), replying,
starting a conversation with an eligible pharmacy with one document of the record and the pre-filled
text, downloading an attachment, saving one into the record. Only the patient himself has a mailbox: a
representative is told so. Traced as PATIENT-MAILBOX, like the FHIR routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from xds_server.core.audit import PATIENT_MAILBOX
from xds_server.core.errors import XdsError
from xds_server.core.mailbox import (
    PHARMACY_MESSAGE,
    ConversationState,
    DirectoryEntry,
    Message,
    Refusal,
)
from xds_server.mailbox.patient import (
    MailboxRefused,
    attachment,
    conversation_of,
    list_conversations,
    list_messages,
    pharmacy_choices,
    read_message,
    reply,
    start_with_pharmacy,
)
from xds_server.mailbox.record import save_attachment
from xds_server.portal.views import document_view, local
from xds_server.portal.web import BASE, Page, open_action, open_page, portal_router
from xds_server.wiring.documents import record_documents

router = portal_router()

_REFUSALS: Final = {
    "forbidden": "Votre messagerie n'est pas accessible : elle est réservée au titulaire d'un profil actif.",
    "not-found": "Cette conversation ou ce message n'existe pas dans votre messagerie.",
    "conflict": "Cette conversation est clôturée : vous ne pouvez plus y écrire.",
    "invalid": "Ce message ne peut pas être envoyé tel quel.",
}
_SAFE_INLINE: Final = frozenset({"application/pdf", "image/jpeg", "image/png", "text/plain"})


_RULES: Final = {
    Refusal.NOT_A_PHARMACY.value: "Vous ne pouvez écrire en premier qu'à la messagerie d'une pharmacie.",
    Refusal.NOT_IN_DIRECTORY.value: "Cette adresse n'est pas dans l'annuaire MSSanté.",
    Refusal.CLOSED.value: _REFUSALS["conflict"],
    Refusal.NO_DOCUMENT.value: "Joignez un document de votre dossier (votre ordonnance).",
    Refusal.EMPTY.value: "Le message est vide.",
}


def _refusal(error: MailboxRefused) -> str:
    rule = _RULES.get(str(error))
    if rule is not None:
        return rule
    text = _REFUSALS.get(error.kind, "Action refusée.")
    return text if error.kind != "invalid" else f"{text} ({error})"


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: str
    subject: str
    counterpart: str
    updated: str
    closed: bool
    unread: int
    started_by_patient: bool


def _pharmacy(entry: DirectoryEntry) -> dict[str, str]:
    return {"address": entry.address, "label": f"{entry.name or entry.address} ({entry.address})"}


def _overview(page: Page, search: str | None) -> dict[str, Any]:
    assert page.actor is not None and page.record is not None
    with page.traced(PATIENT_MAILBOX) as services:
        conversations = list_conversations(services, page.actor)
        choices = pharmacy_choices(services, page.actor, search)
        with services.for_reading().transaction() as work:
            documents = record_documents(services, page.actor, work, page.record)
    rows = [
        ConversationRow(
            c.id,
            c.subject,
            c.counterpart,
            local(c.updated_at),
            c.state is ConversationState.CLOSED,
            c.unread,
            c.started_by.value == "patient",
        )
        for c in conversations
    ]
    seen = {e.address for e in choices.history}
    return {
        "conversations": rows,
        "history": [_pharmacy(e) for e in choices.history],
        "found": [_pharmacy(e) for e in choices.found if e.address not in seen],
        "documents": [
            {"unique_id": d.unique_id, "label": f"{v.title} ({v.date})"}
            for d, v in ((d, document_view(d)) for d in documents)
            if d.unique_id
        ],
    }


@router.get(f"{BASE}/messages")
async def messages(request: Request) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    search = request.query_params.get("pharmacie", "").strip() or None
    try:
        values = await run_in_threadpool(_overview, page, search)
    except (MailboxRefused, XdsError) as error:
        message = _refusal(error) if isinstance(error, MailboxRefused) else _REFUSALS["forbidden"]
        return page.render("messages.html", title="Messages", section="messages", refused=message)
    return page.render(
        "messages.html",
        title="Messages",
        section="messages",
        refused=None,
        search=search or "",
        prefilled=PHARMACY_MESSAGE,
        **values,
    )


def _thread(page: Page, conversation_id: str) -> tuple[Any, list[Message]]:
    assert page.actor is not None
    with page.traced(PATIENT_MAILBOX) as services:
        conversation = conversation_of(services, page.actor, conversation_id)
        thread = list_messages(services, page.actor, conversation_id)
        # opening the conversation reads its messages: marked read, read receipt once (as FHIR's read)
        thread = [
            read_message(services, page.actor, m.id) if m.inbound and m.read_at is None else m for m in thread
        ]
    return conversation, thread


@router.get(f"{BASE}/messages/{{conversation_id}}")
async def conversation(request: Request, conversation_id: str) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    try:
        found, thread = await run_in_threadpool(_thread, page, conversation_id)
    except MailboxRefused as error:
        status = 404 if error.kind == "not-found" else 403
        return page.render("erreur.html", status=status, title="Messages", message=_refusal(error))
    return page.render(
        "conversation.html",
        title=found.subject or "Conversation",
        section="messages",
        conversation=found,
        closed=found.state is ConversationState.CLOSED,
        thread=[
            {
                "id": m.id,
                "inbound": m.inbound,
                "sender": m.sender,
                "at": local(m.at),
                "body": m.body,
                "attachments": m.attachments,
            }
            for m in thread
        ],
    )


def _mailbox_action(page: Page, back: str, done: str, function: Any, *args: Any) -> Response:
    assert page.actor is not None
    try:
        with page.traced(PATIENT_MAILBOX) as services:
            function(services, page.actor, *args)
    except MailboxRefused as error:
        return page.redirect(back, _refusal(error), error=True)
    except XdsError:
        return page.redirect(back, "Cette action n'a pas pu aboutir.", error=True)
    return page.redirect(back, done)


@router.post(f"{BASE}/messages/pharmacie")
async def to_pharmacy(request: Request) -> Response:
    page, form = await open_action(request)
    if not isinstance(page, Page):
        return page
    text = form.get("texte")
    return await run_in_threadpool(
        _mailbox_action,
        page,
        f"{BASE}/messages",
        "Votre message est envoyé à la pharmacie.",
        start_with_pharmacy,
        form.get("pharmacie", ""),
        form.get("document", ""),
        text if text and text.strip() else None,
    )


@router.post(f"{BASE}/messages/{{conversation_id}}/repondre")
async def answer(request: Request, conversation_id: str) -> Response:
    page, form = await open_action(request)
    if not isinstance(page, Page):
        return page
    return await run_in_threadpool(
        _mailbox_action,
        page,
        f"{BASE}/messages/{conversation_id}",
        "Votre réponse est envoyée.",
        reply,
        conversation_id,
        form.get("texte", ""),
    )


@router.post(f"{BASE}/messages/{{conversation_id}}/pieces/{{message_id}}/{{index}}/enregistrer")
async def save_piece(request: Request, conversation_id: str, message_id: str, index: str) -> Response:
    page, _form = await open_action(request)
    if not isinstance(page, Page):
        return page
    if not index.isdigit() or len(index) > 4:
        return page.render("erreur.html", status=404, title="Pièce jointe", message=_REFUSALS["not-found"])
    return await run_in_threadpool(
        _mailbox_action,
        page,
        f"{BASE}/messages/{conversation_id}",
        "La pièce jointe est enregistrée dans vos documents.",
        save_attachment,
        message_id,
        int(index),
    )


def _piece(page: Page, message_id: str, index: int) -> tuple[Any, bytes]:
    assert page.actor is not None
    with page.traced(PATIENT_MAILBOX) as services:
        return attachment(services, page.actor, message_id, index)


@router.get(f"{BASE}/messages/{{conversation_id}}/pieces/{{message_id}}/{{index}}")
async def piece(request: Request, conversation_id: str, message_id: str, index: str) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    if not index.isdigit() or len(index) > 4:
        return page.render("erreur.html", status=404, title="Pièce jointe", message=_REFUSALS["not-found"])
    try:
        found, data = await run_in_threadpool(_piece, page, message_id, int(index))
    except MailboxRefused as error:
        return page.render("erreur.html", status=404, title="Pièce jointe", message=_refusal(error))
    media = found.media_type if found.media_type in _SAFE_INLINE else "application/octet-stream"
    name = "".join(c for c in found.filename if c.isalnum() or c in "._- ")[:100] or "piece-jointe"
    response = Response(
        data,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
    return page.answer(response)


__all__ = ["router"]
