"""Historique (the access trail as the patient sees it) and Notifications.

Historique: ``wiring.trail.search_trail`` (the same function as ``GET /fhir/AuditEvent``: the caller's
scope, the patient's view without the traces of documents hidden from him), narrowed to the record shown,
then ``audit.patient_view.for_patient`` as the FHIR face does; each trace becomes one row (who, when,
profession, what, emergency mode and reason). Traced as ITI-81. Notifications: ``wiring.notifications``
(the record must be in reach), the texts of the e-mails (``audit.dispatch.notice_text``). Traced as
PATIENT-API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from xds_server.audit.dispatch import notice_text
from xds_server.audit.patient_view import for_patient
from xds_server.core.audit import PATIENT_API, TrailQuery
from xds_server.portal.views import french_zone, local, profession_name
from xds_server.portal.web import BASE, Page, Refused, open_page, portal_router
from xds_server.wiring.notifications import record_notices
from xds_server.wiring.trail import search_trail

router = portal_router()

#: the most traces one Historique page reads (newest first); filters narrow within them
MAX_ROWS: Final = 500
_WHAT: Final = {
    "ITI-18": "a consulté la liste de vos documents",
    "ITI-67": "a consulté la liste de vos documents",
    "ITI-43": "a lu un document",
    "ITI-68": "a lu un document",
    "ITI-41": "a ajouté un document",
    "ITI-42": "a ajouté un document",
    "ITI-65": "a ajouté un document",
    "ITI-57": "a modifié un document (masquage ou métadonnées)",
    "ITI-62": "a supprimé un document",
    "ITI-66": "a consulté les classeurs de votre dossier",
    "ITI-78": "a consulté votre identité",
}
_MODES: Final = {
    "break_glass": "accès en urgence (bris de glace)",
    "regulation": "accès par le centre de régulation (SAMU)",
}
_PROFESSION_SYSTEM: Final = "urn:oid:1.2.250.1.71.1.2.7"
_MODE_SYSTEM: Final = "urn:xds-server:access-mode"


@dataclass(frozen=True, slots=True)
class TrailRow:
    when: str
    who: str
    national_id: str
    profession: str
    what: str
    emergency: bool
    mode: str
    reason: str


def _row(resource: dict[str, Any]) -> TrailRow:
    agents = resource.get("agent", [])
    user: dict[str, Any] = next((a for a in agents if a.get("requestor")), {})
    who = user.get("who", {})
    profession = ""
    for role in user.get("role", []):
        for coding in role.get("coding", []):
            if coding.get("system") == _PROFESSION_SYSTEM:
                code = str(coding.get("code", ""))
                profession = profession_name(code)
    purposes = resource.get("purposeOfEvent", [])
    codes = {c.get("code") for p in purposes for c in p.get("coding", [])}
    mode = next(
        (c.get("code") for p in purposes for c in p.get("coding", []) if c.get("system") == _MODE_SYSTEM), ""
    )
    reason = next((p.get("text") for p in purposes if p.get("text")), "")
    subtype = str((resource.get("subtype") or [{}])[-1].get("code", ""))
    recorded = datetime.fromisoformat(str(resource.get("recorded", "")).replace("Z", "+00:00"))
    return TrailRow(
        when=local(recorded),
        who=str(who.get("display") or user.get("name") or "Professionnel"),
        national_id=str((who.get("identifier") or {}).get("value", "")),
        profession=profession,
        what=_WHAT.get(subtype, f"a accédé à votre dossier ({subtype})"),
        emergency="ETREAT" in codes,
        mode=_MODES.get(str(mode), "accès en urgence") if "ETREAT" in codes else "",
        reason=str(reason),
    )


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip()) if value.strip() else None
    except ValueError:
        return None


def _start(day: date | None, *, end: bool = False) -> datetime | None:
    if day is None:
        return None
    moment = datetime(day.year, day.month, day.day, tzinfo=french_zone())
    return moment + timedelta(days=1) if end else moment


def _rows(page: Page, since: date | None, until: date | None, agent: str) -> list[TrailRow] | None:
    assert page.actor is not None and page.record is not None
    query = TrailQuery(
        since=_start(since), until=_start(until, end=True), agents=(agent,) if agent.isdigit() else ()
    )
    try:
        with page.traced("ITI-81") as services, services.for_reading().transaction() as work:
            found = search_trail(services, page.actor, work, query, {page.record}, offset=0, limit=MAX_ROWS)
            if found is None:
                raise Refused("this actor may not read the access trail")  # traced as refused
    except Refused:
        return None
    resources = [t.json() for t in found.traces]
    if found.patient_view:
        resources = [for_patient(r) for r in resources]
    return [_row(r) for r in resources]


@router.get(f"{BASE}/historique")
async def history(request: Request) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    params = request.query_params
    since, until = _day(params.get("depuis", "")), _day(params.get("jusqua", ""))
    who = params.get("professionnel", "").strip()
    emergency_only = params.get("urgence") == "oui"
    rows = await run_in_threadpool(_rows, page, since, until, who)
    shown = [
        r
        for r in rows or []
        if (not who or who.isdigit() or who.lower() in r.who.lower() or who.lower() in r.profession.lower())
        and (not emergency_only or r.emergency)
    ]
    return page.render(
        "historique.html",
        title="Historique des accès",
        section="historique",
        rows=shown,
        refused=rows is None,
        depuis=params.get("depuis", ""),
        jusqua=params.get("jusqua", ""),
        professionnel=who,
        urgence=emergency_only,
        capped=rows is not None and len(rows) >= MAX_ROWS,
        max_rows=MAX_ROWS,
    )


@dataclass(frozen=True, slots=True)
class NoticeRow:
    when: str
    subject: str
    text: str
    kind: str
    delivery: str


_DELIVERY: Final = {
    "sent": "envoyée par e-mail",
    "no_address": "pas d'adresse e-mail : elle figurera dans votre relevé annuel",
    "pending": "en attente d'envoi",
    "sending": "en cours d'envoi",
    "failed": "l'envoi par e-mail a échoué",
    "uncertain": "envoi incertain",
}


def _notices(page: Page) -> list[NoticeRow] | None:
    assert page.actor is not None and page.record is not None
    try:
        with page.traced(PATIENT_API) as services, services.for_reading().transaction() as work:
            found = record_notices(services, page.actor, work, page.record)
            if found is None:
                raise Refused("this record is outside the caller's reach")  # traced as refused
    except Refused:
        return None
    rows = []
    for notice in found:
        subject, text = notice_text(notice.kind, notice.facts)
        rows.append(
            NoticeRow(local(notice.created_at), subject, text, notice.kind, _DELIVERY.get(notice.state, ""))
        )
    return rows


@router.get(f"{BASE}/notifications")
async def notifications(request: Request) -> Response:
    page = open_page(request)
    if not isinstance(page, Page):
        return page
    rows = await run_in_threadpool(_notices, page)
    return page.render(
        "notifications.html",
        title="Notifications",
        section="notifications",
        rows=rows or [],
        refused=rows is None,
    )


__all__ = ["router"]
