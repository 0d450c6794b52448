"""The patient's own record settings (issue 11, item 4), whatever the face: who may change which record,
and the changes themselves, in the caller's unit of work (so the face's audit hook traces each change in
its transaction).

Who: the patient himself (his token's INS names the record), or a legal representative registered for a
minor whose token names him, while the patient is a minor (at 18 the representative's token stops
working). Anyone else, including professionals and auditors, is refused; a record outside the caller's
reach is answered like an unknown one (``None`` from ``record_in_reach``), never with a hint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from xds_server.core.audit import AuditEntity, EntityRole
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.policy import AccessContext, ActorKind, RecordSettings
from xds_server.core.ports import PatientState
from xds_server.core.professionals import Professional
from xds_server.wiring.services import RecordSettingsWriter, Services, UnitOfWork

__all__ = [
    "PersonRecord",
    "RecordProfessionals",
    "RecordSettingsWriter",
    "SettingsChange",
    "apply_change",
    "checked_email",
    "contact_of",
    "person_actor",
    "person_records",
    "record_in_reach",
    "record_professionals",
    "set_contact",
    "set_opposition",
    "set_record_state",
]


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """One change: ``relation`` authorised | blocked | administrator with ``professional`` and ``add``;
    or ``samu`` / ``break_glass`` with ``allow``."""

    relation: str
    professional: str | None = None
    add: bool = True
    allow: bool | None = None


def _canonical(services: Services, patient_id: str | None) -> str | None:
    if not patient_id:
        return None
    try:
        return canonical_patient_id(patient_id, services.profile)
    except IdentifierError:
        return None


def record_in_reach(
    services: Services, actor: AccessContext, work: UnitOfWork, patient_id: str
) -> RecordSettings | None:
    """The record ``patient_id`` names when ``actor`` may manage it; None otherwise (unknown, another
    patient's, a representative's of-age patient ...). Notes the patient on the request's trail."""
    patient = _canonical(services, patient_id)
    access = services.access
    if patient is None or access is None or work.records is None:
        return None
    if work.trail is not None:
        work.trail.patient(patient)
    if actor.actor_kind is ActorKind.PATIENT:
        if _canonical(services, actor.patient_ins) != patient:
            return None
        return work.records.load(patient, access.today())
    if actor.actor_kind is ActorKind.LEGAL_REPRESENTATIVE:
        represented = {_canonical(services, p) for p in actor.represented}
        record = work.records.load(patient, access.today()) if patient in represented else None
        if record is None or not record.minor or actor.national_id not in record.legal_representatives:
            return None
        return record
    return None


def apply_change(work: UnitOfWork, record: RecordSettings, change: SettingsChange) -> None:
    """Apply one change to ``record`` (reached through ``record_in_reach``) in the open transaction."""
    store: RecordSettingsWriter | None = work.record_settings
    if store is None:
        raise RuntimeError("UnitOfWork.record_settings is not wired: the composition root must provide it")
    patient, who = record.patient_id, (change.professional or "").strip()
    _note(work, change, who)
    if change.relation in ("samu", "break_glass"):
        if change.allow is None:
            raise XdsError.single(ErrorCode.REGISTRY_METADATA_ERROR, f"{change.relation}: allow or refuse")
        if change.relation == "samu":
            store.set_settings(patient, samu=change.allow)
        else:
            store.set_settings(patient, break_glass=change.allow)
        return
    if not who:
        raise XdsError.single(ErrorCode.REGISTRY_METADATA_ERROR, "no professional named")
    if change.relation == "authorised":
        store.authorize(patient, who) if change.add else store.revoke(patient, who)
    elif change.relation == "blocked":
        store.block(patient, who) if change.add else store.unblock(patient, who)
    elif change.relation == "administrator":
        if change.add:
            store.set_settings(patient, administrator=who)
        else:
            store.revoke_administrator(patient, who)
    else:
        raise XdsError.single(ErrorCode.REGISTRY_METADATA_ERROR, f"unknown setting {change.relation!r}")


def _note(work: UnitOfWork, change: SettingsChange, who: str) -> None:
    """The setting a change touches, on the request's trail (``Consent/<id>`` as the FHIR face names it)."""
    if work.trail is None:
        return
    if change.relation in ("samu", "break_glass"):
        name, state = change.relation.replace("_", "-"), "allowed" if change.allow else "refused"
    else:
        name = f"{change.relation}-{who}"
        state = "added" if change.add else "removed"
    work.trail.entity(AuditEntity(EntityRole.SETTING, f"Consent/{name}", description=state))


def checked_email(value: str | None) -> str | None:
    """A contact address as given (stripped), None for none; ValueError when it is not one address."""
    text = (value or "").strip()
    if not text:
        return None
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in text) or len(text) > 320:
        raise ValueError(f"{text!r} is not an e-mail address")
    return text


def contact_of(work: UnitOfWork, record: RecordSettings) -> str | None:
    """The patient's contact e-mail (None: none registered)."""
    if work.record_settings is None:
        raise RuntimeError("UnitOfWork.record_settings is not wired: the composition root must provide it")
    return work.record_settings.contact_email(record.patient_id)


@dataclass(frozen=True, slots=True)
class RecordProfessionals:
    """The professionals a record's settings and trail name: who accessed it (id, last access, count),
    and the directory's entry of each one named anywhere (absent from the directory: no entry)."""

    accessed: list[tuple[str, datetime, int]]
    directory: dict[str, Professional]


def record_professionals(work: UnitOfWork, record: RecordSettings) -> RecordProfessionals:
    """For a record in the caller's reach (``record_in_reach``)."""
    accessed = work.audit.professionals_who_accessed(record.patient_id) if work.audit is not None else []
    named = {a for a, _, _ in accessed} | record.authorised | record.blocked | record.administrators
    if record.medecin_traitant:
        named.add(record.medecin_traitant)
    directory: dict[str, Professional] = {}
    if work.professionals is not None:
        for national_id in sorted(named):
            found = work.professionals.get(national_id)
            if found is not None:
                directory[national_id] = found
    return RecordProfessionals(accessed[:50], directory)


def set_contact(work: UnitOfWork, record: RecordSettings, email: str | None) -> None:
    """The patient's contact e-mail (where his notices go)."""
    if work.record_settings is None:
        raise RuntimeError("UnitOfWork.record_settings is not wired: the composition root must provide it")
    work.record_settings.set_contact_email(record.patient_id, email)


def set_record_state(work: UnitOfWork, record: RecordSettings, state: PatientState) -> None:
    """The patient activates or closes his record (opposition: ``set_opposition``)."""
    work.patients.set_state(record.patient_id, state)


def set_opposition(work: UnitOfWork, record: RecordSettings, opposed: bool) -> PatientState:
    """The patient opposes his record, or withdraws his opposition; the state it leaves.

    dmp-rules.md §(a) READ 2 and WRITE 2: an opposed record does not exist for professionals (no
    consultation in any mode, no deposit, the patient's documents out of every professional's view,
    refused exactly like an absent record), the patient keeps his trail and his settings; nothing is
    deleted, so withdrawing the opposition (the record is activated again) gives the record back as it
    was. Withdrawing when the record is not opposed changes nothing."""
    if work.trail is not None:
        state = "opposed" if opposed else "withdrawn"
        work.trail.entity(AuditEntity(EntityRole.SETTING, "Consent/opposition", description=state))
    if opposed:
        work.patients.set_state(record.patient_id, PatientState.OPPOSED)
        return PatientState.OPPOSED
    if record.state is PatientState.OPPOSED:
        work.patients.set_state(record.patient_id, PatientState.ACTIVATED)
        return PatientState.ACTIVATED
    return record.state


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A record a person may act on: his own, or a minor's he is registered as legal representative of."""

    patient_id: str
    own: bool


def person_records(services: Services, work: UnitOfWork, person: str) -> list[PersonRecord]:
    """The records ``person`` (an INS, any spelling) may act on, his own first: the directory's record of
    his INS, then each minor whose registered representatives include him (at 18 the minor's record drops
    out, as his token would stop working for it)."""
    own = _canonical(services, person)
    access = services.access
    if own is None or access is None or work.records is None:
        return []
    found = [PersonRecord(own, True)] if work.patients.get(own) is not None else []
    today = access.today()
    for minor in sorted(work.records.records_represented_by(own)):
        record = work.records.load(minor, today)
        if record is not None and record.minor and own in record.legal_representatives:
            found.append(PersonRecord(minor, False))
    return found


def person_actor(
    person: str, records: list[PersonRecord], current: str, *, name: str | None = None, issuer: str
) -> AccessContext | None:
    """The actor ``person`` is on the record ``current`` (one of ``records``): the patient himself on his
    own record, a legal representative (for every minor he represents) on a minor's; None when
    ``current`` is not one of them. The rules still decide everything (``record_in_reach``, the policy)."""
    chosen = next((r for r in records if r.patient_id == current), None)
    if chosen is None:
        return None
    if chosen.own:
        return AccessContext(ActorKind.PATIENT, person, patient_ins=current, name=name, issuer=issuer)
    minors = frozenset(r.patient_id for r in records if not r.own)
    return AccessContext(
        ActorKind.LEGAL_REPRESENTATIVE,
        person,
        patient_ins=current,
        represented=minors,
        name=name,
        issuer=issuer,
    )
