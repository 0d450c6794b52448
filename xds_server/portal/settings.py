"""Professionnels and Paramètres: the record's settings, changed through ``wiring.record_settings`` and
``wiring.professionals`` (the functions the FHIR Consent, Patient PATCH and Practitioner routes call), in
the caller's unit of work so each change is traced in its transaction (PATIENT-API, the setting it touched
noted as ``Consent/<id>`` exactly as over FHIR). A record outside the caller's reach is refused like an
unknown one. Closing and opposing the profile take a confirmation step that spells out the consequences.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from xds_server.core.audit import PATIENT_API
from xds_server.core.errors import XdsError
from xds_server.core.policy import RecordSettings
from xds_server.core.ports import PatientState
from xds_server.core.professionals import Professional, ProfessionalSearch, SearchError
from xds_server.portal.views import local
from xds_server.portal.web import BASE, Page, Refused, forbidden, open_action, open_page, portal_router
from xds_server.wiring import UnitOfWork
from xds_server.wiring.professionals import Matches, search_professionals
from xds_server.wiring.record_settings import (
    SettingsChange,
    apply_change,
    checked_email,
    contact_of,
    record_in_reach,
    record_professionals,
    set_contact,
    set_opposition,
    set_record_state,
)

router = portal_router()

_IDNPS: Final = re.compile(r"^[0-9A-Za-z]{6,20}$")
_STATES: Final = {
    PatientState.CREATED: "créé, pas encore activé",
    PatientState.ACTIVATED: "actif",
    PatientState.CLOSED: "clôturé",
    PatientState.OPPOSED: "opposé (le dossier n'existe plus pour les professionnels)",
}


@dataclass(frozen=True, slots=True)
class ProRow:
    national_id: str
    name: str
    profession: str
    communes: str
    last: str = ""
    count: int = 0
    authorised: bool = False
    blocked: bool = False
    administrator: bool = False
    traitant: bool = False


def _row(national_id: str, found: Professional | None, record: RecordSettings, **more: Any) -> ProRow:
    return ProRow(
        national_id=national_id,
        name=found.display_name if found else "Professionnel absent de l'annuaire",
        profession=found.profession if found else "",
        communes=", ".join(found.communes) if found else "",
        authorised=national_id in record.authorised,
        blocked=national_id in record.blocked,
        administrator=national_id in record.administrators,
        traitant=national_id == record.medecin_traitant,
        **more,
    )


def _record(page: Page, work: UnitOfWork) -> RecordSettings:
    assert page.actor is not None and page.record is not None
    record = record_in_reach(page.services, page.actor, work, page.record)
    if record is None:
        raise Refused("this record is outside the caller's reach")
    return record


def _professionals(page: Page, search: ProfessionalSearch | None) -> dict[str, Any]:
    with page.traced(PATIENT_API) as services, services.for_reading().transaction() as work:
        record = _record(page, work)
        known = record_professionals(work, record)
        matches: Matches | None = None
        if search is not None:
            assert page.actor is not None
            matches = search_professionals(page.actor, work, search)
    d = known.directory
    accessed = [_row(n, d.get(n), record, last=local(last), count=c) for n, last, c in known.accessed]
    authorised = [_row(n, d.get(n), record) for n in sorted(record.authorised)]
    blocked = [_row(n, d.get(n), record) for n in sorted(record.blocked)]
    administrators = [_row(n, d.get(n), record) for n in sorted(record.administrators)]
    found = [_row(p.national_id, p, record) for p in matches.professionals] if matches else None
    return {
        "accessed": accessed,
        "authorised": authorised,
        "blocked": blocked,
        "administrators": administrators,
        "traitant": _row(record.medecin_traitant, d.get(record.medecin_traitant), record)
        if record.medecin_traitant
        else None,
        "found": found,
        "more": bool(matches and matches.more),
    }


def _search_of(nom: str, lieu: str) -> ProfessionalSearch:
    place = lieu.strip()
    if re.fullmatch(r"\d{5}", place):
        return ProfessionalSearch.of(nom, None, place)
    return ProfessionalSearch.of(nom, place or None, None)


_SEARCH_ERRORS: Final = {
    "name": "Donnez au moins deux lettres du nom du professionnel.",
    "give the commune": "Donnez la commune ou le code postal où il exerce.",
    "postal code": "Le code postal s'écrit avec cinq chiffres.",
    "commune": "La commune doit contenir des lettres.",
}


@router.get(f"{BASE}/professionnels")
async def professionals(request: Request) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    nom = request.query_params.get("nom", "").strip()
    lieu = request.query_params.get("lieu", "").strip()
    search = None
    search_error = None
    if nom or lieu:
        try:
            search = _search_of(nom, lieu)
        except SearchError as error:
            text = str(error)
            search_error = next((v for k, v in _SEARCH_ERRORS.items() if text.startswith(k)), text)
    try:
        values = await run_in_threadpool(_professionals, page, search)
    except Refused:
        return forbidden(page, "Ce dossier ne vous est pas accessible.")
    return page.render(
        "professionnels.html",
        title="Professionnels de santé",
        section="professionnels",
        nom=nom,
        lieu=lieu,
        search_error=search_error,
        **values,
    )


def _change(page: Page, act: Callable[[UnitOfWork, RecordSettings], None]) -> None:
    with page.traced(PATIENT_API) as services, services.transaction() as work:
        act(work, _record(page, work))


def _apply(page: Page, change: SettingsChange, back: str, done: str) -> Response:
    try:
        _change(page, lambda work, record: apply_change(work, record, change))
    except Refused:
        return forbidden(page, "Ce dossier ne vous est pas accessible.")
    except XdsError:
        return page.redirect(back, "Ce changement n'a pas pu être enregistré.", error=True)
    return page.redirect(back, done)


_PRO_ACTIONS: Final = {
    "bloquer": ("blocked", True, "Le professionnel est bloqué : il ne peut plus accéder à votre dossier."),
    "debloquer": ("blocked", False, "Le professionnel est débloqué."),
    "revoquer": ("authorised", False, "L'autorisation de ce professionnel est révoquée."),
}


@router.post(f"{BASE}/professionnels/{{action}}")
async def professional_action(request: Request, action: str) -> Response:
    page, form = await open_action(request)
    if not isinstance(page, Page):
        return page
    back = f"{BASE}/professionnels"
    national_id = form.get("idnps", "").strip()
    if not _IDNPS.fullmatch(national_id):
        return page.redirect(back, "Identifiant de professionnel invalide.", error=True)
    if action == "administrateur":
        add = form.get("action") != "retirer"
        done = (
            "Médecin administrateur nommé."
            if add
            else "Ce médecin n'est plus administrateur de votre dossier."
        )
        change = SettingsChange("administrator", national_id, add=add)
        return await run_in_threadpool(_apply, page, change, back, done)
    known = _PRO_ACTIONS.get(action)
    if known is None:
        return page.render("erreur.html", status=404, title="Page introuvable", message="Action inconnue.")
    relation, add, done = known
    return await run_in_threadpool(_apply, page, SettingsChange(relation, national_id, add=add), back, done)


# ---- Paramètres -------------------------------------------------------------------------------------------


def _settings(page: Page) -> dict[str, Any]:
    with page.traced(PATIENT_API) as services, services.for_reading().transaction() as work:
        record = _record(page, work)
        email = contact_of(work, record)
    return {
        "samu": record.samu_allowed,
        "break_glass": record.break_glass_allowed,
        "email": email or "",
        "state": record.state.value,
        "state_label": _STATES.get(record.state, record.state.value),
        "minor": record.minor,
    }


@router.get(f"{BASE}/parametres")
async def settings_page(request: Request) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    try:
        values = await run_in_threadpool(_settings, page)
    except Refused:
        return forbidden(page, "Ce dossier ne vous est pas accessible.")
    return page.render("parametres.html", title="Paramètres", section="parametres", **values)


@router.post(f"{BASE}/parametres/urgence")
async def emergency(request: Request) -> Response:
    page, form = await open_action(request)
    if not isinstance(page, Page):
        return page
    back = f"{BASE}/parametres"
    samu, glass = form.get("samu"), form.get("bris_de_glace")
    if samu not in ("oui", "non") or glass not in ("oui", "non"):
        return page.redirect(back, "Choisissez « oui » ou « non » pour chaque accès d'urgence.", error=True)

    def act(work: UnitOfWork, record: RecordSettings) -> None:
        apply_change(work, record, SettingsChange("samu", allow=samu == "oui"))
        apply_change(work, record, SettingsChange("break_glass", allow=glass == "oui"))

    return await run_in_threadpool(_act, page, act, back, "Vos choix d'accès en urgence sont enregistrés.")


def _act(page: Page, act: Callable[[UnitOfWork, RecordSettings], None], back: str, done: str) -> Response:
    try:
        _change(page, act)
    except Refused:
        return forbidden(page, "Ce dossier ne vous est pas accessible.")
    except XdsError:
        return page.redirect(back, "Ce changement n'a pas pu être enregistré.", error=True)
    return page.redirect(back, done)


@router.post(f"{BASE}/parametres/email")
async def email(request: Request) -> Response:
    page, form = await open_action(request)
    if not isinstance(page, Page):
        return page
    back = f"{BASE}/parametres"
    try:
        address = checked_email(form.get("email"))
    except ValueError:
        return page.redirect(back, "Cette adresse e-mail n'est pas valide.", error=True)
    done = "Votre adresse e-mail est enregistrée." if address else "Votre adresse e-mail est supprimée."
    return await run_in_threadpool(
        _act, page, lambda work, record: set_contact(work, record, address), back, done
    )


#: what closing or opposing means, spelled out on the confirmation page (dmp-rules.md)
CONSEQUENCES: Final = {
    "cloture": (
        "Clôturer mon profil",
        [
            "Les professionnels de santé ne pourront plus consulter votre dossier ni y ajouter de documents.",
            "Votre messagerie Mon espace santé sera fermée : les professionnels ne pourront plus vous "
            "écrire.",
            "Vos documents et votre historique sont conservés : vous pourrez réactiver votre profil.",
        ],
        "Confirmer la clôture",
    ),
    "opposition": (
        "M'opposer à mon profil",
        [
            "Votre dossier n'existera plus pour les professionnels de santé : aucune consultation, même en "
            "urgence, et aucun dépôt de document.",
            "Votre messagerie Mon espace santé n'existera plus pour les professionnels.",
            "Rien n'est effacé : vous gardez l'accès à votre historique et à vos paramètres, et vous pouvez "
            "retirer votre opposition pour retrouver votre dossier tel qu'il était.",
        ],
        "Confirmer l'opposition",
    ),
}


@router.get(f"{BASE}/parametres/{{step}}")
async def confirm_page(request: Request, step: str) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    if step not in CONSEQUENCES:
        return page.render("erreur.html", status=404, title="Page introuvable", message="Page inconnue.")
    title, consequences, button = CONSEQUENCES[step]
    return page.render(
        "confirmation.html",
        title=title,
        section="parametres",
        step=step,
        consequences=consequences,
        button=button,
    )


_DONE: Final = {
    "cloture": "Votre profil est clôturé.",
    "opposition": "Votre opposition est enregistrée : votre dossier n'existe plus pour les professionnels.",
    "reactiver": "Votre profil est de nouveau actif.",
}


@router.post(f"{BASE}/parametres/{{step}}")
async def state_change(request: Request, step: str) -> Response:
    page, form = await open_action(request)
    if not isinstance(page, Page):
        return page
    back = f"{BASE}/parametres"
    if step in CONSEQUENCES and form.get("confirmer") != "oui":
        return page.redirect(
            f"{BASE}/parametres/{step}", "Cochez la case pour confirmer votre choix.", error=True
        )

    def act(work: UnitOfWork, record: RecordSettings) -> None:
        if step == "cloture":
            set_record_state(work, record, PatientState.CLOSED)
        elif step == "opposition":
            set_opposition(work, record, opposed=True)
        elif record.state is PatientState.OPPOSED:
            set_opposition(work, record, opposed=False)
        else:
            set_record_state(work, record, PatientState.ACTIVATED)

    if step not in _DONE:
        return page.render("erreur.html", status=404, title="Page introuvable", message="Action inconnue.")
    return await run_in_threadpool(_act, page, act, back, _DONE[step])


__all__ = ["router"]
