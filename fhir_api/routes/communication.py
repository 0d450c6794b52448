"""The patient's secure mailbox over FHIR (issue 16), with a patient token: ``Communication`` and the
pharmacies as ``Organization``.

* ``GET /fhir/Communication[?conversation=ID]``: his messages (oldest first), each one Communication
  whose extensions say its conversation, the conversation's state (``open``/``closed``) and when he read it;
* ``GET /fhir/Communication/{id}``: one message; the first read marks it read and sends the read receipt
  the professional asked for (once);
* ``POST /fhir/Communication``: a reply (``inResponseTo`` names a message of an open conversation) or his
  first message to a pharmacy (``recipient`` = the pharmacy's ``mailto:`` address, ``payload`` carrying the
  document of his record as ``contentReference.identifier`` = its uniqueId, and a text that defaults to the
  pre-filled reminder to bring the paper prescription); 201 with the Communication sent;
* ``GET /fhir/Communication/{id}/$attachment?index=N``: the bytes of one attachment;
* ``POST /fhir/Communication/{id}/$save-to-record?index=N``: that attachment deposited into his record as
  a document of his own (class 90, type DOCPAT02; PDF, text or JPEG), answered 201 with its uniqueId;
* ``GET /fhir/Organization?type=pharmacy[&name=TEXT][&reimbursed=true]``: pharmacies he may write to.

The rules and their refusals are ``xds_server.mailbox.patient``: a professional's or representative's token
403, another patient's (or an unknown) message or conversation 404, a closed conversation 409, no token 401.
Every request is traced (subtype PATIENT-MAILBOX) by the face's audit hook.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from fastapi import Response
from starlette.concurrency import run_in_threadpool

from fhir_api.bundles import search_url, searchset
from fhir_api.formats import fhir_response
from fhir_api.mapping.patient import identifier_of
from fhir_api.outcome import FhirError
from fhir_api.router import Fhir, FhirInteraction, FhirRequest, SearchParam, fhir_api_router
from xds_server.core.audit import PATIENT_MAILBOX
from xds_server.core.mailbox import Conversation, DirectoryEntry, Message
from xds_server.mailbox import patient as mailbox
from xds_server.mailbox.mime import AttachmentPart
from xds_server.mailbox.record import save_attachment

router = fhir_api_router()

MAILTO: Final = "urn:ietf:rfc:3986"
MESSAGE_ID: Final = "urn:ietf:rfc:5322"
EXT_CONVERSATION: Final = "urn:xds-server:mailbox:conversation"
EXT_STATE: Final = "urn:xds-server:mailbox:conversation-state"
EXT_READ: Final = "urn:xds-server:mailbox:read"
FINESS: Final = "urn:oid:1.2.250.1.71.4.2.2"
_STATUS: Final = {"forbidden": 403, "not-found": 404, "invalid": 400, "conflict": 409}


def _refused(error: mailbox.MailboxRefused) -> FhirError:
    return FhirError.single(_STATUS[error.kind], error.kind, str(error))


async def _call(function: Any, *args: Any) -> Any:
    try:
        return await run_in_threadpool(function, *args)
    except mailbox.MailboxRefused as error:
        raise _refused(error) from None


def _party(address: str, name: str | None = None) -> dict[str, Any]:
    party: dict[str, Any] = {"identifier": {"system": MAILTO, "value": f"mailto:{address}"}}
    if name:
        party["display"] = name
    return party


def communication(
    fhir: FhirRequest, message: Message, conversation: Conversation | None, previous: Message | None
) -> dict[str, Any]:
    """One message as a FHIR R4 Communication."""
    extensions: list[dict[str, Any]] = [{"url": EXT_CONVERSATION, "valueString": message.conversation_id}]
    if conversation is not None:
        extensions.append({"url": EXT_STATE, "valueCode": conversation.state.value})
    if message.inbound and message.read_at is not None:
        extensions.append({"url": EXT_READ, "valueDateTime": message.read_at.isoformat()})
    payload: list[dict[str, Any]] = [{"contentString": message.body}]
    for part in message.attachments:
        payload.append(
            {
                "contentAttachment": {
                    "contentType": part.media_type,
                    "title": part.filename,
                    "size": part.size,
                    "url": fhir.url(f"Communication/{message.id}/$attachment?index={part.position}"),
                }
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "id": message.id,
        "extension": extensions,
        "identifier": [{"system": MESSAGE_ID, "value": message.rfc_message_id}],
        "status": "completed",
        "subject": {"identifier": identifier_of(message.patient_id)},
        "topic": {"text": conversation.subject if conversation is not None else message.subject},
        "sent": message.at.isoformat(),
        "sender": _party(message.sender),
        "recipient": [_party(message.recipient)],
        "note": [{"text": f"Objet : {message.subject}"}],
        "payload": payload,
    }
    if message.inbound:
        resource["received"] = message.at.isoformat()
    if previous is not None:
        resource["inResponseTo"] = [{"reference": f"Communication/{previous.id}"}]
    return resource


def _resources(fhir: FhirRequest, messages: list[Message], conversations: list[Conversation]) -> list[Any]:
    by_id = {c.id: c for c in conversations}
    last: dict[str, Message] = {}
    found = []
    for message in messages:
        found.append(
            communication(
                fhir, message, by_id.get(message.conversation_id), last.get(message.conversation_id)
            )
        )
        last[message.conversation_id] = message
    return found


_SEARCH = FhirInteraction(
    "Communication",
    "search-type",
    search=(SearchParam("conversation", "token", "the messages of one conversation of the patient"),),
    documentation="The patient's secure mailbox: his messages (patient token only)",
    audit=PATIENT_MAILBOX,
)


@router.get("/Communication", summary="The patient's messages", openapi_extra=_SEARCH.extra())
async def search_communications(fhir: Fhir) -> Response:
    params = fhir.request.query_params
    unknown = sorted(set(params) - {"conversation", "_format"})
    if unknown:
        raise FhirError.invalid(f"unknown search parameter(s): {', '.join(unknown)}")
    conversation = params.get("conversation") or None
    actor = fhir.authenticated

    def run() -> list[Any]:
        messages = mailbox.list_messages(fhir.services, actor, conversation)
        conversations = mailbox.list_conversations(fhir.services, actor)
        return _resources(fhir, messages, conversations)

    found = await _call(run)
    link = search_url(fhir.base, "Communication", list(params.multi_items()))
    return fhir_response(searchset(fhir.base, found, self_link=link, total=len(found)), fhir.format)


def _one(fhir: FhirRequest, message: Message) -> dict[str, Any]:
    actor = fhir.authenticated
    thread = mailbox.list_messages(fhir.services, actor, message.conversation_id)
    conversation = mailbox.conversation_of(fhir.services, actor, message.conversation_id)
    index = next((i for i, m in enumerate(thread) if m.id == message.id), 0)
    previous = thread[index - 1] if index > 0 else None
    return communication(fhir, message, conversation, previous)


@router.get(
    "/Communication/{message_id}",
    summary="Read one message (marks it read; sends the read receipt once)",
    openapi_extra=FhirInteraction("Communication", "read", audit=PATIENT_MAILBOX).extra(),
)
async def read_communication(message_id: str, fhir: Fhir) -> Response:
    def run() -> dict[str, Any]:
        return _one(fhir, mailbox.read_message(fhir.services, fhir.authenticated, message_id))

    return fhir_response(await _call(run), fhir.format)


def _reference_id(value: Any, resource_type: str) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    if isinstance(reference, str) and reference.startswith(f"{resource_type}/"):
        return reference.split("/", 1)[1]
    return None


def _mailto(party: Any) -> str | None:
    identifier = party.get("identifier") if isinstance(party, dict) else None
    value = identifier.get("value") if isinstance(identifier, dict) else None
    if isinstance(value, str) and value.lower().startswith("mailto:"):
        return value[7:].strip()
    return None


def _payload(resource: dict[str, Any]) -> tuple[str | None, list[AttachmentPart], list[str]]:
    """(text, attachments, referenced document uniqueIds) of Communication.payload."""
    text: str | None = None
    parts: list[AttachmentPart] = []
    documents: list[str] = []
    payload = resource.get("payload") or []
    if not isinstance(payload, list):
        raise FhirError.invalid("Communication.payload must be an array")
    for item in payload:
        if not isinstance(item, dict):
            raise FhirError.invalid("Communication.payload items must be objects")
        if isinstance(item.get("contentString"), str):
            text = item["contentString"] if text is None else f"{text}\n{item['contentString']}"
        elif isinstance(item.get("contentAttachment"), dict):
            attachment = item["contentAttachment"]
            try:
                content = base64.b64decode(str(attachment.get("data", "")), validate=True)
            except (binascii.Error, ValueError):
                raise FhirError.invalid("contentAttachment.data must be base64") from None
            media_type = str(attachment.get("contentType") or "")
            if not content or not media_type:
                raise FhirError.invalid("contentAttachment needs contentType and data")
            title = str(attachment.get("title") or f"piece-jointe-{len(parts) + 1}")[:256]
            parts.append(AttachmentPart(title, media_type, content))
        elif isinstance(item.get("contentReference"), dict):
            identifier = item["contentReference"].get("identifier") or {}
            value = identifier.get("value") if isinstance(identifier, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise FhirError.invalid("contentReference.identifier.value: the document's uniqueId")
            documents.append(value.strip().removeprefix("urn:oid:"))
        else:
            raise FhirError.invalid("payload: contentString, contentAttachment or contentReference")
    return text, parts, documents


@router.post(
    "/Communication",
    summary="Reply in a conversation, or write to a pharmacy",
    openapi_extra=FhirInteraction("Communication", "create", audit=PATIENT_MAILBOX).extra(),
)
async def create_communication(fhir: Fhir) -> Response:
    actor = fhir.authenticated
    try:
        resource = json.loads(await fhir.request.body())
    except ValueError:
        raise FhirError.invalid("the body is not JSON") from None
    if not isinstance(resource, dict) or resource.get("resourceType") != "Communication":
        raise FhirError.invalid("the body must be a Communication")
    text, parts, documents = _payload(resource)
    answered = [_reference_id(r, "Communication") for r in resource.get("inResponseTo") or []]
    recipients = [_mailto(r) for r in resource.get("recipient") or []]

    def run() -> dict[str, Any]:
        services = fhir.services
        if answered:
            if len(answered) != 1 or answered[0] is None or documents:
                raise FhirError.invalid("inResponseTo: exactly one Communication/{id} of your mailbox")
            previous = next((m for m in mailbox.list_messages(services, actor) if m.id == answered[0]), None)
            if previous is None:
                raise FhirError.not_found("no such message")
            sent = mailbox.reply(services, actor, previous.conversation_id, text or "", parts)
        else:
            if len(recipients) != 1 or recipients[0] is None:
                raise FhirError.invalid("recipient: exactly one pharmacy, as identifier mailto:ADDRESS")
            if len(documents) != 1 or parts:
                raise FhirError.invalid(
                    "a message to a pharmacy carries one document of your record (payload.contentReference)"
                )
            topic = resource.get("topic") or {}
            subject = topic.get("text") if isinstance(topic, dict) else None
            sent = mailbox.start_with_pharmacy(services, actor, recipients[0], documents[0], text, subject)
        return _one(fhir, sent)

    created = await _call(run)
    location = fhir.url(f"Communication/{created['id']}")
    return fhir_response(created, fhir.format, 201, headers={"Location": location})


@router.get(
    "/Communication/{message_id}/$attachment",
    summary="The bytes of one attachment",
    openapi_extra=FhirInteraction(
        "Communication",
        "operation",
        audit=PATIENT_MAILBOX,
        operation=("attachment", "urn:xds-server:OperationDefinition:Communication-attachment"),
    ).extra(),
)
async def communication_attachment(message_id: str, fhir: Fhir, index: int = 0) -> Response:
    part, content = await _call(mailbox.attachment, fhir.services, fhir.authenticated, message_id, index)
    quoted = part.filename.replace('"', "").replace("\\", "")
    return Response(
        content,
        media_type=part.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{quoted}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post(
    "/Communication/{message_id}/$save-to-record",
    summary="Save one attachment into the patient's record (a document he deposits, class 90)",
    openapi_extra=FhirInteraction(
        "Communication",
        "operation",
        audit=PATIENT_MAILBOX,
        operation=("save-to-record", "urn:xds-server:OperationDefinition:Communication-save-to-record"),
    ).extra(),
)
async def save_to_record(message_id: str, fhir: Fhir, index: int = 0) -> Response:
    unique_id = await _call(save_attachment, fhir.services, fhir.authenticated, message_id, index)
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "documentUniqueId", "valueIdentifier": {"system": "urn:ietf:rfc:3986",
                                                             "value": f"urn:oid:{unique_id}"}},
        ],
    }  # fmt: skip
    return fhir_response(parameters, fhir.format, 201)


def organization(entry: DirectoryEntry, *, reimbursed: bool) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": f"mssante-{entry.finess or entry.idnps}",
        "identifier": [{"system": FINESS, "value": entry.finess}] if entry.finess else [],
        "active": True,
        "type": [
            {
                "coding": [{"system": "urn:xds-server:mailbox", "code": "pharmacy"}],
                "text": "Pharmacie d'officine",
            }
        ],
        "name": entry.name,
        "telecom": [{"system": "email", "value": entry.address}],
    }
    if reimbursed:
        resource["extension"] = [
            {"url": "urn:xds-server:mailbox:reimbursement-history", "valueBoolean": True}
        ]
    return resource


_PHARMACIES = FhirInteraction(
    "Organization",
    "search-type",
    search=(
        SearchParam("type", "token", "pharmacy (the only organisations a patient may write to)"),
        SearchParam("name", "string", "name, address or FINESS contains"),
        SearchParam("reimbursed", "token", "true: the pharmacies of the patient's reimbursement history"),
    ),
    audit=PATIENT_MAILBOX,
)


@router.get("/Organization", summary="Pharmacies the patient may write to", openapi_extra=_PHARMACIES.extra())
async def search_pharmacies(fhir: Fhir) -> Response:
    params = fhir.request.query_params
    unknown = sorted(set(params) - {"type", "name", "reimbursed", "_format"})
    if unknown:
        raise FhirError.invalid(f"unknown search parameter(s): {', '.join(unknown)}")
    if params.get("type", "pharmacy") != "pharmacy":
        raise FhirError.invalid("type: only pharmacy is searchable")
    reimbursed_only = params.get("reimbursed") == "true"
    name = params.get("name")
    choices = await _call(
        mailbox.pharmacy_choices, fhir.services, fhir.authenticated, None if reimbursed_only else (name or "")
    )
    history = {e.address for e in choices.history}
    listed = list(choices.history) + [e for e in choices.found if e.address not in history]
    if name and reimbursed_only:
        listed = [e for e in listed if name.lower() in f"{e.name} {e.address} {e.finess}".lower()]
    found = [organization(e, reimbursed=e.address in history) for e in listed]
    link = search_url(fhir.base, "Organization", list(params.multi_items()))
    return fhir_response(searchset(fhir.base, found, self_link=link, total=len(found)), fhir.format)


__all__ = ["communication", "organization", "router"]
