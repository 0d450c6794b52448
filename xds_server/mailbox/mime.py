"""The messages of the patient mailbox as MIME (standard library ``email``, policy ``default``).

* ``parse``: what the server keeps of an inbound message (subject, text body, attachments, threading headers,
  the read-receipt request); a part it cannot read makes the whole message refused, never half-stored.
* ``delivery_report``: RFC 3464 ``multipart/report; report-type=delivery-status`` (a French human part with
  the exact Mon espace santé sentence, the machine-readable per-recipient fields, the original headers).
* ``read_receipt``: RFC 8098 ``multipart/report; report-type=disposition-notification`` (displayed,
  MDN-sent-automatically as the patient did not confirm it, RFC 8098 §3.2.6.1 and §9.2).
* ``patient_message``: what the patient writes (a reply, or his first message to a pharmacy), text plus
  attachments, threaded with In-Reply-To and References.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid

__all__ = [
    "AttachmentPart",
    "MimeError",
    "ParsedMessage",
    "delivery_report",
    "message_ids",
    "parse",
    "patient_message",
    "read_receipt",
    "wire",
]


class MimeError(ValueError):
    """The message cannot be read (or breaks a limit); ``status`` is its RFC 3463 code."""

    def __init__(self, message: str, status: str = "5.6.0", code: int = 554) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class AttachmentPart:
    filename: str
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    message_id: str | None
    subject: str
    body: str
    #: In-Reply-To first, then References newest first: where to look for the conversation
    thread: tuple[str, ...]
    references: tuple[str, ...]
    disposition_to: str | None
    attachments: tuple[AttachmentPart, ...]
    headers: str  # the original header block (for reports)


#: how messages cross SMTP: CRLF line ends (RFC 5321 §2.3.8), long header lines folded
WIRE = policy.SMTP


def wire(message: EmailMessage) -> bytes:
    """The bytes of ``message`` as they go on the wire (and are stored, byte for byte)."""
    return message.as_bytes(policy=WIRE)


def message_ids(value: str | None) -> list[str]:
    """The ``<...>`` ids of a Message-ID / In-Reply-To / References header, in order."""
    if not value:
        return []
    found: list[str] = []
    for token in str(value).replace("\r", " ").replace("\n", " ").split():
        start = token.find("<")
        end = token.find(">", start + 1)
        if start >= 0 and end > start + 1:
            found.append(token[start : end + 1])
    return found


def _raw_headers(raw: bytes) -> str:
    """The header block as received (RFC 5322 headers are ASCII; encoded words stay encoded)."""
    block = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    return block.decode("ascii", "replace").replace("\r\n", "\n") + "\n"


def parse(raw: bytes, *, max_attachments: int, allowed_types: frozenset[str]) -> ParsedMessage:
    """What the mailbox keeps of ``raw``; MimeError when it cannot be read or breaks a limit."""
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        subject = str(message.get("Subject", "") or "")
        text = message.get_body(preferencelist=("plain", "html"))
        body = text.get_content() if text is not None else ""
        attachments: list[AttachmentPart] = []
        for part in message.iter_attachments():
            media_type = part.get_content_type().lower()
            if media_type not in allowed_types:
                raise MimeError(f"attachments of type {media_type} are not accepted", "5.6.1")
            content = part.get_payload(decode=True)
            if not isinstance(content, bytes):
                raise MimeError(f"attachment {part.get_filename()!r} cannot be decoded")
            filename = (part.get_filename() or f"piece-jointe-{len(attachments) + 1}")[:256]
            attachments.append(AttachmentPart(filename, media_type, content))
        if len(attachments) > max_attachments:
            raise MimeError(f"at most {max_attachments} attachments per message", "5.3.4", 552)
        disposition = message.get("Disposition-Notification-To")
        disposition_to = None
        if disposition:
            found = [a for _, a in getaddresses([str(disposition)]) if "@" in a]
            disposition_to = found[0] if found else None
        ids = message_ids(message.get("Message-ID"))
        in_reply = message_ids(message.get("In-Reply-To"))
        references = message_ids(message.get("References"))
        return ParsedMessage(
            message_id=ids[0] if ids else None,
            subject=subject,
            body=body if isinstance(body, str) else "",
            thread=tuple(dict.fromkeys([*in_reply, *reversed(references)])),
            references=tuple(references),
            disposition_to=disposition_to,
            attachments=tuple(attachments),
            headers=_raw_headers(raw),
        )
    except MimeError:
        raise
    except (ValueError, LookupError, TypeError, AssertionError, AttributeError) as error:
        raise MimeError(f"the message cannot be read: {error}") from None


_DIAGNOSTIC = {"5.1.1": "bad destination mailbox address", "5.2.1": "mailbox disabled"}


def _delivery_status(blocks: list[list[tuple[str, str]]]) -> EmailMessage:
    """A ``message/delivery-status`` part: per-message fields, then one block per recipient (RFC 3464 §2.1;
    the email package writes such a payload as header blocks separated by an empty line)."""
    part = EmailMessage(policy=policy.default)
    part["Content-Type"] = "message/delivery-status"
    payload: list[Message | str] = []
    for block in blocks:
        fields = Message(policy=policy.default)
        for name, value in block:
            fields[name] = value
        payload.append(fields)
    part.set_payload(payload)
    return part


def delivery_report(
    *,
    reporter: str,
    sender: str,
    recipient: str,
    status: str,
    text: str,
    original_headers: str,
    arrival: datetime,
    now: datetime,
) -> EmailMessage:
    """RFC 3464 delivery status notification for one recipient that was not delivered."""
    report = EmailMessage(policy=policy.default)
    report["From"] = Address("Mon espace santé", addr_spec=reporter)
    report["To"] = sender
    report["Subject"] = "Message non distribué"
    report["Date"] = format_datetime(now)
    report["Message-ID"] = make_msgid(domain=reporter.partition("@")[2] or None)
    report["Auto-Submitted"] = "auto-replied"
    report.set_content(f"{text}\n", subtype="plain", charset="utf-8")
    fields = _delivery_status(
        [
            [
                ("Reporting-MTA", f"dns; {reporter.partition('@')[2] or 'localhost'}"),
                ("Arrival-Date", format_datetime(arrival)),
            ],
            [
                ("Final-Recipient", f"rfc822; {recipient}"),
                ("Action", "failed"),
                ("Status", status),
                ("Diagnostic-Code", f"smtp; 550 {status} {_DIAGNOSTIC.get(status, 'not delivered')}"),
            ],
        ]
    )
    headers = EmailMessage(policy=policy.default)
    headers.set_content(original_headers, subtype="rfc822-headers", charset="utf-8")
    report.make_mixed()
    report.attach(fields)
    report.attach(headers)
    report.set_type("multipart/report")
    report.set_param("report-type", "delivery-status")
    return report


def read_receipt(
    *,
    patient_address: str,
    to: str,
    original_id: str,
    subject: str,
    read_at: datetime,
    reporter: str,
) -> EmailMessage:
    """RFC 8098 MDN: the patient displayed the message (sent automatically, once)."""
    mdn = EmailMessage(policy=policy.default)
    mdn["From"] = patient_address
    mdn["To"] = to
    mdn["Subject"] = f"Accusé de lecture : {subject}"
    mdn["Date"] = format_datetime(read_at)
    mdn["Message-ID"] = make_msgid(domain=patient_address.partition("@")[2] or None)
    mdn["In-Reply-To"] = original_id
    mdn["References"] = original_id
    mdn["Auto-Submitted"] = "auto-replied"
    mdn.set_content(
        f"Le message « {subject} » envoyé à {patient_address} a été lu par son destinataire le "
        f"{format_datetime(read_at)}.\n",
        charset="utf-8",
    )
    fields = EmailMessage(policy=policy.default)
    fields["Content-Type"] = "message/disposition-notification"
    fields.set_payload(
        f"Reporting-UA: {reporter}; xds-server\r\n"
        f"Final-Recipient: rfc822; {patient_address}\r\n"
        f"Original-Message-ID: {original_id}\r\n"
        "Disposition: automatic-action/MDN-sent-automatically; displayed\r\n"
    )
    mdn.make_mixed()
    mdn.attach(fields)
    mdn.set_type("multipart/report")
    mdn.set_param("report-type", "disposition-notification")
    return mdn


def patient_message(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    now: datetime,
    in_reply_to: str | None,
    references: tuple[str, ...],
    attachments: tuple[AttachmentPart, ...] = (),
) -> EmailMessage:
    message = EmailMessage(policy=policy.default)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.partition("@")[2] or None)
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    # quoted-printable: 7-bit clean for any relay (8BITMIME is not assumed)
    message.set_content(body, charset="utf-8", cte="quoted-printable")
    for part in attachments:
        main, _, sub = part.media_type.partition("/")
        message.add_attachment(
            part.content, maintype=main, subtype=sub or "octet-stream", filename=part.filename
        )
    return message
