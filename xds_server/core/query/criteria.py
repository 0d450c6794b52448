"""Backend-neutral query specs: what to select, never how. storage/query_sql.py turns each into one SQL query.

Conventions shared by every criteria class:

* ``None`` means "no filter on this attribute"; an empty frozenset means "matches nothing" (the engine
  short-circuits it rather than sending ``IN ()`` to a database).
* A ``frozenset`` is an OR-list; a tuple of frozensets (``event_codes`` ...) is an AND of OR-groups: the
  object must match at least one value of every group (a repeated Slot, rule book §a).
* Codes are ``code^^scheme`` keys (``code^^*``, ending in ``ANY_SCHEME``: that code in any scheme, the
  FHIR face's token without a system; XDS stored queries always name the scheme), times normalised
  14-digit DTM strings; a ``TimeRange`` is
  ``low <= value < high`` and an object without the attribute never matches a range on it.
* Metadata Update: ``latest_only`` keeps only the latest version of each logical id; an Association
  ``statuses`` filter drops Deprecated associations. The fetcher sets both for ``$MetadataLevel`` 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from xds_server.core.policy.scope import VisibilityScope

__all__ = [
    "ANY_SCHEME",
    "EVERYTHING",
    "AssociationCriteria",
    "DocumentCriteria",
    "FolderCriteria",
    "SubmissionSetCriteria",
    "TimeRange",
    "Visibility",
    "sees_everything",
]


#: Suffix of a code key matching the code in any coding scheme (``code^^*``).
ANY_SCHEME: Final = "^^*"


@dataclass(frozen=True, slots=True)
class TimeRange:
    low: str | None = None  # inclusive (…From)
    high: str | None = None  # exclusive (…To)

    @property
    def is_open(self) -> bool:
        return self.low is None and self.high is None

    def contains(self, value: str | None) -> bool:
        """The reference semantics the SQL must reproduce."""
        if self.is_open:
            return True
        if value is None:
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value < self.high)


@dataclass(frozen=True, slots=True)
class DocumentCriteria:
    patient_ids: frozenset[str] | None = None
    entry_uuids: frozenset[str] | None = None
    unique_ids: frozenset[str] | None = None
    logical_ids: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    object_types: frozenset[str] | None = None
    class_codes: frozenset[str] | None = None
    type_codes: frozenset[str] | None = None
    practice_setting_codes: frozenset[str] | None = None
    healthcare_facility_type_codes: frozenset[str] | None = None
    format_codes: frozenset[str] | None = None
    event_codes: tuple[frozenset[str], ...] = ()
    confidentiality_codes: tuple[frozenset[str], ...] = ()
    reference_ids: tuple[frozenset[str], ...] = ()
    author_persons: frozenset[str] | None = None  # LIKE patterns, OR-ed
    creation_time: TimeRange = field(default_factory=TimeRange)
    service_start_time: TimeRange = field(default_factory=TimeRange)
    service_stop_time: TimeRange = field(default_factory=TimeRange)
    latest_only: bool = False


@dataclass(frozen=True, slots=True)
class SubmissionSetCriteria:
    patient_ids: frozenset[str] | None = None
    entry_uuids: frozenset[str] | None = None
    unique_ids: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    source_ids: frozenset[str] | None = None
    content_type_codes: frozenset[str] | None = None
    author_persons: frozenset[str] | None = None
    submission_time: TimeRange = field(default_factory=TimeRange)
    #: SubmissionSets holding (HasMember source of) one of these objects
    containing: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class FolderCriteria:
    patient_ids: frozenset[str] | None = None
    entry_uuids: frozenset[str] | None = None
    unique_ids: frozenset[str] | None = None
    logical_ids: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    codes: tuple[frozenset[str], ...] = ()
    last_update_time: TimeRange = field(default_factory=TimeRange)
    latest_only: bool = False


@dataclass(frozen=True, slots=True)
class AssociationCriteria:
    """Associations by their ends. ``touching``: source or target in the set; ``sources``/``targets``: that
    end in the set (both given: both ends must match). At least one end set is always given."""

    touching: frozenset[str] | None = None
    sources: frozenset[str] | None = None
    targets: frozenset[str] | None = None
    types: frozenset[str] | None = None
    statuses: frozenset[str] | None = None


#: Which DocumentEntries the caller may see: the access-control hook (core.policy builds it per request).
#: Every port method applies it in SQL wherever a DocumentEntry could be returned, counted or reached
#: (Associations with a hidden DocumentEntry at either end are hidden too), so the too-many and
#: single-patient decisions only ever see visible objects. A scope bound to one record also limits
#: SubmissionSets and Folders to that patient.
Visibility = VisibilityScope

#: The scope of a caller allowed everything (IHE mode, tests, the bench).
EVERYTHING: Final = VisibilityScope(None, record_allowed=True, unrestricted=True, include_deprecated=True)


def sees_everything(scope: VisibilityScope) -> bool:
    return (
        scope.record_allowed and scope.unrestricted and scope.include_deprecated and scope.patient_id is None
    )
