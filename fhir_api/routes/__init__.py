"""The FHIR route modules; each exposes ``router`` (``fhir_api.router.fhir_api_router()``). Adding a
transaction is one module and one line in ``ROUTERS`` (the CapabilityStatement follows by itself)."""

from fastapi import APIRouter

from fhir_api.routes import (
    audit_event,
    binary,
    communication,
    document_reference,
    lists,
    metadata_update,
    patient,
    patient_feed,
    practitioner,
    provide,
    record_settings,
)

ROUTERS: list[APIRouter] = [
    patient.router,
    patient_feed.router,
    document_reference.router,
    lists.router,
    binary.router,
    provide.router,
    metadata_update.router,
    audit_event.router,
    record_settings.router,
    practitioner.router,
    communication.router,
]

__all__ = ["ROUTERS"]
