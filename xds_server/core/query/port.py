"""The port the query engine reads through. storage/query_sql.py implements it in SQL; tests use it directly.

Every method filters entirely at the source (no method returns more than ``limit`` rows, no filtering is
left to the caller), applies ``scope`` to DocumentEntries, and returns rows in registration order.
``with_xml`` asks for the stored canonical ebRIM XML (LeafClass answers); ObjectRef answers never load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from xds_server.core.metadata import ObjectKind
from xds_server.core.query.criteria import (
    AssociationCriteria,
    DocumentCriteria,
    FolderCriteria,
    SubmissionSetCriteria,
    Visibility,
)

__all__ = ["ObjectRow", "QueryPort"]


@dataclass(frozen=True, slots=True)
class ObjectRow:
    """One matched registry object: its index columns and, on request, its stored XML."""

    entry_uuid: str
    kind: ObjectKind
    status: str
    patient_id: str | None = None
    xml: str | None = None
    #: Folders: the current lastUpdateTime (authoritative over the XML's)
    last_update_time: str | None = None
    #: Associations
    association_type: str | None = None
    source: str | None = None
    target: str | None = None


class QueryPort(Protocol):
    def find_documents(
        self, criteria: DocumentCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]: ...

    def find_submission_sets(
        self, criteria: SubmissionSetCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]: ...

    def find_folders(
        self, criteria: FolderCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]: ...

    def find_associations(
        self, criteria: AssociationCriteria, *, scope: Visibility, limit: int, with_xml: bool
    ) -> list[ObjectRow]: ...

    def find_registrations(
        self,
        entry_uuids: frozenset[str],
        *,
        scope: Visibility,
        statuses: frozenset[str] | None,
        with_xml: bool,
    ) -> list[tuple[str, ObjectRow]]:
        """(entryUUID, SubmissionSet) for each of ``entry_uuids`` that ``scope`` shows and the SubmissionSet
        that registered it: the source of a HasMember to the entry, of one of ``statuses`` (None: any).
        No other test is needed on the SubmissionSet: one with a visible member is visible (the package
        rule), which is what makes this one read where Associations and SubmissionSets would be two."""
        ...
