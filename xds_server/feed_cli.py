"""``xds-server feed``: send patient identity feed messages to a running server (operators, tests).

``feed fhir PATIENT.json --base-url URL [--identifier SYSTEM|VALUE] [--token T]`` sends a FHIR Patient as an
ITI-104 conditional update (``PUT {URL}/fhir/Patient?identifier=...``; the identifier defaults to the
Patient's first) and prints the HTTP status and the answer (the Patient's id, or the OperationOutcome's
issues); exit 0 on 200/201, 1 on a refusal, 2 when the server could not be reached.

``feed hl7 FILE --port P`` sends every HL7 v2 message of FILE (each starts with an MSH segment; CR, LF or CRLF
between segments) over MLLP, one after the other on one connection, and prints one line per acknowledgement:
``AA <control id>``, or ``AE|AR <control id> <error code> <reason>``. The exit status is 0 when every message
was accepted (AA), 1 when one was not, 2 when the server could not be reached or did not answer.
"""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from xds_server.feed.mllp import Frame, MllpFramer, frame

feed_app = typer.Typer(
    help="Send patient identity feed messages (ITI-8) to a running server.", no_args_is_help=True
)

TIMEOUT = 30.0


def split_messages(text: str) -> list[bytes]:
    """The messages of a file: segments one per line (any line end), a message per MSH segment."""
    messages: list[list[str]] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            continue
        if line.startswith("MSH") or not messages:
            messages.append([])
        messages[-1].append(line)
    return [("\r".join(segments) + "\r").encode("utf-8") for segments in messages]


def ack_line(answer: bytes) -> tuple[str, str]:
    """(MSA-1, a printable summary) of an ACK."""
    code, control, reason, err = "", "", "", ""
    for segment in answer.decode("utf-8", "replace").split("\r"):
        fields = segment.split("|")
        if fields[0] == "MSA":
            code = fields[1] if len(fields) > 1 else ""
            control = fields[2] if len(fields) > 2 else ""
            reason = fields[3] if len(fields) > 3 else ""
        elif fields[0] == "ERR":
            err = next((f.split("^")[0] for f in fields[3:4] if f), "") or (
                fields[1].split("^")[3].split("&")[0] if len(fields) > 1 and fields[1].count("^") >= 3 else ""
            )
    return code, " ".join(part for part in (code or "?", control or "-", err, reason) if part)


def _connect(
    host: str, port: int, tls: bool, ca: Path | None, cert: Path | None, key: Path | None
) -> socket.socket:
    raw = socket.create_connection((host, port), timeout=TIMEOUT)
    if not tls:
        return raw
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context.wrap_socket(raw, server_hostname=host)


@feed_app.command("hl7")
def send_hl7(
    file: Annotated[
        Path, typer.Argument(help="HL7 v2 messages (ADT A01/A04/A05/A08/A40)", exists=True, dir_okay=False)
    ],
    port: Annotated[int, typer.Option("--port", help="The server's MLLP port (serve --mllp-port)")],
    host: Annotated[str, typer.Option("--host", help="The server's host")] = "127.0.0.1",
    tls: Annotated[bool, typer.Option("--tls", help="MLLP over TLS")] = False,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="With --tls: CA of the server certificate (PEM)")
    ] = None,
    cert: Annotated[Path | None, typer.Option("--cert", help="With --tls: client certificate (PEM)")] = None,
    key: Annotated[Path | None, typer.Option("--key", help="With --tls: its private key (PEM)")] = None,
) -> None:
    """Send the messages of FILE over MLLP and print each acknowledgement."""
    messages = split_messages(file.read_text(encoding="utf-8"))
    if not messages:
        typer.echo(f"error: no HL7 message in {file}", err=True)
        raise typer.Exit(2)
    accepted = True
    try:
        with _connect(host, port, tls, ca, cert, key) as sock:
            framer = MllpFramer(64 * 1024 * 1024)
            pending: list[bytes] = []
            for message in messages:
                sock.sendall(frame(message))
                while not pending:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("the server closed the connection before answering")
                    pending += [e.content for e in framer.feed(data) if isinstance(e, Frame)]
                code, line = ack_line(pending.pop(0))
                accepted = accepted and code == "AA"
                typer.echo(line)
    except (OSError, ssl.SSLError) as error:
        typer.echo(f"error: mllp://{host}:{port}: {error}", err=True)
        raise typer.Exit(2) from None
    if not accepted:
        raise typer.Exit(1)


@feed_app.command("fhir")
def send_fhir(
    file: Annotated[Path, typer.Argument(help="A FHIR Patient (JSON)", exists=True, dir_okay=False)],
    base_url: Annotated[str, typer.Option("--base-url", help="The server, e.g. http://127.0.0.1:8080")],
    identifier: Annotated[
        str | None, typer.Option("--identifier", help="SYSTEM|VALUE of the conditional update")
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="XDS_FEED_TOKEN", help="Bearer token [$XDS_FEED_TOKEN]")
    ] = None,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="CA of the server certificate (PEM), for https")
    ] = None,
) -> None:
    """PUT a Patient (ITI-104) and print the answer."""
    try:
        resource = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        typer.echo(f"error: {file}: not JSON: {error}", err=True)
        raise typer.Exit(2) from None
    if identifier is None:
        first: dict[str, Any] = (
            next(iter(resource.get("identifier") or []), {}) if isinstance(resource, dict) else {}
        )
        if not first.get("system") or not first.get("value"):
            typer.echo("error: give --identifier SYSTEM|VALUE (the Patient has no identifier)", err=True)
            raise typer.Exit(2)
        identifier = f"{first['system']}|{first['value']}"
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = base_url.rstrip("/") + "/fhir/Patient"
    try:
        response = httpx.put(
            url,
            params={"identifier": identifier},
            content=json.dumps(resource).encode("utf-8"),
            headers=headers,
            timeout=TIMEOUT,
            verify=str(ca) if ca else True,
        )
    except httpx.HTTPError as error:
        typer.echo(f"error: {url}: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code in (200, 201):
        typer.echo(f"{response.status_code} Patient/{answer.get('id', '?')}")
        return
    issues = [f"{i.get('code')}: {i.get('diagnostics', '')}" for i in answer.get("issue", [])] or [
        response.text[:200]
    ]
    typer.echo(f"{response.status_code} " + "; ".join(issues))
    raise typer.Exit(1)


__all__ = ["ack_line", "feed_app", "send_fhir", "send_hl7", "split_messages"]
