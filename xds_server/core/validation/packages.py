"""SubmissionSet and Folder rules (ITI TF-3 4.2.3.3, 4.2.3.4; rule book §(b))."""

from __future__ import annotations

from collections.abc import Iterator

from xds_server.core.errors import Issue
from xds_server.core.metadata import Folder, SubmissionSet
from xds_server.core.validation import fields
from xds_server.core.validation.context import Context, metadata_error


def check(ctx: Context) -> Iterator[Issue]:
    for ss in ctx.submission.submission_sets:
        yield from check_submission_set(ss)
    for folder in ctx.submission.folders:
        yield from check_folder(folder)


def check_submission_set(ss: SubmissionSet) -> Iterator[Issue]:
    i = ss.entry_uuid
    yield from fields.dtm(i, "submissionTime", ss.submission_time, is_required=True)
    yield from fields.one_code(i, "contentTypeCode", ss.content_type_code)
    yield from fields.required(i, "patientId", ss.patient_id)
    yield from fields.oid(i, "sourceId", ss.source_id, is_required=True)
    yield from fields.unique_id(i, ss.unique_id, allow_extension=False)
    yield from fields.authors(i, ss.authors)


def check_folder(folder: Folder) -> Iterator[Issue]:
    i = folder.entry_uuid
    if folder.title is None or not folder.title.value:
        yield metadata_error(i, "title", "a Folder needs a title (Name)")
    if not folder.codes:
        yield metadata_error(i, "codeList", "a Folder needs at least one codeList code")
    yield from fields.codes(i, "codeList", folder.codes)
    yield from fields.required(i, "patientId", folder.patient_id)
    yield from fields.unique_id(i, folder.unique_id, allow_extension=False)
    # lastUpdateTime is the registry's: whatever the submitter sent is overwritten (12323), not checked.
