"""ITI-57 Update Document Set, as a use case: validate -> plan -> write (rules: core.metadata_update).

The same validation as ITI-42 runs first (``transaction="ITI-57"``: a new version is a complete object, with
hash, size and repositoryUniqueId), then the registry-side plan; nothing is written unless both found no
error. The caller owns the transaction and rolls it back if this raises (all or nothing).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from xds_server.core.errors import Issue, raise_if_errors
from xds_server.core.metadata import Submission
from xds_server.core.metadata_update import UpdatePlan, plan_update
from xds_server.core.ports import Clock, IdFactory, VersionedRegistryStore
from xds_server.core.profile import DomainProfile
from xds_server.core.usecases.register import dtm_now
from xds_server.core.validation import validate_submission

TRANSACTION = "ITI-57"


def update(
    submission: Submission,
    *,
    store: VersionedRegistryStore,
    profile: DomainProfile,
    clock: Clock,
    ids: IdFactory,
) -> tuple[Issue, ...]:
    """Apply the ITI-57 request ``submission``; return the warnings, raise XdsError with every issue."""
    return update_plan(submission, store=store, profile=profile, clock=clock, ids=ids).warnings


def update_plan(
    submission: Submission,
    *,
    store: VersionedRegistryStore,
    profile: DomainProfile,
    clock: Clock,
    ids: IdFactory,
) -> UpdatePlan:
    """As ``update``, returning the executed plan (for audit and notifications); its warnings include the
    validation warnings."""
    warnings = raise_if_errors(validate_submission(submission, profile, transaction=TRANSACTION))
    plan = plan_update(submission, profile=profile, reader=store, ids=ids, now=dtm_now(clock))
    store.add_objects(plan.objects)
    by_status: defaultdict[str, list[str]] = defaultdict(list)
    for entry_uuid, status in plan.status_changes:
        by_status[status].append(entry_uuid)
    for status, entry_uuids in sorted(by_status.items()):
        store.set_status(entry_uuids, status)
    if plan.touch_folders:
        store.touch_folders(plan.touch_folders, plan.now)
    return dataclasses.replace(plan, warnings=(*warnings, *plan.warnings))


__all__ = ["TRANSACTION", "update", "update_plan"]
