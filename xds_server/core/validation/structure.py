"""Message-level rules (ITI TF-2b 3.42.4.1.3, ITI TF-3 4.1 submission request): one SubmissionSet, codec
problems, object ids, limitedMetadata, uniqueIds repeated inside the message."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from xds_server.core.errors import ErrorCode, Issue
from xds_server.core.identifiers import is_urn_uuid
from xds_server.core.metadata import Association, DocumentEntry, Folder, SubmissionSet, is_uuid_id
from xds_server.core.validation.context import Context, issue, metadata_error
from xds_server.core.vocabulary import ClassificationScheme

_REQUEST = "SubmitObjectsRequest"
_LIMITED = {
    ClassificationScheme.DE_LIMITED_METADATA.value,
    ClassificationScheme.SS_LIMITED_METADATA.value,
    ClassificationScheme.FOLDER_LIMITED_METADATA.value,
}


def check(ctx: Context) -> Iterator[Issue]:
    yield from _one_submission_set(ctx)
    yield from _decode_problems(ctx)
    yield from _object_ids(ctx)
    yield from _limited_metadata(ctx)
    yield from _unique_ids_in_message(ctx)


def _one_submission_set(ctx: Context) -> Iterator[Issue]:
    count = len(ctx.submission.submission_sets)
    if count != 1:
        yield metadata_error(
            _REQUEST, "SubmissionSet", f"exactly one SubmissionSet is required, found {count}"
        )


def _decode_problems(ctx: Context) -> Iterator[Issue]:
    # Missing codingScheme, two values in a single-valued slot, an ExternalIdentifier without value ...:
    # the codec records them and never stops early; each is a metadata error here.
    for problem in ctx.submission.problems:
        yield Issue(ErrorCode.REGISTRY_METADATA_ERROR, problem.message, problem.location)


def _object_ids(ctx: Context) -> Iterator[Issue]:
    ids = Counter(obj.entry_uuid for obj in ctx.submission.objects() if obj.entry_uuid)
    for object_id, n in ids.items():
        if n > 1:
            yield metadata_error(
                object_id, "id", f"id {object_id!r} is used by {n} objects of the submission"
            )
        if is_uuid_id(object_id) and not is_urn_uuid(object_id):
            yield metadata_error(object_id, "id", f"{object_id!r} is not a valid urn:uuid")
    for obj in ctx.submission.objects():
        # Only Associations may come without an id (the NIST engine omits them; the registry assigns one).
        if not obj.entry_uuid and not isinstance(obj, Association):
            yield metadata_error(_REQUEST, "id", f"a {type(obj).__name__} has no id")


def _limited_metadata(ctx: Context) -> Iterator[Issue]:
    # limitedMetadata is for XDR/XDM (metadata-limited sources, ITI TF-3 4.1): an XDS registry refuses it.
    for obj in _packages_and_documents(ctx):
        for scheme, _code in obj.other_classifications:
            if scheme in _LIMITED:
                yield metadata_error(
                    obj.entry_uuid, "limitedMetadata", "limitedMetadata is not accepted by an XDS registry"
                )


def _unique_ids_in_message(ctx: Context) -> Iterator[Issue]:
    owners: dict[str, list[str]] = {}
    for obj in _packages_and_documents(ctx):
        if obj.unique_id:
            owners.setdefault(obj.unique_id, []).append(obj.entry_uuid)
    # The repository (ITI-41) and the registry (ITI-42) each have their own code (ITI TF-3 4.2.4.1).
    code = (
        ErrorCode.REPOSITORY_DUPLICATE_UNIQUE_ID_IN_MESSAGE
        if ctx.transaction == "ITI-41"
        else ErrorCode.REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE
    )
    for unique_id, ids in owners.items():
        if len(ids) > 1:
            yield issue(
                code,
                ids[1],
                "uniqueId",
                f"uniqueId {unique_id} is used by several objects of the message: {', '.join(ids)}",
            )


def _packages_and_documents(ctx: Context) -> tuple[SubmissionSet | DocumentEntry | Folder, ...]:
    return (*ctx.submission.submission_sets, *ctx.submission.documents, *ctx.submission.folders)
