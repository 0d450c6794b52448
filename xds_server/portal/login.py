"""Logging in and out, and switching records: the dev login (test authority trusted only), the OpenID
Connect login, ``POST /espace-sante/dossier`` and ``POST /espace-sante/deconnexion``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from xds_server.portal.oidc import OidcError, Pending
from xds_server.portal.session import csrf_valid
from xds_server.portal.views import ins_of
from xds_server.portal.web import (
    BASE,
    EXPIRED,
    Page,
    canonical,
    forbidden,
    open_action,
    open_public,
    portal_router,
)
from xds_server.wiring.record_settings import person_records

router = portal_router()

_STATES = {"activated": "activé", "created": "créé", "closed": "clôturé", "opposed": "opposé"}


def _directory(page: Page) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The dev login's choices: the directory's patients and the registered representatives."""
    services = page.services
    with services.for_reading().transaction() as work:
        patients = [
            {"id": pid, "label": f"{ins_of(pid)} ({_STATES.get(state.value, state.value)})"}
            for pid, state in list(work.patients.list())[:500]
        ]
        reps = work.records.representatives() if work.records is not None else []
    return patients, [{"id": r, "label": ins_of(r)} for r in reps]


def _login_page(page: Page, error: str | None = None, status: int = 200) -> Response:
    patients: list[dict[str, str]] = []
    representatives: list[dict[str, str]] = []
    if page.portal.dev_login:
        patients, representatives = _directory(page)
    return page.render(
        "connexion.html",
        status=status,
        title="Connexion",
        section="connexion",
        oidc=page.portal.oidc.configured,
        dev=page.portal.dev_login,
        patients=patients,
        representatives=representatives,
        error=error,
    )


@router.get("/")
def root() -> Response:
    return RedirectResponse(f"{BASE}/", status_code=303)


@router.get(BASE)
@router.get(f"{BASE}/")
def home(request: Request) -> Response:
    page = open_public(request)
    return page.redirect(f"{BASE}/documents" if page.actor is not None else f"{BASE}/connexion")


@router.get(f"{BASE}/connexion")
def login_page(request: Request) -> Response:
    page = open_public(request)
    if page.actor is not None:
        return page.redirect(f"{BASE}/documents")
    return _login_page(page)


def _start(page: Page, person: str, name: str | None, via: str) -> Response:
    """Log ``person`` in on his first record; refused when he has none."""
    services = page.services
    with services.for_reading().transaction() as work:
        records = person_records(services, work, person)
    if not records:
        return _login_page(page, "Aucun dossier n'est ouvert à cette identité.", status=403)
    page.session.login(person, records[0].patient_id, name, via)
    page.session.flash("Vous êtes connecté.")
    return page.redirect(f"{BASE}/documents")


@router.post(f"{BASE}/connexion/dev")
async def dev_login(request: Request) -> Response:
    page = open_public(request)
    form = await request.form()
    if not csrf_valid(request, page.session, form.get("csrf_token")):
        return forbidden(page, EXPIRED)
    if not page.portal.dev_login:
        return forbidden(page, "La connexion de démonstration n'est pas disponible sur ce serveur.")
    chosen = form.get("ins")
    person = canonical(page.services, chosen) if isinstance(chosen, str) else None
    if person is None:
        return _login_page(page, "Cet INS n'est pas valide.", status=400)
    return await run_in_threadpool(_start, page, person, None, "dev")


def _redirect_uri(request: Request, page: Page) -> str:
    configured = page.services.settings.oidc_redirect_uri
    return configured or str(request.url_for("oidc_return"))


@router.get(f"{BASE}/connexion/oidc")
def oidc_begin(request: Request) -> Response:
    page = open_public(request)
    oidc = page.portal.oidc
    if not oidc.configured:
        return _login_page(page, "La connexion OpenID Connect n'est pas configurée.", status=404)
    try:
        url, pending = oidc.begin(_redirect_uri(request, page))
    except OidcError as error:
        return _login_page(page, f"Connexion impossible : {error}", status=502)
    page.session.set(oidc={"state": pending.state, "nonce": pending.nonce, "verifier": pending.verifier})
    return page.answer(RedirectResponse(url, status_code=303))


@router.get(f"{BASE}/connexion/retour", name="oidc_return")
def oidc_return(request: Request) -> Response:
    page = open_public(request)
    oidc = page.portal.oidc
    stored: Any = page.session.data.get("oidc")
    page.session.set(oidc=None)  # one use, whatever happens
    params = request.query_params
    if params.get("error"):
        return _login_page(page, "Le fournisseur d'identité n'a pas confirmé votre identité.", status=403)
    code, state = params.get("code"), params.get("state")
    if not oidc.configured or not isinstance(stored, dict) or not code or not state:
        return _login_page(page, "Cette connexion a expiré : recommencez.", status=400)
    pending = Pending(str(stored.get("state")), str(stored.get("nonce")), str(stored.get("verifier")))
    try:
        identity = oidc.finish(pending, code, state, _redirect_uri(request, page))
    except OidcError as error:
        return _login_page(page, f"Connexion refusée : {error}", status=403)
    person = canonical(page.services, identity.ins)
    if person is None:
        return _login_page(page, "L'INS transmis par le fournisseur d'identité n'est pas valide.", status=403)
    return _start(page, person, identity.name, "oidc")


@router.post(f"{BASE}/dossier")
async def switch_record(request: Request) -> Response:
    page, form = await open_action(request)
    if not isinstance(page, Page):
        return page
    wanted = canonical(page.services, form.get("ins", ""))
    if wanted is None or not any(r.patient_id == wanted for r in page.records):
        return forbidden(page, "Vous ne pouvez pas agir sur ce dossier.")
    page.session.set(record=wanted)
    return page.redirect(f"{BASE}/documents", f"Vous consultez maintenant le dossier {ins_of(wanted)}.")


@router.post(f"{BASE}/deconnexion")
async def logout(request: Request) -> Response:
    page, _form = await open_action(request)
    if not isinstance(page, Page):
        return page
    page.session.clear()
    return page.answer(RedirectResponse(f"{BASE}/connexion", status_code=303))


__all__ = ["router"]
