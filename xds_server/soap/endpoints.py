"""The HTTP face of the SOAP router: ``POST /xds/registry`` and ``POST /xds/repository``.

Both paths share one router (one action table): a client that sends a registry transaction to the repository
URL is served as well, as the NIST tools expect of a combined registry + repository.

The body is read here, on the event loop, with the size limits enforced while it streams. Plain SOAP is
collected in memory, so it gets the envelope limit (``XDS_MAX_ENVELOPE_BYTES``, 32 MiB by default: base64
documents inside a plain envelope count against it); an MTOM/XOP ``multipart/related`` request gets the
request limit (``XDS_MAX_REQUEST_BYTES``) and goes through ``soap.mtom.read_multipart``, which spools
documents to the blob store's staging folder and holds only its root part (the envelope, same envelope
limit) in memory. Past a limit the answer is a Sender fault naming it. The router then runs in a worker
thread (handlers are synchronous: database, blob store). Spooled parts that no handler moved into the store
are deleted when the request ends.

The subject of the connection's TLS client certificate (``scope["extensions"]["tls"]["client_cert_name"]``,
the ASGI TLS extension that ``xds-server serve`` fills: xds_server/transport.py) goes to the router with the
message (``SoapRequest.transport_subject``).

A client that goes away before its request was read (Starlette's ``ClientDisconnect``) is logged on one
line, not as an error with a traceback: nobody is left to answer, and the spooled parts are removed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from xds_server import metrics
from xds_server.soap.faults import FaultCode, SoapFault
from xds_server.soap.mtom import MtomError, MultipartLimits, is_multipart, read_multipart
from xds_server.soap.router import HttpAnswer, Router, fault_answer

log = logging.getLogger(__name__)

REGISTRY_PATH = "/xds/registry"
REPOSITORY_PATH = "/xds/repository"

api = APIRouter(tags=["XDS.b (SOAP 1.2)"])


class _TooLarge(Exception):
    pass


@api.post(REGISTRY_PATH, summary="XDS.b registry: ITI-42, ITI-18, ITI-57 ... (SOAP 1.2, plain or MTOM)")
@api.post(REPOSITORY_PATH, summary="XDS.b repository: ITI-41, ITI-43 (SOAP 1.2, MTOM/XOP)")
async def soap_endpoint(request: Request) -> Response:
    router: Router = request.app.state.soap_router
    try:
        answer = await _answer(request, router)
    except ClientDisconnect:
        log.info("SOAP client disconnected before its request was read (%s)", request.url.path)
        return Response(status_code=400)  # never delivered: the client is gone
    except Exception:  # disk full while spooling ...: still a SOAP answer, never a stack trace
        log.exception("SOAP request failed before reaching the router")
        answer = fault_answer(SoapFault(FaultCode.RECEIVER, "internal server error"))
    headers = {"Content-Length": str(answer.content_length)} if answer.content_length is not None else None
    if isinstance(answer.body, bytes):
        return Response(answer.body, status_code=answer.status, media_type=answer.content_type)
    return StreamingResponse(
        answer.body, status_code=answer.status, media_type=answer.content_type, headers=headers
    )


async def _answer(request: Request, router: Router) -> HttpAnswer:
    settings = router.services.settings
    content_type = request.headers.get("content-type", "")
    multipart = is_multipart(content_type)
    subject = transport_subject(request.scope)
    envelope_limit = min(settings.max_envelope_bytes, settings.max_request_bytes)
    limit = settings.max_request_bytes if multipart else envelope_limit
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _too_large(limit, multipart)
    if multipart:
        limits = MultipartLimits(
            max_request_bytes=limit, max_parts=settings.max_parts, max_root_bytes=envelope_limit
        )
        try:
            message = await read_multipart(
                request.stream(), content_type, limits=limits, spool_dir=router.services.spool_dir
            )
        except MtomError as error:
            metrics.refused("unreadable_mtom")
            return fault_answer(SoapFault.sender(f"unreadable MTOM/XOP request: {error}"))
        with message:  # deletes the spooled parts the handler did not store
            return await run_in_threadpool(router.handle, message.root, message, transport_subject=subject)
    try:
        body = await _read_body(request.stream(), limit)
    except _TooLarge:
        return _too_large(limit, multipart)
    return await run_in_threadpool(router.handle, body, None, transport_subject=subject)


def transport_subject(scope: Mapping[str, Any]) -> str | None:
    """The TLS client certificate subject (RFC 4514) of the request's connection; None without one."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    name = tls.get("client_cert_name")
    return name if isinstance(name, str) and name else None


def _too_large(limit: int, multipart: bool) -> HttpAnswer:
    metrics.refused("too_large")
    if multipart:
        return fault_answer(SoapFault.sender(f"the request is larger than the {limit}-byte limit"))
    return fault_answer(
        SoapFault.sender(
            f"the SOAP envelope is larger than the {limit}-byte limit of a plain application/soap+xml "
            "request; send large documents as MTOM/XOP parts (multipart/related)"
        )
    )


async def _read_body(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


__all__ = ["REGISTRY_PATH", "REPOSITORY_PATH", "api", "transport_subject"]
