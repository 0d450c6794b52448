"""``xds-server feed``: send patient identity feed messages to a running server (operators, tests).

``feed hl7 FILE --port P`` sends every HL7 v2 message of FILE (each starts with an MSH segment; CR, LF or CRLF
between segments) over MLLP, one after the other on one connection, and prints one line per acknowledgement:
``AA <control id>``, or ``AE|AR <control id> <error code> <reason>``. The exit status is 0 when every message
was accepted (AA), 1 when one was not, 2 when the server could not be reached or did not answer.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import Annotated

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


__all__ = ["ack_line", "feed_app", "split_messages"]
