"""ITI-41/42 submit original objects only: no Metadata Update construct outside ITI-57.

Theory of operation
-------------------
A new version of a registered DocumentEntry or Folder is expressed by its ``lid`` (the logical id of the
object it replaces, different from its own id) and by the SubmissionSet -> object HasMember carrying a
``PreviousVersion`` slot (ITI TF-3 4.1, Metadata Update; rule book §(e)). That is an ITI-57 Update
Document Set operation. Sent through Register (ITI-42) or Provide and Register (ITI-41) it must be refused
(NIST 21000, "No Update Metadata Operation Object (ITI-42)"): without this rule the planner would give the
object lid = id and register it silently as an unrelated first version, leaving two Approved entries where
the submitter asked for one to replace the other.

Refused here, each as XDSRegistryMetadataError (the code NIST 21000 expects; XDSMetadataUpdateError and
XDSMetadataIdentifierError are the errors of the ITI-57 response, which a Register request is not):

* a SubmissionSet, DocumentEntry or Folder whose ``lid`` is present and differs from its ``id`` (a first
  version may repeat its own id as lid);
* an Association carrying a ``PreviousVersion`` slot.

The ITI-57 association types (UpdateAvailabilityStatus, SubmitAssociation) are refused by
``associations``. On ITI-57 none of this applies: core.metadata_update checks the update operations.
"""

from __future__ import annotations

from collections.abc import Iterator

from xds_server.core.errors import Issue
from xds_server.core.metadata import DocumentEntry, Folder, SubmissionSet
from xds_server.core.validation.context import Context, metadata_error
from xds_server.core.vocabulary import SlotName

_UPDATE_TRANSACTION = "ITI-57"
_PREVIOUS_VERSION = SlotName.PREVIOUS_VERSION.value


def check(ctx: Context) -> Iterator[Issue]:
    if ctx.transaction == _UPDATE_TRANSACTION:
        return
    objects: list[SubmissionSet | DocumentEntry | Folder] = [
        *ctx.submission.submission_sets,
        *ctx.submission.documents,
        *ctx.submission.folders,
    ]
    for obj in objects:
        lid = obj.logical_id
        if lid and lid != obj.entry_uuid:
            yield metadata_error(
                obj.entry_uuid,
                "lid",
                f"{type(obj).__name__} {obj.entry_uuid} has lid {lid}: a new version of an existing object "
                f"is a Metadata Update (ITI-57 Update Document Set), not accepted by {ctx.transaction}",
            )
    for index, assoc in enumerate(ctx.submission.associations, start=1):
        if assoc.slot_values(_PREVIOUS_VERSION):
            name = assoc.entry_uuid or f"Association[{index}]"
            yield metadata_error(
                name,
                _PREVIOUS_VERSION,
                f"a {_PREVIOUS_VERSION} slot makes association {name} a Metadata Update operation "
                f"(ITI-57 Update Document Set), not accepted by {ctx.transaction}",
            )
