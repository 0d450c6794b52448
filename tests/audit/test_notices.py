"""core.audit.notices_for: which notices a trace owes the patient (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime

from xds_server.core.audit import (
    AuditEntity,
    AuditOutcome,
    AuditRecord,
    ClientInfo,
    EntityRole,
    NoticeKind,
    notices_for,
)
from xds_server.core.policy import AccessContext, AccessMode, ActorKind
from xds_server.core.policy.record import INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX

PATIENT = "255081416802538^^^&1.2.250.1.213.1.4.8&ISO^NH"
DOCTOR = AccessContext(ActorKind.PROFESSIONAL, "810000000002", profession="10", structure_id="S1")


def record(
    actor: AccessContext | None = DOCTOR,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    documents: dict[str, tuple[str, ...]] | None = None,
) -> AuditRecord:
    docs = documents or {}
    return AuditRecord(
        event_id="urn:uuid:00000000-0000-4000-8000-000000000001",
        transaction="ITI-42",
        recorded=datetime(2026, 1, 2, tzinfo=UTC),
        outcome=outcome,
        outcome_description=None,
        actor=actor,
        client=ClientInfo(),
        observer="xds-server",
        patient_id=PATIENT,
        entities=tuple(AuditEntity(EntityRole.DOCUMENT, uid, labels) for uid, labels in docs.items()),
        created_documents=tuple(docs),
    )


def kinds(found: list[object]) -> list[str]:
    return [n.kind.value for n in found]  # type: ignore[attr-defined]


class TestNotices:
    def test_first_access_only_when_first(self) -> None:
        assert kinds(notices_for(record(), first_access=True, minor=False)) == [NoticeKind.FIRST_ACCESS]
        assert notices_for(record(), first_access=False, minor=False) == []

    def test_nothing_for_a_failure_or_a_non_professional(self) -> None:
        failed = record(outcome=AuditOutcome.SERIOUS_FAILURE, documents={"1.2": ()})
        assert notices_for(failed, first_access=True, minor=False) == []
        patient = AccessContext(ActorKind.PATIENT, PATIENT, patient_ins=PATIENT)
        assert notices_for(record(actor=patient, documents={"1.2": ()}), first_access=True, minor=False) == []

    def test_every_emergency_access_with_mode_and_reason(self) -> None:
        urgent = AccessContext(
            ActorKind.PROFESSIONAL, "810000000002", access_mode=AccessMode.REGULATION, reason="appel au 15"
        )
        found = notices_for(record(actor=urgent), first_access=False, minor=False)
        assert kinds(found) == [NoticeKind.EMERGENCY_ACCESS]
        assert (found[0].facts["mode"], found[0].facts["reason"]) == ("regulation", "appel au 15")

    def test_new_documents_except_hidden_ones(self) -> None:
        docs = {
            "1.1": ("N^^2.16.840.1.113883.5.25",),
            "1.2": (INVISIBLE_PATIENT,),
            "1.3": (INVISIBLE_REPRESENTANTS_LEGAUX,),
        }
        adult = notices_for(record(documents=docs), first_access=False, minor=False)
        assert [n.facts["document"] for n in adult] == ["1.1", "1.3"]
        minor = notices_for(
            record(documents=docs), first_access=False, minor=True
        )  # the parents read his mail
        assert [n.facts["document"] for n in minor] == ["1.1"]
