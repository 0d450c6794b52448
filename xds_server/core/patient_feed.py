"""Patient Identity Feed: the registry learns, updates and merges its patients (ITI-8, ITI-104).

Theory of operation
-------------------
A feed message names a patient by several identifiers (HL7 PID-3 repetitions, FHIR Patient.identifier). The
registry keeps ONE of them as the patient id of its affinity domain: the first identifier, in the profile's
order of preference (``DomainProfile.feed_authorities``; without one, in the message's order), whose assigning
authority the profile accepts and that is a valid patient id there (``canonical_patient_id``). The others are
cross-references, kept as sent. No identifier of the domain: the message is refused, nothing changes.

``register_patient`` (A01/A04/A05/A08, ITI-104 create or update) creates the patient or replaces its
demographics and cross-references; the record settings (state, consent, blocks ...) are the patient's own and
a feed never touches them. An id that was merged into another is dead: feeding it again is refused.

``merge_patients`` (A40, ITI-104 replaced-by link; ITI TF-2a 3.8.4.2.3) merges the subsumed id into the
surviving one, in the caller's one transaction:
* every DocumentEntry, SubmissionSet and Folder of the subsumed id is rewritten to the surviving id, rows
  and stored ebRIM alike (``PatientFeedStore.move_registry_objects``), so every read path -- stored queries,
  GetDocuments by uuid, association patient checks, the FHIR view -- sees one patient without resolving
  aliases at query time;
* the subsumed id stays in the directory as merged into the survivor: queries on it find nothing, and a new
  submission for it is XDSUnknownPatientId, exactly as for an id never fed;
* the two records' settings are combined, the most protective value winning (``combine_settings``).
Both patient rows are locked first (``PatientFeedStore.lock``); submissions lock their patient row before
anything else (``RegistryReader.lock_patient``), so a submission for the subsumed id runs wholly before the
merge (its documents are then moved) or wholly after it (and is refused): never a document left behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Protocol

from xds_server.core.identifiers import IdentifierError, canonical_patient_id, parse_cx
from xds_server.core.policy.record import RecordSettings
from xds_server.core.ports import PatientState
from xds_server.core.profile import DomainProfile


class FeedProblem(StrEnum):
    """Why a feed message is refused; each face renders it (HL7 ERR code, FHIR issue code)."""

    #: no identifier of the affinity domain (missing PID-3, MRG-1, or none with an accepted authority)
    NO_DOMAIN_ID = "no-domain-id"
    #: an identifier of the domain that is not a valid patient id there (bad INS key, bad CX)
    INVALID_ID = "invalid-id"
    #: the id was merged into another one: it no longer names a patient
    MERGED_ID = "merged-id"
    #: a merge of an id into itself
    SAME_ID = "same-id"
    #: a field that cannot be read (birth date, sex)
    INVALID_FIELD = "invalid-field"


class FeedRefused(Exception):
    """A feed message the registry does not apply; nothing was changed. ``location`` names the field."""

    def __init__(self, problem: FeedProblem, message: str, location: str = "") -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message
        self.location = location


class Sex(StrEnum):
    """Administrative sex as HL7 table 0001 spells it (FHIR maps it to its own codes)."""

    FEMALE = "F"
    MALE = "M"
    OTHER = "O"
    UNKNOWN = "U"
    AMBIGUOUS = "A"
    NOT_APPLICABLE = "N"


@dataclass(frozen=True, slots=True)
class Demographics:
    """What the registry keeps about a patient besides ids (for sourcePatientInfo checks and FHIR)."""

    family: str | None = None
    given: tuple[str, ...] = ()
    birth_date: date | None = None
    sex: Sex | None = None


@dataclass(frozen=True, slots=True)
class FedPatient:
    """One patient as a feed message describes it: domain id (canonical), cross-references, demographics."""

    patient_id: str
    cross_references: tuple[str, ...] = ()
    demographics: Demographics = field(default_factory=Demographics)
    #: True: the message states the whole patient (FHIR update), so a field it leaves out is cleared; False
    #: (HL7 v2): a field left empty is not given and the stored value stays
    complete: bool = False


@dataclass(frozen=True, slots=True)
class StoredPatient:
    """The directory's row for an id: its state, demographics and, once merged, the surviving id."""

    patient_id: str
    state: PatientState
    merged_into: str | None = None
    demographics: Demographics = field(default_factory=Demographics)
    cross_references: tuple[str, ...] = ()


class FeedOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    MERGED = "merged"


@dataclass(frozen=True, slots=True)
class FeedResult:
    """What a feed message did: to which patient, and (merge) how many registry objects moved to it."""

    outcome: FeedOutcome
    patient_id: str
    moved: int = 0


class PatientFeedStore(Protocol):
    """What the feed use cases need, bound to one open transaction (storage.feed.SqlPatientFeed)."""

    def lock(self, patient_ids: Sequence[str]) -> None:
        """Serialise with every transaction that locks one of these patients (submissions, other feeds)."""
        ...

    def get(self, patient_id: str) -> StoredPatient | None: ...

    def save(self, patient: FedPatient, *, state: PatientState | None = None) -> None:
        """Create the patient (in ``state``) or update it (``state`` None keeps the record's state): the
        demographics the message gives replace the stored ones (None: not given, kept, as an empty HL7
        field; all of them when ``patient.complete``), its cross-references are added to the known ones."""
        ...

    def settings(self, patient_id: str) -> RecordSettings | None: ...

    def replace_settings(self, settings: RecordSettings) -> None:
        """Make the record's state and settings exactly ``settings`` (relations included)."""
        ...

    def move_registry_objects(self, subsumed_id: str, surviving_id: str) -> int:
        """Rewrite every registry object of ``subsumed_id`` (rows and stored XML) to ``surviving_id``; return
        how many were moved."""
        ...

    def mark_merged(self, subsumed_id: str, surviving_id: str) -> None:
        """Record the merge: the subsumed id (and any id merged into it before) now points at the survivor,
        its settings and cross-references are gone (moved), its representatives' links follow the survivor."""
        ...


# --------------------------------------------------------------------------------------- choosing the id


def choose_patient_id(
    identifiers: Sequence[str], profile: DomainProfile, location: str = "PID-3"
) -> FedPatient:
    """The domain's patient id among ``identifiers`` (CX strings, in message order), the others kept as
    cross-references (see ``pick_patient_id``)."""
    position, patient_id = pick_patient_id(identifiers, profile, location)
    others = tuple(v for i, v in enumerate(identifiers) if i != position and v)
    return FedPatient(patient_id, tuple(dict.fromkeys(others)))


def pick_patient_id(
    identifiers: Sequence[str], profile: DomainProfile, location: str = "PID-3"
) -> tuple[int, str]:
    """Which of ``identifiers`` (CX strings, in message order) is the domain's patient id, and its canonical
    form.

    Raises FeedRefused(NO_DOMAIN_ID) when no identifier has an authority of the domain, and
    FeedRefused(INVALID_ID) when the preferred one is not a valid patient id of the domain (a wrong INS key is
    refused, not silently skipped).
    """
    candidates: list[tuple[int, int, str]] = []
    for position, value in enumerate(identifiers):
        authority = _authority(value)
        if authority is None or not profile.accepts_authority(authority):
            continue
        rank = _preference(authority, profile)
        if rank is not None:
            candidates.append((rank, position, value))
    if not candidates:
        shown = ", ".join(v for v in identifiers if v) or "none"
        raise FeedRefused(
            FeedProblem.NO_DOMAIN_ID,
            f"no patient identifier of the {profile.name} affinity domain in {location} (got: {shown})",
            location,
        )
    _, position, chosen = min(candidates)
    try:
        return position, canonical_patient_id(chosen, profile)
    except IdentifierError as error:
        raise FeedRefused(FeedProblem.INVALID_ID, str(error), location) from None


def _authority(value: str) -> str | None:
    try:
        return parse_cx(value.strip()).authority
    except IdentifierError:
        return None


def _preference(authority: str, profile: DomainProfile) -> int | None:
    """Rank of an accepted authority: its place in ``feed_authorities`` (absent: not the registry's id), or
    0 for every accepted authority when the profile states no preference (message order decides)."""
    if profile.feed_authorities is None:
        return 0
    try:
        return profile.feed_authorities.index(authority)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------- use cases


def register_patient(store: PatientFeedStore, patient: FedPatient) -> FeedResult:
    """Create or update a patient (ITI-8 A01/A04/A05/A08, ITI-104 update)."""
    store.lock([patient.patient_id])
    known = store.get(patient.patient_id)
    if known is not None and known.merged_into is not None:
        raise FeedRefused(
            FeedProblem.MERGED_ID,
            f"patient id {patient.patient_id} was merged into {known.merged_into}: "
            "it no longer names a patient",
            "PID-3",
        )
    store.save(patient, state=PatientState.CREATED if known is None else None)
    return FeedResult(FeedOutcome.CREATED if known is None else FeedOutcome.UPDATED, patient.patient_id)


def merge_patients(store: PatientFeedStore, survivor: FedPatient, subsumed_id: str) -> FeedResult:
    """Merge ``subsumed_id`` into ``survivor`` (ITI-8 A40, ITI-104 replaced-by); see the module docstring.

    An unknown surviving id is created from the message; an unknown subsumed id is recorded as merged (the
    source said it is obsolete), so that it is refused from now on like any merged id.
    """
    surviving_id = survivor.patient_id
    if subsumed_id == surviving_id:
        raise FeedRefused(
            FeedProblem.SAME_ID, f"MRG-1 names the surviving patient {surviving_id} itself", "MRG-1"
        )
    store.lock(sorted({surviving_id, subsumed_id}))
    target = store.get(surviving_id)
    if target is not None and target.merged_into is not None:
        raise FeedRefused(
            FeedProblem.MERGED_ID,
            f"surviving patient id {surviving_id} was itself merged into {target.merged_into}",
            "PID-3",
        )
    source = store.get(subsumed_id)
    if source is not None and source.merged_into is not None:
        if source.merged_into == surviving_id:
            return FeedResult(FeedOutcome.MERGED, surviving_id)  # the same merge again: already done
        raise FeedRefused(
            FeedProblem.MERGED_ID,
            f"patient id {subsumed_id} was already merged into {source.merged_into}",
            "MRG-1",
        )
    store.save(survivor, state=PatientState.CREATED if target is None else None)
    moved = 0
    if source is None:
        store.save(FedPatient(subsumed_id), state=PatientState.CREATED)
    else:
        kept = store.settings(surviving_id)
        gone = store.settings(subsumed_id)
        if kept is not None and gone is not None:
            store.replace_settings(combine_settings(kept, gone))
        moved = store.move_registry_objects(subsumed_id, surviving_id)
    store.mark_merged(subsumed_id, surviving_id)
    return FeedResult(FeedOutcome.MERGED, surviving_id, moved)


# --------------------------------------------------------------------------------------- combining settings

#: Record states from the least to the most protective: an opposed or closed record gives no professional
#: access (dmp-rules.md §(a) READ 2 / WRITE 2); opposition is the patient's own will, so it ranks highest.
_STATE_PROTECTION = (PatientState.CREATED, PatientState.ACTIVATED, PatientState.CLOSED, PatientState.OPPOSED)


def combine_settings(kept: RecordSettings, gone: RecordSettings) -> RecordSettings:
    """The surviving record's settings after a merge: for each setting the more protective of the two.

    Restrictions add up (blocks: union; an emergency mode refused in either record stays refused; the more
    protective state). Grants hold only where both records agree (declared consent, administrator doctors,
    legal representatives: intersection; the médecin traitant only when both name the same one), since a
    right the patient gave under one id only is one he can give again, a restriction silently lost is not.
    The birth date is the survivor's, else the subsumed record's.
    """
    state = max(kept.state, gone.state, key=_STATE_PROTECTION.index)
    birth_date = kept.birth_date if kept.birth_date is not None else gone.birth_date
    return replace(
        kept,
        state=state,
        authorised=kept.authorised & gone.authorised,
        blocked=kept.blocked | gone.blocked,
        medecin_traitant=kept.medecin_traitant if kept.medecin_traitant == gone.medecin_traitant else None,
        administrators=kept.administrators & gone.administrators,
        samu_allowed=kept.samu_allowed and gone.samu_allowed,
        break_glass_allowed=kept.break_glass_allowed and gone.break_glass_allowed,
        birth_date=birth_date,
        minor=kept.minor or gone.minor,
        legal_representatives=kept.legal_representatives & gone.legal_representatives,
    )


__all__ = [
    "Demographics",
    "FedPatient",
    "FeedOutcome",
    "FeedProblem",
    "FeedRefused",
    "FeedResult",
    "PatientFeedStore",
    "Sex",
    "StoredPatient",
    "choose_patient_id",
    "combine_settings",
    "merge_patients",
    "pick_patient_id",
    "register_patient",
]
