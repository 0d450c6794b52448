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
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from xds_server import metrics
from xds_server.config import Settings

log = logging.getLogger(__name__)

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


# ---- connection guard (issue 14, item 5) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """Bounds on what a client may hold open or send (each a setting; see ``Settings``)."""

    #: complete request headers within this many seconds of the connection (or of the previous answer)
    header_timeout: float = 10.0
    #: no body byte for this many seconds: the request is abandoned and the connection closed
    body_timeout: float = 30.0
    #: connections open at once, in all; past it new ones are closed at once
    max_connections: int = 1000
    #: connections open at once from one client address
    max_connections_per_client: int = 100
    #: requests per second one client address may start (token bucket of ``2 x`` this); 0: no limit
    requests_per_second: float = 500.0
    #: a condition (header timeout, connection cap ...) is logged at most once per this many seconds
    log_interval: float = 60.0


class _Throttled:
    """One log line per condition per interval, with the count of the occurrences it stands for."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def warn(self, condition: str, detail: str) -> None:
        now = time.monotonic()
        self._count[condition] = self._count.get(condition, 0) + 1
        if now - self._last.get(condition, -1e9) >= self.interval:
            count = self._count.pop(condition)
            self._last[condition] = now
            log.warning("%s (%d in the last %.0f s; %s)", condition, count, self.interval, detail)


class ConnectionGuard:
    """State shared by every connection of one server (one event loop: no locks needed)."""

    def __init__(self, settings: GuardSettings) -> None:
        self.settings = settings
        self.open = 0
        self.per_client: dict[str, int] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last refill)
        self.log = _Throttled(settings.log_interval)

    def refuse(self, reason: str, detail: str) -> None:
        metrics.refused(reason)
        self.log.warn(_CONDITIONS[reason], detail)

    def admit_connection(self, client: str) -> bool:
        s = self.settings
        if self.open >= s.max_connections:
            self.refuse("connection_limit", f"limit {s.max_connections}, XDS_MAX_CONNECTIONS")
            return False
        if self.per_client.get(client, 0) >= s.max_connections_per_client:
            self.refuse(
                "client_connection_limit",
                f"{client}, limit {s.max_connections_per_client}, XDS_MAX_CONNECTIONS_PER_CLIENT",
            )
            return False
        self.open += 1
        self.per_client[client] = self.per_client.get(client, 0) + 1
        return True

    def release_connection(self, client: str) -> None:
        self.open -= 1
        left = self.per_client.get(client, 1) - 1
        if left > 0:
            self.per_client[client] = left
        else:
            self.per_client.pop(client, None)

    def admit_request(self, client: str) -> bool:
        rate = self.settings.requests_per_second
        if rate <= 0:
            return True
        now = time.monotonic()
        tokens, last = self._buckets.get(client, (2 * rate, now))
        tokens = min(2 * rate, tokens + (now - last) * rate)
        if tokens < 1:
            self._buckets[client] = (tokens, now)
            self.refuse("rate_limited", f"{client}, {rate:g} requests/s, XDS_REQUESTS_PER_SECOND")
            return False
        self._buckets[client] = (tokens - 1, now)
        if len(self._buckets) > 10_000:  # forget idle clients (their buckets are full again anyway)
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 2}
        return True


_CONDITIONS = {
    "connection_limit": "connection refused: too many connections",
    "client_connection_limit": "connection refused: too many connections from one client",
    "rate_limited": "request refused: too many requests from one client (429)",
    "header_timeout": "connection closed: request headers not complete in time",
    "body_timeout": "request abandoned: no body bytes in time",
}


def guarded_protocol(base: type[asyncio.Protocol], guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol ``base`` with the guard's bounds: the connection caps when a connection
    opens, the header timeout from the connection (and from each answer) to the request's headers, the
    request rate when a request starts (429 past it), the body timeout on every read of the body."""

    class GuardedProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            self._guard_client = str(peer[0]) if isinstance(peer, tuple) and peer else "-"
            self._guard_admitted = guard.admit_connection(self._guard_client)
            if not self._guard_admitted:
                transport.close()
                return
            self._guard_timer: asyncio.TimerHandle | None = None
            self._guard_arm()
            self.app = _guarded_app(self.app, guard, self)  # type: ignore[has-type]

        def connection_lost(self, exc: Exception | None) -> None:
            if getattr(self, "_guard_admitted", False):
                self._guard_admitted = False
                guard.release_connection(self._guard_client)
                self._guard_disarm()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._guard_arm()  # the next request's headers must come in time too

        def _guard_arm(self) -> None:
            self._guard_disarm()
            loop = asyncio.get_running_loop()
            self._guard_timer = loop.call_later(guard.settings.header_timeout, self._guard_header_timeout)

        def _guard_disarm(self) -> None:
            timer = getattr(self, "_guard_timer", None)
            if timer is not None:
                timer.cancel()
                self._guard_timer = None

        def _guard_header_timeout(self) -> None:
            self._guard_timer = None
            guard.refuse("header_timeout", f"{self._guard_client}, {guard.settings.header_timeout:g} s")
            self.transport.close()

    GuardedProtocol.__name__ = GuardedProtocol.__qualname__ = f"Guarded{base.__name__}"
    return GuardedProtocol


def _guarded_app(app: AsgiApp, guard: ConnectionGuard, protocol: Any) -> AsgiApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        protocol._guard_disarm()  # the headers are in: the request runs
        if scope.get("type") == "http" and not guard.admit_request(protocol._guard_client):
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [(b"retry-after", b"1"), (b"content-type", b"text/plain")],
                }
            )
            await send({"type": "http.response.body", "body": b"too many requests\n"})
            return

        async def timed_receive() -> MutableMapping[str, Any]:
            try:
                return await asyncio.wait_for(receive(), guard.settings.body_timeout)
            except TimeoutError:
                guard.refuse("body_timeout", f"{protocol._guard_client}, {guard.settings.body_timeout:g} s")
                protocol.transport.close()
                return {"type": "http.disconnect"}

        await app(scope, timed_receive, send)

    return guarded


def guard_settings(settings: Settings) -> GuardSettings:
    return GuardSettings(
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
        max_connections=settings.max_connections,
        max_connections_per_client=settings.max_connections_per_client,
        requests_per_second=settings.requests_per_second,
    )


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``: ``tls_options`` and the guarded HTTP protocol (over the TLS
    scope protocol when TLS is on)."""
    options = tls_options(settings)
    base = options.get("http", AutoHTTPProtocol)
    options["http"] = guarded_protocol(base, ConnectionGuard(guard_settings(settings)))
    return options


__all__ = [
    "ConnectionGuard",
    "GuardSettings",
    "certificate_subject",
    "guard_settings",
    "guarded_protocol",
    "server_options",
    "tls_extension",
    "tls_options",
    "tls_scope_protocol",
    "with_tls_extension",
]
