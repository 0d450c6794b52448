"""The patient's notifications (first access of a professional, emergency access, new document, new
message), as the outbox holds them, for the patient himself or a minor's representative: the record must
be in the caller's reach (``record_settings.record_in_reach``), else nothing at all."""

from __future__ import annotations

from typing import Final

from xds_server.core.audit import PatientNotice
from xds_server.core.policy import AccessContext
from xds_server.wiring.record_settings import record_in_reach
from xds_server.wiring.services import Services, UnitOfWork

__all__ = ["MAX_NOTICES", "record_notices"]

MAX_NOTICES: Final = 200


def record_notices(
    services: Services, actor: AccessContext, work: UnitOfWork, patient_id: str, *, limit: int = MAX_NOTICES
) -> list[PatientNotice] | None:
    """The notices of ``patient_id``, newest first; None when the record is outside the caller's reach."""
    record = record_in_reach(services, actor, work, patient_id)
    if record is None or work.audit is None:
        return None
    return work.audit.notices(record.patient_id, limit=max(1, min(limit, MAX_NOTICES)))
