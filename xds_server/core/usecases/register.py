"""ITI-42 Register Document Set-b, as a use case: validate -> plan -> write (ITI TF-2b 3.42.4.1.3).

All or nothing (NIST 12084): every check of ``validation`` and ``submission`` runs before the first write,
and the writer is never called when any error was found. The caller owns the transaction (ports.py) and
rolls it back if this raises; it commits after a normal return.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC

from xds_server.core.errors import Issue, raise_if_errors
from xds_server.core.metadata import Submission
from xds_server.core.ports import Clock, IdFactory, RegistryStore
from xds_server.core.profile import DomainProfile
from xds_server.core.submission import RegistrationPlan, plan_registration
from xds_server.core.validation import validate_submission
from xds_server.core.vocabulary import Status


def register(
    submission: Submission,
    *,
    store: RegistryStore,
    profile: DomainProfile,
    clock: Clock,
    ids: IdFactory,
    transaction: str = "ITI-42",
    validated: tuple[Issue, ...] | None = None,
) -> tuple[Issue, ...]:
    """Register ``submission``; return the warnings, raise XdsError with every issue on failure.
    ``validated``: the warnings of ``validate_submission`` already run by the caller on this very
    submission, profile and transaction (ITI-41 validates before it stores documents): not run twice."""
    return register_plan(
        submission,
        store=store,
        profile=profile,
        clock=clock,
        ids=ids,
        transaction=transaction,
        validated=validated,
    ).warnings


def register_plan(
    submission: Submission,
    *,
    store: RegistryStore,
    profile: DomainProfile,
    clock: Clock,
    ids: IdFactory,
    transaction: str = "ITI-42",
    validated: tuple[Issue, ...] | None = None,
) -> RegistrationPlan:
    """As ``register``, returning the executed plan (final ids, deprecations) for audit and notifications;
    the plan's warnings include the validation warnings."""
    warnings = (
        validated
        if validated is not None
        else raise_if_errors(validate_submission(submission, profile, transaction=transaction))
    )
    plan = plan_registration(submission, profile=profile, reader=store, ids=ids, now=dtm_now(clock))
    store.add_objects(plan.objects)
    if plan.deprecate:
        store.set_status(plan.deprecate, Status.DEPRECATED.value)
    if plan.touch_folders:
        store.touch_folders(plan.touch_folders, plan.now)
    return dataclasses.replace(plan, warnings=(*warnings, *plan.warnings))


def dtm_now(clock: Clock) -> str:
    """The clock's time as an XDS DTM to the second, in UTC (XDS times are UTC); a naive time is UTC."""
    now = clock.now()
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return now.strftime("%Y%m%d%H%M%S")


__all__ = ["dtm_now", "register", "register_plan"]
