"""Budgeted reads through the port, and the ordered result collection the queries assemble.

The result cap (XDSTooManyResults) is enforced while reading: each port call asks for at most cap + 1 rows,
so no query ever reads much more than the cap before failing, and the final count is checked once more.

``$MetadataLevel`` (ITI TF-2a 3.18.4.1.2.3.5 with the Metadata Update option) is applied here, once for every
query: at level 1 (the default, what a consumer that knows nothing of versions sees) only the latest version
of each DocumentEntry and Folder is read and Deprecated Associations are not (NIST 20000e, 20001, 20005);
level 2 reads every version and every Association with its status.
"""

from __future__ import annotations

from dataclasses import fields, replace

from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.query.criteria import (
    AssociationCriteria,
    DocumentCriteria,
    FolderCriteria,
    SubmissionSetCriteria,
    Visibility,
)
from xds_server.core.query.port import ObjectRow, QueryPort
from xds_server.core.vocabulary import Status

__all__ = ["Fetcher", "ResultSet", "too_many"]

Criteria = DocumentCriteria | SubmissionSetCriteria | FolderCriteria | AssociationCriteria


#: Association statuses a level-1 consumer sees.
_CURRENT_ASSOCIATIONS = frozenset({Status.APPROVED.value, Status.SUBMITTED.value})


def too_many(count: int, cap: int) -> XdsError:
    return XdsError.single(
        ErrorCode.TOO_MANY_RESULTS, f"the query matches more than {cap} objects ({count} or more)"
    )


def _matches_nothing(criteria: Criteria) -> bool:
    """An empty OR-list (or an empty AND group) cannot match: skip the round trip."""
    for f in fields(criteria):
        value = getattr(criteria, f.name)
        if isinstance(value, frozenset) and not value:
            return True
        if isinstance(value, tuple) and any(not group for group in value):
            return True
    return False


class Fetcher:
    def __init__(
        self, port: QueryPort, *, scope: Visibility, cap: int, with_xml: bool, metadata_level: int = 1
    ) -> None:
        self.port = port
        self.scope = scope
        self.cap = cap
        self.with_xml = with_xml
        #: 1: latest versions and non-Deprecated Associations only; 2: everything (Metadata Update)
        self.latest_only = metadata_level < 2

    def _checked(self, rows: list[ObjectRow]) -> list[ObjectRow]:
        if len(rows) > self.cap:
            raise too_many(len(rows), self.cap)
        return rows

    def documents(self, criteria: DocumentCriteria) -> list[ObjectRow]:
        if _matches_nothing(criteria):
            return []
        if self.latest_only:
            criteria = replace(criteria, latest_only=True)
        return self._checked(
            self.port.find_documents(criteria, scope=self.scope, limit=self.cap + 1, with_xml=self.with_xml)
        )

    def submission_sets(self, criteria: SubmissionSetCriteria) -> list[ObjectRow]:
        if _matches_nothing(criteria):
            return []
        return self._checked(
            self.port.find_submission_sets(
                criteria, scope=self.scope, limit=self.cap + 1, with_xml=self.with_xml
            )
        )

    def folders(self, criteria: FolderCriteria) -> list[ObjectRow]:
        if _matches_nothing(criteria):
            return []
        if self.latest_only:
            criteria = replace(criteria, latest_only=True)
        return self._checked(
            self.port.find_folders(criteria, scope=self.scope, limit=self.cap + 1, with_xml=self.with_xml)
        )

    def associations(self, criteria: AssociationCriteria) -> list[ObjectRow]:
        if _matches_nothing(criteria):
            return []
        if criteria.touching is None and criteria.sources is None and criteria.targets is None:
            raise ValueError("an association read needs at least one end set")  # programming error
        if self.latest_only and criteria.statuses is None:
            criteria = replace(criteria, statuses=_CURRENT_ASSOCIATIONS)
        return self._checked(
            self.port.find_associations(
                criteria, scope=self.scope, limit=self.cap + 1, with_xml=self.with_xml
            )
        )

    def registrations(self, entry_uuids: frozenset[str]) -> list[tuple[str, ObjectRow]]:
        """(entryUUID, the SubmissionSet that registered it, with its XML) for the entries the scope shows."""
        if not entry_uuids:
            return []
        statuses = _CURRENT_ASSOCIATIONS if self.latest_only else None
        return self.port.find_registrations(entry_uuids, scope=self.scope, statuses=statuses, with_xml=True)


class ResultSet:
    """Objects in the order the query adds them, each once."""

    def __init__(self) -> None:
        self._rows: dict[str, ObjectRow] = {}

    def add(self, rows: list[ObjectRow]) -> None:
        for row in rows:
            self._rows.setdefault(row.entry_uuid, row)

    def ids(self) -> frozenset[str]:
        return frozenset(self._rows)

    def rows(self) -> tuple[ObjectRow, ...]:
        return tuple(self._rows.values())
