"""Finding a professional to block or unblock, whatever the face (FHIR, the web portal, the CLI).

Who may search the directory: a patient or a legal representative (the people who manage a record's block
list); anyone else is refused (``search_professionals`` returns None). What they get is what a patient may
know of a professional: name, profession, the communes where he works in the searched place (and his IDNPS,
the public identifier the block list holds), never more than ``MAX_MATCHES`` at a time.

Blocking: ``set_blocked`` puts a professional on (or takes him off) the block list of a record the caller
manages (``wiring.record_settings.record_in_reach``: his own, or a minor's he represents); ``block_found``
does it for the one professional a search designates, and refuses an ambiguous search with the candidates
(``AmbiguousProfessional``) rather than guessing. Each runs in the caller's unit of work, so the face's
audit hook traces the change in its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from xds_server.core.policy import AccessContext, ActorKind, RecordSettings
from xds_server.core.professionals import Professional, ProfessionalSearch, SearchError
from xds_server.wiring.record_settings import SettingsChange, apply_change, record_in_reach
from xds_server.wiring.services import ProfessionalDirectory, Services, UnitOfWork

__all__ = [
    "MAX_MATCHES",
    "AmbiguousProfessional",
    "Matches",
    "ProfessionalNotFound",
    "SearchError",
    "block_found",
    "describe",
    "find_one",
    "may_search_professionals",
    "search_professionals",
    "set_blocked",
]

#: The most professionals one search answers (a patient looks for one doctor; the directory is not listed).
MAX_MATCHES: Final = 20


class ProfessionalNotFound(LookupError):
    """No professional of the directory matches the search."""


class AmbiguousProfessional(LookupError):
    """Several professionals match: the caller must say which (``candidates``, at most MAX_MATCHES)."""

    def __init__(self, candidates: tuple[Professional, ...], more: bool) -> None:
        listed = "; ".join(describe(p) for p in candidates) + ("; ..." if more else "")
        super().__init__(f"{len(candidates)}{'+' if more else ''} professionals match: {listed}")
        self.candidates = candidates
        self.more = more


@dataclass(frozen=True, slots=True)
class Matches:
    """One search's answer: the professionals (sites limited to the searched place) and whether the answer
    was cut at the limit."""

    professionals: tuple[Professional, ...]
    more: bool


def describe(professional: Professional) -> str:
    """``IDNPS given FAMILY, profession, commune[, commune]`` (what the candidates list shows)."""
    communes = ", ".join(professional.communes) or "-"
    return f"{professional.national_id} {professional.display_name}, {professional.profession}, {communes}"


def may_search_professionals(actor: AccessContext) -> bool:
    """Patients and legal representatives manage block lists, so they may search the directory."""
    return actor.actor_kind in (ActorKind.PATIENT, ActorKind.LEGAL_REPRESENTATIVE)


def _directory(work: UnitOfWork) -> ProfessionalDirectory:
    if work.professionals is None:
        raise RuntimeError("UnitOfWork.professionals is not wired: the composition root must provide it")
    return work.professionals


def search_professionals(
    actor: AccessContext, work: UnitOfWork, search: ProfessionalSearch, *, limit: int = MAX_MATCHES
) -> Matches | None:
    """The professionals ``search`` finds, for a patient or representative; None for anyone else."""
    if not may_search_professionals(actor):
        return None
    return _search(work, search, limit)


def _search(work: UnitOfWork, search: ProfessionalSearch, limit: int) -> Matches:
    found, more = _directory(work).search(search, limit=max(1, min(limit, MAX_MATCHES)))
    return Matches(tuple(found), more)


def find_one(directory: ProfessionalDirectory, search: ProfessionalSearch) -> Professional:
    """The one professional ``search`` designates: ``ProfessionalNotFound`` when none matches,
    ``AmbiguousProfessional`` (with the candidates) when several do."""
    found, more = directory.search(search, limit=MAX_MATCHES)
    if not found:
        raise ProfessionalNotFound("no professional of the directory matches this name and place")
    if len(found) > 1 or more:
        raise AmbiguousProfessional(tuple(found), more)
    return found[0]


def set_blocked(
    services: Services,
    actor: AccessContext,
    work: UnitOfWork,
    patient_id: str,
    national_id: str,
    *,
    blocked: bool = True,
) -> RecordSettings | None:
    """Block (or, ``blocked=False``, unblock) ``national_id`` on the record of ``patient_id``; None when
    the record is outside the caller's reach (answer it like an unknown record)."""
    record = record_in_reach(services, actor, work, patient_id)
    if record is None:
        return None
    apply_change(work, record, SettingsChange("blocked", national_id, add=blocked))
    return record


def block_found(
    services: Services,
    actor: AccessContext,
    work: UnitOfWork,
    patient_id: str,
    search: ProfessionalSearch,
    *,
    blocked: bool = True,
) -> Professional | None:
    """``set_blocked`` for the one professional ``search`` designates (``find_one``'s errors when none or
    several match); None when the record is outside the caller's reach."""
    record = record_in_reach(services, actor, work, patient_id)
    if record is None:
        return None
    found = find_one(_directory(work), search)
    apply_change(work, record, SettingsChange("blocked", found.national_id, add=blocked))
    return found
