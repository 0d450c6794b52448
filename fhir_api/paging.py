"""Paging of search results across requests, with no state on the server.

A search answers its matches in the registry's order (registration order, ``seq``: deterministic, and new
objects only ever come last). The ``next`` link repeats the search parameters and adds ``_page``, a cursor
naming the position where the next page starts and the id of the last object already sent. The next request
re-runs the query in the caller's scope (so a page never shows what the caller may no longer see) and
resumes right after that object; if the object has left the result meanwhile (deprecated, removed, masked),
it resumes at the position. Any server process can serve any page: nothing lives in one process's memory.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fhir_api.outcome import FhirError

PAGE_PARAMETER = "_page"


@dataclass(frozen=True, slots=True)
class Page:
    """One page of matches: the total, the resources, and the cursor of the next page (None: last)."""

    total: int
    resources: list[dict[str, Any]]
    next_cursor: str | None


def cursor(position: int, last_id: str) -> str:
    raw = f"{position}:{last_id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def resume(ids: Sequence[str], token: str | None) -> int:
    """The index in ``ids`` where the page named by ``token`` starts (0 without a token)."""
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
        position_text, last_id = text.split(":", 1)
        position = int(position_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise FhirError.invalid(f"{PAGE_PARAMETER}: {token!r} is not a page of this search") from None
    if position < 0:
        raise FhirError.invalid(f"{PAGE_PARAMETER}: {token!r} is not a page of this search")
    try:
        return ids.index(last_id) + 1
    except ValueError:
        return min(position, len(ids))


__all__ = [
    "PAGE_PARAMETER",
    "Page",
    "cursor",
    "resume",
]
