"""The FHIR route modules; each exposes ``router`` (``fhir_api.router.fhir_api_router()``). Adding a
transaction is one module and one line in ``ROUTERS`` (the CapabilityStatement follows by itself)."""

from fastapi import APIRouter

from fhir_api.routes import patient, patient_feed

ROUTERS: list[APIRouter] = [patient.router, patient_feed.router]

__all__ = ["ROUTERS"]
