"""The FHIR route modules; each exposes ``router`` (``fhir_api.router.fhir_api_router()``). Adding a
transaction is one module and one line in ``ROUTERS`` (the CapabilityStatement follows by itself)."""

from fastapi import APIRouter

from fhir_api.routes import audit_event, patient, patient_feed, record_settings

ROUTERS: list[APIRouter] = [patient.router, patient_feed.router, audit_event.router, record_settings.router]

__all__ = ["ROUTERS"]
