"""Transport security of ``xds-server serve``: HTTPS with uvicorn's ssl options, client certificates
required when a client CA is configured (the DMP's structure certificates, the ATNA secure node).

The client certificate reaches the application through the ASGI TLS extension (asgiref "TLS Extension"
0.2): ``scope["extensions"]["tls"]`` with ``client_cert_name``, the subject as an RFC 4514 string, and
``client_cert_chain``. uvicorn (0.54) does not fill that extension itself, so ``tls_options`` also hands it
an HTTP protocol class (``tls_scope_protocol``: uvicorn's own, plus a per-connection wrapper of the
application) that reads the peer certificate from the connection's ``ssl_object`` once per connection.
Python's ssl module exposes the leaf certificate only, so the chain holds that one certificate; it gives
neither the cipher suite number nor the server certificate as sent: those fields are None, as the
extension allows. The SOAP face (soap/endpoints.py) reads ``client_cert_name`` from the scope, puts it on
every ``SoapRequest`` (``transport_subject``) and logs it; any other face reads the same scope key.

The alternative, a TLS-terminating reverse proxy in front of a plain-HTTP server, is described in the
README ("Transport security"); the subject is then the proxy's business.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from cryptography import x509
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from xds_server.config import Settings

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: ``ssl.SSLObject.version()`` -> the protocol version number the TLS extension reports.
_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``: empty without ``tls_cert``; ``ssl.CERT_REQUIRED`` with
    ``tls_client_ca``; the HTTP protocol that fills the ASGI TLS extension. A missing or unreadable file is
    a ValueError naming it (checked before binding)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return {}
    files = {"--tls-cert": settings.tls_cert, "--tls-key": settings.tls_key}
    if settings.tls_client_ca is not None:
        files["--tls-client-ca"] = settings.tls_client_ca
    for option, path in files.items():
        if not Path(path).is_file():
            raise ValueError(f"{option} {path}: no such file")
    try:  # the same check uvicorn makes later, but with a message instead of a traceback
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
        if settings.tls_client_ca is not None:
            context.load_verify_locations(settings.tls_client_ca)
    except (ssl.SSLError, OSError) as error:
        raise ValueError(f"TLS files not usable: {error}") from None
    options: dict[str, Any] = {
        "ssl_certfile": str(settings.tls_cert),
        "ssl_keyfile": str(settings.tls_key),
        "http": tls_scope_protocol(AutoHTTPProtocol),
    }
    if settings.tls_client_ca is not None:
        options |= {"ssl_ca_certs": str(settings.tls_client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any] | None:
    """The ASGI TLS extension of one connection; None when it is not TLS."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return {
        "server_cert": None,  # not exposed by the ssl module
        "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
        "client_cert_name": certificate_subject(der) if der else None,
        # with CERT_REQUIRED a certificate that fails verification ends the handshake: none gets here
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,  # the ssl module names the cipher, it does not give its IANA number
    }


def certificate_subject(der: bytes) -> str:
    """The subject of a DER certificate as an RFC 4514 string (``CN=...,O=...,C=FR``)."""
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def with_tls_extension(app: AsgiApp, tls: Mapping[str, Any]) -> AsgiApp:
    """``app`` seeing ``tls`` as ``scope["extensions"]["tls"]`` in every HTTP and WebSocket scope."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket"):
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": dict(tls)}
        await app(scope, receive, send)

    return wrapped


def tls_scope_protocol(base: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol ``base`` (one instance per connection) with the TLS extension filled in."""

    class TlsScopeProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            tls = tls_extension(transport.get_extra_info("ssl_object"))
            if tls is not None:
                self.app = with_tls_extension(self.app, tls)  # type: ignore[has-type]

    TlsScopeProtocol.__name__ = TlsScopeProtocol.__qualname__ = f"TlsScope{base.__name__}"
    return TlsScopeProtocol


__all__ = [
    "certificate_subject",
    "tls_extension",
    "tls_options",
    "tls_scope_protocol",
    "with_tls_extension",
]
