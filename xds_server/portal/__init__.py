"""« Mon espace santé »: the patient's web portal on ``/espace-sante/`` (issue 17).

Server-rendered pages (Jinja2 templates, plain HTML forms: every action works without JavaScript, and the
pages carry none), French, accessible (labels, skip link, visible focus, AA contrast, one stylesheet). It is
a face of the server like the FHIR API: its pages call the same wiring and mailbox use cases as the FHIR
patient routes, under the same policy, and trace each request the same way (web.py). Modules:

* ``web``: session, the person and his records, the actor, the audit trace, rendering;
* ``session``: the signed cookie and the CSRF check; ``oidc``: the OpenID Connect login;
* ``login``: login (dev, OIDC), record switch, logout; ``documents``: the Documents pages;
* ``cda``: CDA rendering through a locked-down XSLT.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from xds_server.identity import TrustStore
from xds_server.portal import documents, login, messages, settings, trail
from xds_server.portal.web import BASE, Portal
from xds_server.wiring import Services


def mount_portal(app: FastAPI, services: Services, trust: TrustStore) -> Portal:
    """Add the portal's routes and its stylesheet to ``app`` (``app.state.portal``)."""
    portal = Portal.build(services, trust)
    app.state.portal = portal
    for module in (login, documents, trail, settings, messages):
        app.include_router(module.router, include_in_schema=False)
    static = Path(__file__).with_name("static")
    app.mount(f"{BASE}/static", StaticFiles(directory=static), name="espace-sante-static")
    return portal


__all__ = ["Portal", "mount_portal"]
