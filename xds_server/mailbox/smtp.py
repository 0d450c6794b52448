"""The inbound SMTP listener of the patient mailbox (aiosmtpd), inside ``xds-server serve --smtp-port P``.

Theory of operation (issue 16 items 1 and 6). STARTTLS is always offered and required before anything else
(``require_starttls``); the sender then proves which MSSanté mailbox he is, by SMTP AUTH (PLAIN or LOGIN,
only after STARTTLS) with the password of a directory entry, or by the client certificate he presented
during the TLS handshake, verified against the trusted authorities and naming the mailbox address. The
envelope is checked as it comes, each refusal with its RFC 3463 code and a sentence:

* MAIL FROM: not authenticated -> 530 5.7.0; the address is not the authenticated mailbox -> 550 5.7.1; the
  mailbox left the directory -> 550 5.7.1;
* RCPT TO: an address outside the patient domain -> 550 5.7.1 (this server relays nothing); a patient address
  is accepted whatever its INS: the address rules answer with a delivery report after DATA (item 2);
* DATA: larger than the limit -> 552 5.3.4 (aiosmtpd, also announced with SIZE); unreadable MIME, too many
  attachments or a refused type -> 554/552 with its status; 250 only once the delivery is COMMITTED
  (delivery.py); a failure of the store -> 451 4.3.0, the sender tries again and nothing was kept.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import weakref
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from xds_server.core.mailbox import DirectoryEntry, patient_ins, split_address
from xds_server.mailbox.credentials import certificate_addresses, verify_password
from xds_server.mailbox.delivery import MimeError, deliver
from xds_server.wiring import Services

__all__ = ["MailboxListener"]

log = logging.getLogger(__name__)

Lookup = Callable[[str], tuple[DirectoryEntry | None, str | None]]


def _ascii(reply: str) -> str:
    """An SMTP reply line: ASCII only, one line (a refused file name may carry anything)."""
    return " ".join(reply.encode("ascii", "replace").decode("ascii").split())[:510]


def _address(value: str) -> str:
    return value.strip().strip("<>").lower()


class _Handler:
    """aiosmtpd hooks (``handle_MAIL``, ``handle_RCPT``, ``handle_DATA``)."""

    def __init__(self, services: Services, lookup: Lookup) -> None:
        self._services = services
        self._lookup = lookup
        # the envelope's checked sender (weak: a connection dropped after MAIL leaves nothing behind)
        self._senders: weakref.WeakKeyDictionary[Envelope, DirectoryEntry] = weakref.WeakKeyDictionary()

    async def _entry(self, address: str) -> tuple[DirectoryEntry | None, str | None]:
        return await asyncio.get_running_loop().run_in_executor(None, self._lookup, address)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        sender = _address(address)
        authenticated = session.auth_data if session.authenticated else None
        if authenticated is None and session.ssl is not None:
            peer = session.ssl.get("peercert")
            if sender in certificate_addresses(peer if isinstance(peer, dict) else None):
                authenticated = sender  # the verified certificate names this mailbox
        if not isinstance(authenticated, str):
            return "530 5.7.0 Authentication required: AUTH after STARTTLS, or your MSSante certificate"
        if sender != authenticated:
            return _ascii(f"550 5.7.1 <{sender}> is not the mailbox you authenticated as <{authenticated}>")
        entry, _ = await self._entry(sender)
        if entry is None:
            return _ascii(f"550 5.7.1 <{sender}> is not in the MSSante directory")
        self._senders[envelope] = entry
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        domain = self._services.settings.mailbox_domain
        try:
            split_address(address)
        except ValueError:
            return _ascii(f"501 5.1.3 <{address}> is not an address")
        if patient_ins(address, domain) is None:
            return _ascii(f"550 5.7.1 <{_address(address)}>: this server only delivers to <INS>@{domain}")
        if len(envelope.rcpt_tos) >= 100:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sender = self._senders.pop(envelope, None)
        raw = envelope.original_content or envelope.content
        if sender is None or not isinstance(raw, bytes):
            return "503 5.5.1 MAIL FROM first"
        services = self._services
        arrival = services.clock.now()
        work = functools.partial(deliver, services, sender, list(envelope.rcpt_tos), raw, arrival)
        try:
            delivered = await asyncio.get_running_loop().run_in_executor(None, work)
        except MimeError as error:
            return _ascii(f"{error.code} {error.status} {error}")
        except Exception:
            log.exception("mailbox: a message from %s could not be stored", sender.address)
            return "451 4.3.0 The message could not be stored; nothing was kept, please send it again"
        return (
            f"250 2.0.0 Delivered to {len(delivered.messages)} mailbox(es), "
            f"{len(delivered.bounced)} delivery report(s) follow"
        )

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._senders.pop(envelope, None)
        return "250 OK"


class MailboxListener:
    """The listener's lifecycle in the server's event loop (``start`` -> the bound port, ``close``)."""

    def __init__(self, services: Services, lookup: Lookup, tls: ssl.SSLContext) -> None:
        self._services = services
        self._lookup = lookup
        self._tls = tls
        self._handler = _Handler(services, lookup)
        self._server: asyncio.AbstractServer | None = None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        # aiosmtpd calls this synchronously: one indexed read and one scrypt check
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace").strip().lower()
        entry, stored = self._lookup(login)
        if entry is None or not verify_password(auth_data.password.decode("utf-8", "replace"), stored):
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=entry.address)

    def _protocol(self) -> SMTP:
        settings = self._services.settings
        return SMTP(
            self._handler,
            data_size_limit=settings.mailbox_max_bytes,
            hostname=settings.mailbox_domain,
            ident="xds-server patient mailbox",
            tls_context=self._tls,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
            timeout=settings.mailbox_smtp_timeout,
            loop=asyncio.get_running_loop(),
        )

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.get_running_loop().create_server(self._protocol, host, port)
        sockets = self._server.sockets or ()
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
