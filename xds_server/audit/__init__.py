"""The access trail's adapters: FHIR R4 AuditEvent rendering (IHE BALP), the NDJSON export and ITI-20 FHIR
feed push, the patient notification dispatcher (SMTP) and the yearly statement (PDF)."""

from xds_server.audit.fhir import patient_identifier, render, render_json

__all__ = ["patient_identifier", "render", "render_json"]
