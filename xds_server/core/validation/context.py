"""What every rule module needs: the submission, the profile, the transaction, and id lookups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from xds_server.core.errors import ErrorCode, Issue, Severity
from xds_server.core.metadata import Association, DocumentEntry, Folder, Submission, SubmissionSet
from xds_server.core.profile import DomainProfile

#: Transactions whose SubmitObjectsRequest these rules apply to (ITI-41 is checked by the repository
#: before it adds hash/size/repositoryUniqueId; ITI-42 by the registry; ITI-57 by the registry too: a new
#: version is a complete object, core.metadata_update checks the update operations themselves).
TRANSACTIONS = frozenset({"ITI-41", "ITI-42", "ITI-57"})
#: Transactions whose DocumentEntries must carry what a repository knows (hash, size, repositoryUniqueId).
REGISTRY_TRANSACTIONS = frozenset({"ITI-42", "ITI-57"})

_T = TypeVar("_T", DocumentEntry, Folder, Association)


def location(object_id: str, attribute: str = "") -> str:
    """RegistryError@location: the object id, then the attribute (``Document01/classCode``)."""
    return f"{object_id}/{attribute}" if attribute else object_id


def metadata_error(object_id: str, attribute: str, message: str) -> Issue:
    return Issue(ErrorCode.REGISTRY_METADATA_ERROR, message, location(object_id, attribute))


def issue(code: ErrorCode, object_id: str, attribute: str, message: str) -> Issue:
    return Issue(code, message, location(object_id, attribute), Severity.ERROR)


@dataclass(frozen=True, slots=True)
class Context:
    submission: Submission
    profile: DomainProfile
    transaction: str
    submission_set_id: str | None
    documents: dict[str, DocumentEntry]
    folders: dict[str, Folder]
    associations: dict[str, Association]

    @classmethod
    def build(cls, submission: Submission, profile: DomainProfile, transaction: str) -> Context:
        ss: SubmissionSet | None = submission.submission_set
        return cls(
            submission=submission,
            profile=profile,
            transaction=transaction,
            submission_set_id=ss.entry_uuid if ss is not None else None,
            documents=_index(submission.documents),
            folders=_index(submission.folders),
            associations=_index(a for a in submission.associations if a.entry_uuid),
        )

    def in_message(self, object_id: str) -> bool:
        return (
            object_id == self.submission_set_id
            or object_id in self.documents
            or object_id in self.folders
            or object_id in self.associations
            or any(ss.entry_uuid == object_id for ss in self.submission.submission_sets)
        )


def _index(objects: Iterable[_T]) -> dict[str, _T]:
    # First object wins on duplicate ids; structure.py reports the duplicate.
    table: dict[str, _T] = {}
    for obj in objects:
        table.setdefault(obj.entry_uuid, obj)
    return table
