"""``validate_submission``: every ITI-41/42 metadata rule that needs no registry, all issues collected."""

from __future__ import annotations

from xds_server.core.errors import Issue
from xds_server.core.metadata import Submission
from xds_server.core.profile import DomainProfile
from xds_server.core.validation import (
    associations,
    bindings,
    documents,
    original,
    packages,
    patients,
    structure,
)
from xds_server.core.validation.context import TRANSACTIONS, Context

#: Rule modules, in the order their issues are reported.
_RULES = (structure, original, packages, documents, patients, associations, bindings)


def validate_submission(
    sub: Submission, profile: DomainProfile, *, transaction: str = "ITI-42"
) -> list[Issue]:
    """Check ``sub`` against ITI TF-3 / TF-2b (rule book §(b)) and the domain ``profile``.

    Never stops at the first problem: the result lists every issue (errors, possibly warnings); an empty
    list means the submission may go on to the registry checks of ``core.submission``.
    """
    if transaction not in TRANSACTIONS:
        raise ValueError(f"validate_submission handles {sorted(TRANSACTIONS)}, not {transaction!r}")
    ctx = Context.build(sub, profile, transaction)
    issues: list[Issue] = []
    for rule in _RULES:
        issues.extend(rule.check(ctx))
    return issues
