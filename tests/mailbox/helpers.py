"""A real ``xds-server serve --dev --smtp-port`` process, a relay catching what leaves it (aiosmtpd), and an
smtplib client that speaks to it as an MSSanté professional's software would."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from tests.server_helpers import free_port

PROFILE = "dmp-test"
AUTHORITY = "1.2.250.1.213.1.4.10"
DOMAIN = "patient.mssante.fr"


def ins(nir13: str) -> str:
    """A valid 15-character INS of a 13-digit NIR."""
    return f"{nir13}{97 - int(nir13) % 97:02d}"


def cx(value: str) -> str:
    return f"{value}^^^&{AUTHORITY}&ISO"


@dataclass
class Caught:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, _class=EmailMessage, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Relay:
    """The outbound relay: every message the server hands it, raw."""

    caught: list[Caught] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.caught.append(Caught(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"

    def wait(self, predicate: Callable[[Caught], bool], count: int = 1, timeout: float = 20) -> list[Caught]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [c for c in self.caught if predicate(c)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def start_relay() -> tuple[Relay, Controller, int]:
    relay = Relay()
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    return relay, controller, port


class Server:
    """One server process (start, kill -9, start again on the same data)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.http_port = free_port()
        self.smtp_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "xds_server.cli", *args], env=self.env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "xds_server.cli", "serve", "--dev", "--port", str(self.http_port),
                 "--smtp-port", str(self.smtp_port)],
                env=self.env, stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(self.log.read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
            self.process = None

    # -- the SMTP face ----------------------------------------------------------------------------------

    def tls(self, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
        """A client context trusting the test authority that issued the server's certificate."""
        authority = Path(self.env["XDS_DATA_DIR"]) / "dev-authority"
        context = ssl.create_default_context(cafile=str(next(authority.glob("*cert*.pem"))))
        if cert is not None and key is not None:
            context.load_cert_chain(cert, key)
        return context

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30)

    def send(
        self,
        sender: str,
        password: str | None,
        to: Sequence[str],
        raw: bytes,
        *,
        cert: tuple[Path, Path] | None = None,
    ) -> tuple[int, bytes]:
        """Send ``raw`` (the bytes that cross SMTP) after STARTTLS and AUTH (or a client certificate);
        the DATA reply."""
        with self.smtp() as client:
            client.starttls(context=self.tls(*cert) if cert else self.tls())
            if password is not None:
                client.login(sender, password)
            client.ehlo()
            code, text = client.mail(sender)
            assert code == 250, (code, text)
            for recipient in to:
                code, text = client.rcpt(recipient)
                assert code == 250, (code, text)
            return client.data(raw)

    # -- the FHIR face ----------------------------------------------------------------------------------

    def token(self, *args: str) -> str:
        return self.cli("dev", "token", *args).strip()

    def fhir(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=f"{self.base}/fhir", headers=headers, timeout=30)


def professional_message(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    in_reply_to: str | None = None,
    receipt: bool = False,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> tuple[str, bytes]:
    """(Message-ID, the bytes as they cross SMTP) of a professional's message."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message_id = make_msgid(domain=sender.partition("@")[2])
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    if receipt:
        message["Disposition-Notification-To"] = sender
    message.set_content(body)
    for filename, media_type, content in attachments:
        main, _, sub = media_type.partition("/")
        message.add_attachment(content, maintype=main, subtype=sub, filename=filename)
    return message_id, message.as_bytes(policy=email.policy.SMTP)


def human_text(message: EmailMessage) -> str:
    """The first text/plain part of a report (its human-readable part)."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).strip()
