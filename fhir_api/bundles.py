"""Bundles the FHIR face answers: ``searchset`` (search results, paging links) and the entry shapes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from fhir_api.outcome import OutcomeIssue, outcome_json
from fhir_api.paging import PAGE_PARAMETER, Page
from fhir_api.search import SearchRequest


def search_url(base: str, resource_type: str, params: Iterable[tuple[str, str]]) -> str:
    query = urlencode(list(params))
    return f"{base}/{resource_type}" + (f"?{query}" if query else "")


def searchset(
    base: str,
    resources: Sequence[Mapping[str, Any]],
    *,
    self_link: str,
    total: int | None = None,
    next_link: str | None = None,
    previous_link: str | None = None,
    warnings: Sequence[OutcomeIssue] = (),
    included: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A searchset Bundle: ``resources`` as matches (fullUrl = base/Type/id), ``included`` as includes and
    warnings as one OperationOutcome entry (search.mode ``outcome``), as FHIR R4 §3.1.1.4 describes."""
    links = [{"relation": "self", "url": self_link}]
    if next_link:
        links.append({"relation": "next", "url": next_link})
    if previous_link:
        links.append({"relation": "previous", "url": previous_link})
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "match"},
        }
        for resource in resources
    ]
    entries.extend(
        {
            "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "include"},
        }
        for resource in included
    )
    if warnings:
        entries.append({"resource": outcome_json(warnings), "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if total is not None:
        bundle["total"] = total
    if entries:
        bundle["entry"] = entries
    return bundle


def page_bundle(base: str, resource_type: str, search: SearchRequest, page: Page) -> dict[str, Any]:
    """The searchset of one page of a search: self link, total, the ``next`` link carrying the cursor (the
    same parameters plus ``_page``), and the search's warnings."""
    next_link = None
    if page.next_cursor is not None:
        pairs = [(n, v) for n, v in search.pairs() if n != PAGE_PARAMETER]
        next_link = search_url(base, resource_type, [*pairs, (PAGE_PARAMETER, page.next_cursor)])
    return searchset(
        base,
        page.resources,
        self_link=search_url(base, resource_type, search.pairs()),
        total=page.total,
        next_link=next_link,
        warnings=search.warnings,
    )


__all__ = ["page_bundle", "search_url", "searchset"]
