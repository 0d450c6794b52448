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
from lxml import etree
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from xds_server import metrics
from xds_server.core.policy import AccessContext
from xds_server.soap.faults import FaultCode, SoapFault
from xds_server.soap.mtom import MtomError, MultipartLimits, is_multipart, read_multipart
from xds_server.soap.namespaces import SOAP12, qname
from xds_server.soap.router import HttpAnswer, Router, fault_answer

log = logging.getLogger(__name__)

REGISTRY_PATH = "/xds/registry"
REPOSITORY_PATH = "/xds/repository"

api = APIRouter(tags=["XDS.b (SOAP 1.2)"])


class _TooLarge(Exception):
    pass


_HEADER = qname(SOAP12, "Header")
_BODY = qname(SOAP12, "Body")


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
    address = request.client.host if request.client is not None else None
    envelope_limit = min(settings.max_envelope_bytes, settings.max_request_bytes)
    limit = settings.max_request_bytes if multipart else envelope_limit
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return _too_large(limit, multipart)
    admitted = _Admission(router, subject, address)
    if multipart:
        limits = MultipartLimits(
            max_request_bytes=limit, max_parts=settings.max_parts, max_root_bytes=envelope_limit
        )
        try:
            message = await read_multipart(
                request.stream(),
                content_type,
                limits=limits,
                spool_dir=router.services.spool_dir,
                on_root=admitted.check_envelope,  # credentials before the document parts are read
            )
        except SoapFault as fault:
            return fault_answer(fault)
        except MtomError as error:
            metrics.refused("unreadable_mtom")
            return fault_answer(SoapFault.sender(f"unreadable MTOM/XOP request: {error}"))
        with message:  # deletes the spooled parts the handler did not store
            return await run_in_threadpool(
                router.handle,
                message.root,
                message,
                transport_subject=subject,
                client_address=address,
                actor=admitted.actor,
            )
    try:
        body = await _read_body(request.stream(), limit, admitted)
    except _TooLarge:
        return _too_large(limit, multipart)
    except SoapFault as fault:
        return fault_answer(fault)
    return await run_in_threadpool(
        router.handle, body, None, transport_subject=subject, client_address=address, actor=admitted.actor
    )


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


async def _read_body(chunks: AsyncIterator[bytes], limit: int, admitted: _Admission) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise _TooLarge
        await admitted.watch(chunk)  # the header's credentials, as soon as the header is complete
    return bytes(body)


#: A SOAP header larger than this is refused (a VIHF assertion is a few kilobytes): otherwise padding the
#: header would defer the credential check until the whole body is read.
MAX_HEADER_BYTES = 1024 * 1024
#: The pull parser is fed this much at a time and stops at the first slice that ends the header: the body
#: (the whole metadata of a submission) is parsed once, by the full parse, not here as well.
_SLICE = 4 * 1024


class _Admission:
    """Credentials before the body (issue 14, item 6). A hardened pull parser reads the envelope as it
    arrives; when ``env:Header`` is complete (or the Body starts without one) ``Router.admit`` verifies the
    WS-Security header in a worker thread, and a refusal stops the reading. Anything the pull parser cannot
    judge (a DOCTYPE, malformed XML) is left to the full parse, which refuses it with its own fault."""

    def __init__(self, router: Router, transport_subject: str | None, client_address: str | None) -> None:
        self.router = router
        self.transport_subject = transport_subject
        self.client_address = client_address
        self.actor: AccessContext | None = None
        self._pending = True
        self._fed = 0
        self._parser = etree.XMLPullParser(
            events=("start", "end"),
            tag=(_HEADER, _BODY),  # no Python object for any other element
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
            load_dtd=False,
        )

    async def watch(self, chunk: bytes) -> None:
        if not self._pending:
            return
        if self._fed == 0 and b"<!DOCTYPE" in chunk[:65536]:
            self._pending = False  # the full parse refuses it (one rule, one message)
            return
        # in slices: the header is judged as soon as it ends, whatever the size of the chunk that brought it
        for start in range(0, len(chunk), _SLICE):
            piece = chunk[start : start + _SLICE]
            self._fed += len(piece)
            try:
                self._parser.feed(piece)
                events = list(self._parser.read_events())  # Header and Body only (``tag``)
            except etree.XMLSyntaxError:
                self._pending = False
                return
            if self._fed > MAX_HEADER_BYTES:
                metrics.refused("header_too_large")
                raise SoapFault.sender(f"the SOAP header is larger than {MAX_HEADER_BYTES} bytes")
            for event, element in events:
                if not isinstance(element, etree._Element):
                    continue
                if event == "end" and element.tag == _HEADER:
                    return await self._admit(element)
                if event == "start" and element.tag == _BODY:
                    return await self._admit(None)

    async def check_envelope(self, envelope: bytes) -> None:
        """MTOM: the root part is complete; the document parts are not read yet."""
        await self.watch(envelope)

    async def _admit(self, header: etree._Element | None) -> None:
        self._pending = False
        self.actor = await run_in_threadpool(
            self.router.admit, header, self.transport_subject, self.client_address
        )


__all__ = ["REGISTRY_PATH", "REPOSITORY_PATH", "api", "transport_subject"]
