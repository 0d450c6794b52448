"""MTOM request bodies for the SOAP frame tests (soap/endpoints.py): a root part, text/plain attachments."""

from __future__ import annotations


def mtom_type(boundary: str) -> str:
    """The Content-Type of an MTOM request built by ``mtom`` with the same boundary."""
    return (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
        'start="<root@test>"; start-info="application/soap+xml"'
    )


def mtom(boundary: str, root: bytes, *attachments: tuple[str, bytes]) -> bytes:
    """The multipart body: ``root`` as Content-ID <root@test>, then each ``(content_id, data)`` attachment."""
    parts = [
        (
            f"--{boundary}\r\n"
            'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
            "Content-Transfer-Encoding: binary\r\nContent-ID: <root@test>\r\n\r\n"
        ).encode()
        + root
    ]
    for cid, data in attachments:
        parts.append(
            f"--{boundary}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{cid}>\r\n\r\n".encode()
            + data
        )
    return b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode()
