"""Assertions shared by the validation tests."""

from __future__ import annotations

from xds_server.core.errors import ErrorCode, Issue
from xds_server.core.metadata import Submission
from xds_server.core.profile import IHE_DEFAULT, DomainProfile
from xds_server.core.validation import validate_submission


def errors(
    sub: Submission, profile: DomainProfile = IHE_DEFAULT, *, transaction: str = "ITI-42"
) -> list[Issue]:
    return [i for i in validate_submission(sub, profile, transaction=transaction) if i.is_error]


def assert_valid(
    sub: Submission, profile: DomainProfile = IHE_DEFAULT, *, transaction: str = "ITI-42"
) -> None:
    found = errors(sub, profile, transaction=transaction)
    assert found == [], found


def assert_refused(
    sub: Submission,
    code: ErrorCode,
    location: str,
    profile: DomainProfile = IHE_DEFAULT,
    *,
    transaction: str = "ITI-42",
    text: str = "",
) -> Issue:
    """Exactly the expected issue is among the errors (others may be too); returns it."""
    found = errors(sub, profile, transaction=transaction)
    matching = [i for i in found if i.code is code and i.location == location and text in i.message]
    assert matching, f"no {code} at {location!r} containing {text!r} in {found}"
    return matching[0]
