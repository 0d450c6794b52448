"""Who may read which part of the access trail (ITI-81 AuditEvent search), whatever the face.

Deny by default:
* an auditor (a ``system`` actor whose id is listed in ``XDS_AUDITORS``) reads every trace;
* a patient reads the trail of his own record only, as the patient sees it (``TrailQuery.patient_view``:
  professionals' successful transactions, never the traces of documents hidden from him);
* a legal representative reads the trail of the minors he is registered for and his token names, while
  they are minors (at 18 his token stops working for that record), also without the documents hidden from
  the representatives;
* anyone else (a professional ...) is refused.

The face intersects the patients a search names with ``TrailScope.patients``: another patient's trail is
never reached, and a search naming one answers exactly like a search matching nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass

from xds_server.core.audit import StoredTrace, TrailQuery
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.policy import AccessContext, ActorKind
from xds_server.core.policy.record import INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX
from xds_server.wiring.services import Services, UnitOfWork

__all__ = ["TrailPage", "TrailScope", "search_trail", "trail_scope"]


@dataclass(frozen=True, slots=True)
class TrailScope:
    """``patients`` None: every record (auditors); ``hidden``: document ids whose traces are left out."""

    patients: tuple[str, ...] | None
    patient_view: bool = False
    hidden: frozenset[str] = frozenset()


def _canonical(services: Services, patient_id: str | None) -> str | None:
    if not patient_id:
        return None
    try:
        return canonical_patient_id(patient_id, services.profile)
    except IdentifierError:
        return None


def trail_scope(services: Services, actor: AccessContext, work: UnitOfWork) -> TrailScope | None:
    """The part of the trail ``actor`` may read; None when he may read none of it."""
    if actor.actor_kind is ActorKind.SYSTEM:
        return TrailScope(None) if actor.national_id in services.settings.auditors else None
    access = services.access
    if access is None or work.records is None or work.audit is None:
        return None
    today = access.today()
    if actor.actor_kind is ActorKind.PATIENT:
        own = _canonical(services, actor.patient_ins)
        record = work.records.load(own, today) if own else None
        if own is None or record is None:
            return TrailScope(())
        return TrailScope((own,), True, frozenset(work.audit.hidden_documents(own, [INVISIBLE_PATIENT])))
    if actor.actor_kind is ActorKind.LEGAL_REPRESENTATIVE:
        patients: list[str] = []
        hidden: set[str] = set()
        for named in sorted(actor.represented):
            patient = _canonical(services, named)
            record = work.records.load(patient, today) if patient else None
            if patient is None or record is None:
                continue
            if not record.minor or actor.national_id not in record.legal_representatives:
                continue  # of age, or not (or no longer) his representative
            patients.append(patient)
            hidden |= work.audit.hidden_documents(
                patient, [INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX]
            )
        return TrailScope(tuple(patients), True, frozenset(hidden))
    return None


@dataclass(frozen=True, slots=True)
class TrailPage:
    traces: list[StoredTrace]
    more: bool
    #: the traces are the patient's view (the face strips their technical entities: audit.patient_view)
    patient_view: bool


def search_trail(
    services: Services,
    actor: AccessContext,
    work: UnitOfWork,
    query: TrailQuery,
    named: Collection[str] | None,
    *,
    offset: int,
    limit: int,
) -> TrailPage | None:
    """The traces ``query`` selects within what ``actor`` may read (``trail_scope``), ``named`` the
    canonical patients the search names (None: none named); None when he may read none of the trail. A
    search naming a patient outside his scope matches nothing, like one whose trail is empty."""
    scope = trail_scope(services, actor, work)
    if scope is None or work.audit is None:
        return None
    patients: tuple[str, ...] | None
    if scope.patients is None:
        patients = None if named is None else tuple(sorted(named))
    else:
        allowed = set(scope.patients)
        patients = tuple(sorted(allowed if named is None else allowed & set(named)))
    query = dataclasses.replace(
        query, patients=patients, patient_view=scope.patient_view, hidden=scope.hidden
    )
    traces, more = work.audit.search(query, offset=offset, limit=limit) if limit else ([], False)
    return TrailPage(traces, more, scope.patient_view)
