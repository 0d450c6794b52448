"""``GET /fhir/AuditEvent`` (and ``POST /fhir/AuditEvent/_search``): the access trail, ITI-81 style.

Parameters: ``patient`` (Patient/ID), ``patient.identifier`` (SYSTEM|VALUE), ``date`` (``ge``/``gt``/``le``/
``lt``/``eq`` prefixes, repeatable: AND), ``type`` and ``subtype`` (token, code part: ``110112``, ``ITI-18``),
``outcome`` (0, 4, 8, 12), ``agent`` (the user's national id, token value part), ``entity`` (an entity
identifier: a document uniqueId, a submission set uniqueId ...), ``_count`` and ``_page``. Comma = OR.

Who reads what is ``wiring.trail.trail_scope``: an auditor everything, a patient his own record as he sees
it, a representative the minors he represents; a professional is refused (403); no token 401. A search
naming a patient outside the caller's scope, or an identifier that names no patient, matches nothing: an
empty Bundle, the same as a patient whose trail is empty, never a hint. Patients get the traces without
their technical entities (``audit.patient_view.for_patient``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Response
from starlette.concurrency import run_in_threadpool

from fhir_api.bundles import search_url, searchset
from fhir_api.formats import fhir_response
from fhir_api.mapping.patient import cx_of_identifier, cx_of_logical_id
from fhir_api.outcome import FhirError
from fhir_api.router import Fhir, FhirInteraction, FhirRequest, SearchParam, fhir_api_router
from fhir_api.search import SearchRequest, Token, or_values, search_request
from xds_server.audit.patient_view import for_patient
from xds_server.core.audit import TrailQuery
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.wiring.trail import search_trail

router = fhir_api_router()

BALP_ARR = "https://profiles.ihe.net/ITI/BALP/CapabilityStatement/IHE.BasicAudit.AuditRecordRepository"
SEARCH_PARAMS = (
    SearchParam("patient", "reference", "Patient/ID: the traces of this patient's record"),
    SearchParam(
        "patient.identifier", "token", "SYSTEM|VALUE of the patient (INS: urn:oid:1.2.250.1.213.1.4.8|NIR)"
    ),
    SearchParam("date", "date", "AuditEvent.recorded (ge, gt, le, lt, eq)"),
    SearchParam("type", "token", "AuditEvent.type code (110106, 110107, 110110, 110112, rest)"),
    SearchParam("subtype", "token", "IHE transaction (ITI-18, ITI-41 ...)"),
    SearchParam("outcome", "token", "0 success, 4 minor, 8 serious, 12 major failure"),
    SearchParam("agent", "token", "the user's national id (IDNPS, INS)"),
    SearchParam("entity", "token", "an entity identifier (document uniqueId, submission set uniqueId)"),
)
_INTERACTION = FhirInteraction(
    "AuditEvent", "search-type", search=SEARCH_PARAMS, instantiates=(BALP_ARR,), audit="ITI-81"
)


def _codes(search: SearchRequest, name: str) -> tuple[str, ...]:
    """Token values (code part) of ``name``: OR within one occurrence; several occurrences must all hold,
    which for these single-valued columns is their intersection."""
    selected: set[str] | None = None
    for _modifier, value in search.values(name):
        codes = {Token.parse(v).code.strip() for v in or_values(value) if v.strip()}
        selected = codes if selected is None else selected & codes
    if selected is None:
        return ()
    return tuple(sorted(selected)) or ("\x00no-match",)


def _instant(value: str) -> tuple[datetime, datetime]:
    """The interval a date(time) value denotes: a day, or an instant (to the second)."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError.invalid(f"date {value!r} is not a FHIR date or dateTime") from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment, moment + timedelta(seconds=1)


def _dates(search: SearchRequest) -> tuple[datetime | None, datetime | None]:
    since: datetime | None = None
    until: datetime | None = None
    for _modifier, value in search.values("date"):
        prefix, rest = (
            (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", value)
        )
        start, end = _instant(rest.strip())
        low = {"ge": start, "gt": end, "eq": start}.get(prefix)
        high = {"le": end, "lt": start, "eq": end}.get(prefix)
        if low is not None:
            since = low if since is None else max(since, low)
        if high is not None:
            until = high if until is None else min(until, high)
    return since, until


def _cx_of_reference(value: str) -> str:
    return cx_of_logical_id(value.strip().removeprefix("Patient/"))


def _cx_of_token(value: str) -> str:
    token = Token.parse(value)
    return cx_of_identifier(token.system or "", token.code)


def _named_patients(fhir: FhirRequest, search: SearchRequest) -> set[str] | None:
    """Canonical patients the search names (None: none named). A value naming no acceptable patient
    contributes nothing, so the search matches nothing (no error that would tell ids apart)."""
    selected: set[str] | None = None
    parsers: tuple[tuple[str, Callable[[str], str]], ...] = (
        ("patient", _cx_of_reference),
        ("patient.identifier", _cx_of_token),
    )
    for name, to_cx in parsers:
        for _modifier, value in search.values(name):
            names: set[str] = set()
            for alternative in or_values(value):
                try:
                    names.add(canonical_patient_id(to_cx(alternative), fhir.services.profile))
                except IdentifierError:
                    continue
            selected = names if selected is None else selected & names
    return selected


def _outcomes(search: SearchRequest) -> tuple[int, ...]:
    codes = _codes(search, "outcome")
    return tuple(int(c) if c.isdigit() else -1 for c in codes)


def _run(fhir: FhirRequest, search: SearchRequest) -> dict[str, Any]:
    actor = fhir.authenticated
    count = search.count()
    page_text = search.first("_page") or "1"
    if not page_text.isdigit() or int(page_text) < 1:
        raise FhirError.invalid("_page must be a positive number")
    page = int(page_text)
    since, until = _dates(search)
    named = _named_patients(fhir, search)
    query = TrailQuery(
        since=since,
        until=until,
        transactions=_codes(search, "subtype"),
        types=_codes(search, "type"),
        outcomes=_outcomes(search),
        agents=_codes(search, "agent"),
        entities=_codes(search, "entity"),
    )
    with fhir.services.for_reading().transaction() as work:
        found = search_trail(fhir.services, actor, work, query, named, offset=(page - 1) * count, limit=count)
    if found is None:
        raise FhirError.single(403, "forbidden", "this actor may not read the access trail")
    traces, more = found.traces, found.more
    resources = [t.json() for t in traces]
    if found.patient_view:
        resources = [for_patient(r) for r in resources]
    pairs = [(k, v) for k, v in search.pairs() if k != "_page"]
    self_link = search_url(fhir.base, "AuditEvent", [*pairs, ("_page", str(page))])
    next_link = search_url(fhir.base, "AuditEvent", [*pairs, ("_page", str(page + 1))]) if more else None
    previous = search_url(fhir.base, "AuditEvent", [*pairs, ("_page", str(page - 1))]) if page > 1 else None
    return searchset(
        fhir.base,
        resources,
        self_link=self_link,
        next_link=next_link,
        previous_link=previous,
        warnings=search.warnings,
    )


async def _search(fhir: FhirRequest, search: SearchRequest) -> Response:
    search.only_known([p.name for p in SEARCH_PARAMS])
    bundle = await run_in_threadpool(_run, fhir, search)
    return fhir_response(bundle, fhir.format)


@router.get("/AuditEvent", summary="The access trail (ITI-81 style)", openapi_extra=_INTERACTION.extra())
async def search_audit_events(
    fhir: Fhir, search: Annotated[SearchRequest, Depends(search_request)]
) -> Response:
    return await _search(fhir, search)


@router.post(
    "/AuditEvent/_search", summary="The access trail (form body)", openapi_extra=_INTERACTION.extra()
)
async def search_audit_events_post(
    fhir: Fhir, search: Annotated[SearchRequest, Depends(search_request)]
) -> Response:
    return await _search(fhir, search)


__all__ = ["router"]
