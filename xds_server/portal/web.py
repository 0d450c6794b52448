"""What every portal page shares: the session, who is logged in and on which record, the audit trace of
the request, the templates and the answers (a page, a 303 back with its confirmation, a 403).

Theory of operation. A page handler calls ``open_page`` (or ``open_action`` for a POST, which checks the
CSRF token first): the session cookie gives the person (his INS) and the record he looks at; the records he
may act on are recomputed on every request (``wiring.record_settings.person_records``: his own, and the
minors he represents while they are minors), so a representative whose child turned 18 loses that record
at once. The actor is the one the FHIR patient API would see for the same person (a patient token, or a
representative's): every read and change then goes through the same wiring and mailbox functions as the
FHIR routes, under the same policy.

Each request that reads or changes the record is traced exactly like its FHIR twin (``traced``: the
``RequestAudit`` of wiring.audit with the same transaction kind: ITI-67/68 for documents, ITI-81 for the
trail, PATIENT-API for settings and masking, PATIENT-MAILBOX for messages). A write's trace commits in the
write's own transaction; a read's is committed before the page is sent; when the trace cannot be written
the page is an error (fail closed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from xds_server.core.audit import AuditOutcome, ClientInfo
from xds_server.core.errors import XdsError
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.policy import AccessContext
from xds_server.identity import TrustStore
from xds_server.portal.oidc import OidcClient
from xds_server.portal.session import CSRF_FIELD, Session, SessionCodec, csrf_valid, portal_secret
from xds_server.portal.views import dtm, ins_of, when
from xds_server.wiring import Services
from xds_server.wiring.audit import AuditUnavailable, RequestAudit
from xds_server.wiring.record_settings import PersonRecord, person_actor, person_records

log = logging.getLogger(__name__)

BASE: Final = "/espace-sante"
#: the name the portal's traces give as the client application (where a professional's LPS name goes)
CLIENT_NAME: Final = "Mon espace santé"
ISSUER: Final = "xds-server:espace-sante"

#: Security headers of every portal answer: no script at all, nothing framed from elsewhere.
HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; object-src 'self'; frame-src 'self'; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

NAV: Final = (
    ("documents", "Documents"),
    ("historique", "Historique"),
    ("notifications", "Notifications"),
    ("professionnels", "Professionnels"),
    ("parametres", "Paramètres"),
    ("messages", "Messages"),
)


class Refused(Exception):
    """An action or page the rules refuse (the message is shown; the trace says 8, serious failure)."""


def _templates_dir() -> Path:
    return Path(str(resources.files("xds_server.portal").joinpath("templates")))


@dataclass(slots=True)
class Portal:
    """Built once by ``mount_portal``; kept in ``app.state.portal``."""

    services: Services
    trust: TrustStore
    codec: SessionCodec
    oidc: OidcClient
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(_templates_dir()),
            autoescape=select_autoescape(("html",), default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["ins"] = ins_of
        self.env.filters["dtm"] = dtm
        self.env.filters["when"] = when

    @classmethod
    def build(cls, services: Services, trust: TrustStore) -> Portal:
        settings = services.settings
        codec = SessionCodec(portal_secret(settings), settings.portal_session_hours * 3600)
        return cls(services, trust, codec, OidcClient(settings))

    @property
    def dev_login(self) -> bool:
        """The demo login: only while the test authority is trusted, never under a production profile."""
        return self.trust.dev_authority_trusted() and not self.services.profile.production


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def canonical(services: Services, value: str) -> str | None:
    try:
        return canonical_patient_id(value.strip(), services.profile)
    except (IdentifierError, ValueError):
        return None


@dataclass(slots=True)
class Page:
    """One request: the portal, its session, and (logged in) the person, his records and his actor."""

    request: Request
    portal: Portal
    session: Session
    records: list[PersonRecord] = field(default_factory=list)
    actor: AccessContext | None = None

    @property
    def services(self) -> Services:
        return self.portal.services

    @property
    def record(self) -> str | None:
        return self.actor.patient_ins if self.actor is not None else None

    def render(self, template: str, *, status: int = 200, **values: Any) -> Response:
        html = self.portal.env.get_template(template).render(
            csrf_field=CSRF_FIELD,
            csrf_token=self.session.csrf,
            flash=self.session.pop_flash(),
            actor=self.actor,
            records=self.records,
            current=self.record,
            person=self.session.person,
            person_name=self.session.data.get("name"),
            nav=NAV,
            base=BASE,
            **values,
        )
        return self.answer(HTMLResponse(html, status_code=status))

    def answer(self, response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        self.portal.codec.save(self.request, response, self.session)
        return response

    def redirect(self, path: str, message: str | None = None, *, error: bool = False) -> Response:
        """303 to ``path`` (a portal path) with a confirmation shown there."""
        if message:
            self.session.flash(message, error=error)
        return self.answer(RedirectResponse(path, status_code=303))

    @contextmanager
    def traced(self, transaction: str) -> Iterator[Services]:
        """The services bound to this request's trace (see the module docstring)."""
        client = ClientInfo(
            lps_name=CLIENT_NAME,
            address=self.request.client.host if self.request.client is not None else None,
        )
        audit = RequestAudit(self.services, transaction, self.actor, client)
        try:
            yield audit.bind(self.services)
        except (XdsError, Refused) as error:
            audit.finish(AuditOutcome.SERIOUS_FAILURE, str(error)[:2000] or None)
            raise
        except AuditUnavailable:
            raise
        except Exception as error:
            audit.finish(AuditOutcome.MAJOR_FAILURE, error.__class__.__name__)
            raise
        audit.finish(AuditOutcome.SUCCESS)


def _load(request: Request) -> Page:
    portal = portal_of(request)
    return Page(request, portal, portal.codec.load(request))


def _logged_in(page: Page) -> bool:
    """Resolve the person's records and actor; False (and the session emptied) when he has none now."""
    person = page.session.person
    if person is None:
        return False
    services = page.services
    with services.for_reading().transaction() as work:
        page.records = person_records(services, work, person)
    current = page.session.record
    if not any(r.patient_id == current for r in page.records):
        current = page.records[0].patient_id if page.records else None
        page.session.set(record=current)
    if current is None:
        page.session.clear()
        return False
    page.actor = person_actor(
        person, page.records, current, name=page.session.data.get("name"), issuer=ISSUER
    )
    return page.actor is not None


def open_public(request: Request) -> Page:
    """A page anyone may see (the login page): the session, logged in or not."""
    page = _load(request)
    _logged_in(page)
    return page


def open_page(request: Request) -> Page | Response:
    """A logged-in page, or the 303 to the login page."""
    page = _load(request)
    if not _logged_in(page):
        return page.redirect(f"{BASE}/connexion")
    return page


EXPIRED: Final = "Le formulaire a expiré ou ne vient pas de ce site : rechargez la page."


def forbidden(page: Page, message: str) -> Response:
    return page.render("erreur.html", status=403, title="Action refusée", message=message)


async def open_action(request: Request) -> tuple[Page | Response, dict[str, str]]:
    """A POST: the form, the CSRF check (403 on failure, nothing done), then the login check."""
    form = await request.form()
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    page = _load(request)
    if not csrf_valid(request, page.session, values.get(CSRF_FIELD)):
        _logged_in(page)
        return forbidden(
            page, "Le formulaire a expiré ou ne vient pas de ce site : rechargez la page."
        ), values
    if not _logged_in(page):
        return page.redirect(f"{BASE}/connexion"), values
    return page, values


class PortalRoute(APIRoute):
    """A portal route whose request the database refused (a value it cannot hold, a NUL byte on
    PostgreSQL ...) answers an error page (400), never a server error; the trace of the request, when one
    was opened, already says it failed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def portal_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except XdsError:
                log.info("portal %s %s refused by the registry", request.method, request.url.path)
                page = _load(request)
                _logged_in(page)
                return page.render(
                    "erreur.html",
                    status=400,
                    title="Demande impossible",
                    message="Cette demande n'a pas pu aboutir : vérifiez ce que vous avez saisi.",
                )

        return portal_handler


def portal_router() -> APIRouter:
    return APIRouter(route_class=PortalRoute)


__all__ = [
    "BASE",
    "Page",
    "Portal",
    "PortalRoute",
    "Refused",
    "canonical",
    "forbidden",
    "open_action",
    "open_page",
    "open_public",
    "portal_of",
    "portal_router",
]
