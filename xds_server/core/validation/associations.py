"""Association rules that need no registry (ITI TF-3 4.2.2; rule book §(b) Associations).

Theory of operation
-------------------
An ITI-42 submission may hold two families of associations:

* ``HasMember`` -- membership. Its source is the submission's SubmissionSet or a Folder (new, or an
  existing one named by urn:uuid):
    - SS -> DocumentEntry: Slot ``SubmissionSetStatus`` = ``Original`` when the entry is in this message,
      ``Reference`` when it is an existing entry (ITI TF-3 4.2.2.1, HasMember);
    - SS -> Folder (new Folder of this message);
    - SS -> Association: files a Folder -> DocumentEntry HasMember in the SubmissionSet;
    - Folder -> DocumentEntry: needs the SS -> (this association) HasMember above
      (ITI TF-3 4.2.2.1; NIST 12001, 12326).
  Every new DocumentEntry and new Folder must be a member of the SubmissionSet.
* document relationships (RPLC, APND, XFRM, XFRM_RPLC, signs, IsSnapshotOf): source = a new DocumentEntry
  of this message, target = an existing DocumentEntry (the registry side is checked in submission.py).
  Only these may carry the association-documentation Classification (NIST 12370). At most one replacement
  (RPLC / XFRM_RPLC) may target the same entry in one message: a second one would leave two Approved
  successors of one document, which a second submission could never produce (the first replacement
  deprecates the target, so the second fails with XDSRegistryDeprecatedDocumentError).

The ITI-57 association types (UpdateAvailabilityStatus, SubmitAssociation) are refused on ITI-41/42. On ITI-57
they, and the associations a SubmitAssociation submits (which may link existing objects), are left to
core.metadata_update; every other rule here applies to ITI-57 as to ITI-42.
References: a symbolic id must name an object of this message; a urn:uuid that is not in the message is
taken as an existing registry object and resolved by submission.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from xds_server.core.errors import Issue
from xds_server.core.metadata import Association, is_uuid_id
from xds_server.core.validation.context import Context, metadata_error
from xds_server.core.vocabulary import (
    RELATIONSHIP_TYPES,
    REPLACEMENT_TYPES,
    AssociationType,
    SlotName,
    SubmissionSetStatus,
)

_HAS_MEMBER = AssociationType.HAS_MEMBER.value
_RELATIONSHIPS = frozenset(t.value for t in RELATIONSHIP_TYPES)
_REPLACEMENTS = frozenset(t.value for t in REPLACEMENT_TYPES)
_UPDATE_ONLY = frozenset(
    {AssociationType.UPDATE_AVAILABILITY_STATUS.value, AssociationType.SUBMIT_ASSOCIATION.value}
)


def check(ctx: Context) -> Iterator[Issue]:
    update_operations = _update_operations(ctx)
    for index, assoc in enumerate(ctx.submission.associations, start=1):
        if assoc in update_operations:
            continue  # ITI-57: core.metadata_update
        yield from check_association(ctx, assoc, assoc.entry_uuid or f"Association[{index}]")
    yield from _membership(ctx)
    yield from _one_replacement_per_target(ctx)


def check_association(ctx: Context, a: Association, name: str) -> Iterator[Issue]:
    kind = a.association_type
    if kind in _UPDATE_ONLY:
        yield metadata_error(name, "associationType", f"{kind} is only allowed in ITI-57 (Metadata Update)")
        return
    if kind != _HAS_MEMBER and kind not in _RELATIONSHIPS:
        yield metadata_error(name, "associationType", f"unknown associationType {kind!r}")
        return
    unresolved = False
    for end, ref in (("sourceObject", a.source), ("targetObject", a.target)):
        if not ref:
            yield metadata_error(name, end, f"{end} is required")
            unresolved = True
        elif not is_uuid_id(ref) and not ctx.in_message(ref):
            yield metadata_error(name, end, f"{end} {ref!r} names no object of the submission")
            unresolved = True
    if a.documentation is not None and kind not in _RELATIONSHIPS:
        yield metadata_error(
            name,
            "associationDocumentation",
            "the association documentation Classification is only allowed on document relationships "
            "(RPLC, APND, XFRM, XFRM_RPLC, signs)",
        )
    if unresolved:
        return
    if kind == _HAS_MEMBER:
        yield from _has_member(ctx, a, name)
    else:
        yield from _relationship(ctx, a, name)


def _update_operations(ctx: Context) -> list[Association]:
    """ITI-57 only: the UpdateAvailabilityStatus and SubmitAssociation associations, and the associations
    submitted by a SubmitAssociation."""
    if ctx.transaction != "ITI-57":
        return []
    operations = [a for a in ctx.submission.associations if a.association_type in _UPDATE_ONLY]
    submitted = {
        a.target for a in operations if a.association_type == AssociationType.SUBMIT_ASSOCIATION.value
    }
    submitted_associations = (a for a in ctx.submission.associations if a.entry_uuid in submitted)
    return [*operations, *submitted_associations]


def _has_member(ctx: Context, a: Association, name: str) -> Iterator[Issue]:
    if a.source == ctx.submission_set_id:
        yield from _submission_set_member(ctx, a, name)
    elif a.source in ctx.folders or (is_uuid_id(a.source) and not ctx.in_message(a.source)):
        yield from _folder_member(ctx, a, name)
    else:
        yield metadata_error(
            name,
            "sourceObject",
            f"a HasMember source must be the SubmissionSet of the submission or a Folder, not {a.source!r}",
        )


def _submission_set_member(ctx: Context, a: Association, name: str) -> Iterator[Issue]:
    statuses = a.slot_values(SlotName.SUBMISSION_SET_STATUS)
    target = a.target
    if target in ctx.documents:
        expected: str | None = SubmissionSetStatus.ORIGINAL.value
    elif target in ctx.folders or target in ctx.associations:
        expected = None
    elif is_uuid_id(target) and not ctx.in_message(target):
        expected = SubmissionSetStatus.REFERENCE.value  # an existing DocumentEntry (submission.py checks)
    else:
        yield metadata_error(name, "targetObject", f"a SubmissionSet cannot have {target!r} as member")
        return
    if expected is None:
        return
    if len(statuses) != 1:
        yield metadata_error(
            name,
            SlotName.SUBMISSION_SET_STATUS,
            f"SubmissionSetStatus is required with one value ({expected}) on SubmissionSet -> DocumentEntry",
        )
    elif statuses[0] != expected:
        yield metadata_error(
            name,
            SlotName.SUBMISSION_SET_STATUS,
            f"SubmissionSetStatus {statuses[0]!r} for {target}: expected {expected!r} "
            f"({'the entry is in this submission' if expected == 'Original' else 'an existing entry'})",
        )


def _folder_member(ctx: Context, a: Association, name: str) -> Iterator[Issue]:
    target = a.target
    if not (target in ctx.documents or (is_uuid_id(target) and not ctx.in_message(target))):
        yield metadata_error(
            name, "targetObject", f"a Folder can only have DocumentEntries as members: {target!r}"
        )
    filed = bool(a.entry_uuid) and any(
        other.association_type == _HAS_MEMBER
        and other.source == ctx.submission_set_id
        and other.target == a.entry_uuid
        for other in ctx.submission.associations
    )
    if not filed:
        yield metadata_error(
            name,
            "targetObject",
            "a Folder -> DocumentEntry HasMember needs a SubmissionSet -> (this association) HasMember",
        )


def _relationship(ctx: Context, a: Association, name: str) -> Iterator[Issue]:
    if a.source not in ctx.documents:
        yield metadata_error(
            name,
            "sourceObject",
            f"the source of a {_short(a)} must be a new DocumentEntry of this submission",
        )
    if ctx.in_message(a.target):
        yield metadata_error(
            name,
            "targetObject",
            f"the target of a {_short(a)} must be an existing DocumentEntry of the registry",
        )


def _membership(ctx: Context) -> Iterator[Issue]:
    members = {
        a.target
        for a in ctx.submission.associations
        if a.association_type == _HAS_MEMBER and a.source == ctx.submission_set_id
    }
    if ctx.submission_set_id is None:
        return  # structure.py reports the missing SubmissionSet
    for object_id in (*ctx.documents, *ctx.folders):
        if object_id not in members:
            yield metadata_error(
                object_id,
                "HasMember",
                f"{object_id} is not a member of the SubmissionSet (HasMember missing)",
            )


def _one_replacement_per_target(ctx: Context) -> Iterator[Issue]:
    targets = Counter(a.target for a in ctx.submission.associations if a.association_type in _REPLACEMENTS)
    for target, n in targets.items():
        if n > 1:
            yield metadata_error(target, "targetObject", f"{n} replacements (RPLC/XFRM_RPLC) target {target}")


def _short(a: Association) -> str:
    return a.association_type.rsplit(":", 1)[-1]
