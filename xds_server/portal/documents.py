"""Documents: the record's documents by category (filters, search), one document (CDA through the safe
XSLT, text as text, PDF inline), its content, and masking one or all.

Data and rules: ``wiring.documents`` (the same functions as the FHIR DocumentReference routes): the
record gate and the visibility scope of ``query_scope`` (so INVISIBLE_PATIENT documents, and for a
representative INVISIBLE_REPRESENTANTS_LEGAUX ones, never reach the page), retrieval through the ITI-43
rules, masking as ONE ITI-57 request checked by ``check_update`` (the patient side may only add or remove
MASQUE_PS). Traced as the FHIR twins: ITI-67 for the list, ITI-68 for a document and its content,
PATIENT-API for masking.
"""

from __future__ import annotations

from typing import Final

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from xds_server.core.audit import PATIENT_API
from xds_server.core.errors import XdsError
from xds_server.core.metadata import DocumentEntry
from xds_server.portal.cda import render_cda, render_text
from xds_server.portal.views import DocumentView, document_view
from xds_server.portal.web import BASE, Page, Refused, open_action, open_page, portal_router
from xds_server.wiring.documents import (
    document_by_logical_id,
    record_documents,
    retrieve_visible,
    set_masked,
)

router = portal_router()

_TEXT: Final = frozenset({"text/plain", "text/csv"})
_XML: Final = frozenset({"text/xml", "application/xml", "application/hl7-cda+xml"})
_INLINE: Final = frozenset({"application/pdf", "text/plain", "image/jpeg", "image/png"})
REFUSED: Final = "Votre dossier n'est pas accessible pour le moment."


def _list(page: Page) -> tuple[list[DocumentView], str | None]:
    assert page.actor is not None and page.record is not None
    try:
        with page.traced("ITI-67") as services, services.for_reading().transaction() as work:
            entries = record_documents(services, page.actor, work, page.record)
    except XdsError:
        return [], REFUSED
    return [document_view(e) for e in entries], None


@router.get(f"{BASE}/documents")
async def documents(request: Request) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    every, refused = await run_in_threadpool(_list, page)
    q = request.query_params.get("q", "").strip()
    categorie = request.query_params.get("categorie", "").strip()
    categories = sorted({(d.category_key, d.category) for d in every}, key=lambda c: c[1].lower())
    shown = [
        d
        for d in every
        if (not q or q.lower() in d.title.lower()) and (not categorie or d.category_key == categorie)
    ]
    groups: dict[str, list[DocumentView]] = {}
    for d in shown:
        groups.setdefault(d.category, []).append(d)
    return page.render(
        "documents.html",
        title="Mes documents",
        section="documents",
        shown=shown,
        groups=sorted(groups.items(), key=lambda g: g[0].lower()),
        categories=categories,
        q=q,
        categorie=categorie,
        refused=refused,
    )


def _one(page: Page, document_id: str, *, content: bool) -> tuple[DocumentEntry | None, bytes | None]:
    """The document (latest version) and, when asked, its bytes; (None, None) when the actor may not see
    it (unknown, hidden, another record's: one answer)."""
    assert page.actor is not None and page.record is not None
    services_base = page.services
    with page.traced("ITI-68") as services, services.for_reading().transaction() as work:
        entry = document_by_logical_id(services, page.actor, work, page.record, document_id)
        if entry is None:
            raise Refused("no such document in this record for this actor")
        if not content:
            return entry, None
        found = retrieve_visible(services, page.actor, work, entry)
        if found is None or services_base.blobs is None:
            return entry, None
        handle = services_base.blobs.open(found.key)
        try:
            data = handle.read()
        finally:
            handle.close()
        return entry, data


def _load(page: Page, document_id: str) -> tuple[DocumentEntry | None, bytes | None]:
    try:
        return _one(page, document_id, content=True)
    except (Refused, XdsError):
        return None, None


def _not_found(page: Page) -> Response:
    return page.render(
        "erreur.html",
        status=404,
        title="Document introuvable",
        section="documents",
        message="Ce document n'existe pas dans votre dossier, ou il ne vous est pas accessible.",
    )


@router.get(f"{BASE}/documents/{{document_id}}")
async def document(request: Request, document_id: str) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    entry, data = await run_in_threadpool(_load, page, document_id)
    if entry is None:
        return _not_found(page)
    view = document_view(entry)
    mime = (entry.mime_type or "").split(";")[0].strip().lower()
    cda = render_cda(data) if data is not None and mime in _XML else None
    text = None
    if data is not None and cda is None and (mime in _TEXT or mime in _XML):
        text = render_text(data)
    return page.render(
        "document.html",
        title=view.title,
        section="documents",
        d=view,
        cda=cda,
        text=text,
        pdf=data is not None and mime == "application/pdf",
        missing=data is None,
    )


@router.get(f"{BASE}/documents/{{document_id}}/contenu")
async def document_content(request: Request, document_id: str) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    entry, data = await run_in_threadpool(_load, page, document_id)
    if entry is None or data is None:
        return _not_found(page)
    mime = (entry.mime_type or "application/octet-stream").split(";")[0].strip().lower()
    disposition = "inline" if mime in _INLINE else "attachment"
    response = Response(
        data,
        media_type=mime if mime in _INLINE else "application/octet-stream",
        headers={
            "Content-Disposition": f'{disposition}; filename="document-{document_view(entry).id}"',
            # the document's own bytes: never a script context, whatever it claims to be
            "Content-Security-Policy": "default-src 'none'; object-src 'self'; sandbox",
        },
    )
    return page.answer(response)


def _mask(page: Page, ids: list[str] | None, masked: bool) -> int:
    """Mask or unmask the named documents (None: all of the record), in one traced ITI-57 request."""
    assert page.actor is not None and page.record is not None
    with page.traced(PATIENT_API) as services, services.transaction() as work:
        if ids is None:
            entries = record_documents(services, page.actor, work, page.record)
        else:
            found = [document_by_logical_id(services, page.actor, work, page.record, i) for i in ids]
            if any(e is None for e in found):
                raise Refused("no such document in this record for this actor")
            entries = [e for e in found if e is not None]
        return set_masked(services, page.actor, work, entries, masked)


def _mask_answer(page: Page, ids: list[str] | None, masked: bool, back: str) -> Response:
    try:
        changed = _mask(page, ids, masked)
    except Refused:
        return _not_found(page)
    except XdsError:
        return page.redirect(back, "Ce changement n'est pas permis sur ce document.", error=True)
    if ids is None:
        text = (
            f"{changed} document(s) masqué(s) aux professionnels."
            if masked
            else f"{changed} document(s) de nouveau visible(s) des professionnels."
        )
    else:
        text = "Le document est masqué aux professionnels." if masked else "Le document n'est plus masqué."
    return page.redirect(back, text)


@router.post(f"{BASE}/documents/masquage")
async def mask_all(request: Request) -> Response:
    page, form = await open_action(request)
    if not isinstance(page, Page):
        return page
    masked = form.get("masquer") == "oui"
    return await run_in_threadpool(_mask_answer, page, None, masked, f"{BASE}/documents")


@router.post(f"{BASE}/documents/{{document_id}}/masquage")
async def mask_one(request: Request, document_id: str) -> Response:
    page, form = await open_action(request)
    if not isinstance(page, Page):
        return page
    masked = form.get("masquer") == "oui"
    back = f"{BASE}/documents/{document_id}" if form.get("retour") == "document" else f"{BASE}/documents"
    return await run_in_threadpool(_mask_answer, page, [document_id], masked, back)


__all__ = ["router"]
