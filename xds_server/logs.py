"""Server logs: plain text or one JSON object per line (``XDS_LOG_FORMAT=json``), each line carrying the id
of the HTTP request it was written for.

Every HTTP request gets an id (``RequestIdMiddleware``): the client's ``X-Request-Id`` when it is a sane
token (at most 64 characters of ``A-Z a-z 0-9 . _ -``, so a client cannot inject log syntax), else a fresh
one. It is sent back as ``X-Request-Id`` and held in a context variable for the time of the request; the
worker threads the SOAP router runs in inherit it (Starlette copies the context), so every log line of the
request, whichever module wrote it, names it (``request_id``; ``-`` outside a request).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "REQUEST_ID",
    "JsonFormatter",
    "RequestIdFilter",
    "RequestIdMiddleware",
    "configure",
    "current_request_id",
]

REQUEST_ID: Final[ContextVar[str | None]] = ContextVar("xds_request_id", default=None)
HEADER: Final = "x-request-id"
_SANE_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def current_request_id() -> str | None:
    return REQUEST_ID.get()


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, and the
    exception text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when each line is written (not when the handler was made)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(
    level: str = "INFO", log_format: str = "text", *, force: bool = False
) -> logging.Handler | None:
    """The server's handler on the root logger (stderr), text or JSON, with the request id on every line.
    Like ``logging.basicConfig``, nothing happens when the root logger has handlers already (an embedding
    program's, a test runner's) unless ``force``; a forced call replaces the handler an earlier one
    installed and leaves the others alone."""
    root = logging.getLogger()
    if root.handlers and not force:
        return None
    handler = _StderrHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    for previous in list(root.handlers):
        if isinstance(previous, _StderrHandler):
            root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


class RequestIdMiddleware:
    """ASGI middleware: the request id in the context while the request runs, and in the response."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", []) if k.lower() == HEADER.encode()), b"")
        text = given.decode("latin-1")
        request_id = text if _SANE_ID.fullmatch(text) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message.get("type") == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER.encode()]
                message["headers"] = [*headers, (HEADER.encode(), request_id.encode("ascii"))]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
