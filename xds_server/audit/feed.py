"""The trail leaves the server: NDJSON export, and the ITI-20 "FHIR Feed" push to an Audit Record Repository.

``write_ndjson`` writes one stored AuditEvent per line, as recorded (the JSON the trail holds, not a
re-rendering). ``push`` sends each one with ``POST [ARR]/AuditEvent`` (``application/fhir+json``), in
recording order; a transport error, 429 or 5xx is retried with exponential backoff, any other refusal stops
the push at once. It stops at the first event it could not deliver and says which, so the operator re-runs
from there (``--since`` its recorded time): the ARR then receives every event, in order, possibly one twice
(an ARR keys AuditEvents by their id).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Protocol

import httpx

__all__ = ["FeedError", "PushReport", "StoredAuditEvent", "push", "write_ndjson"]

FHIR_JSON = "application/fhir+json"


class StoredAuditEvent(Protocol):
    @property
    def event_id(self) -> str: ...

    @property
    def resource(self) -> str: ...


class FeedError(Exception):
    """The push stopped: ``event_id`` (and those after it) were not delivered."""

    def __init__(self, message: str, event_id: str, delivered: int) -> None:
        super().__init__(message)
        self.event_id = event_id
        self.delivered = delivered


@dataclass(frozen=True, slots=True)
class PushReport:
    delivered: int
    retries: int


def write_ndjson(events: Iterable[StoredAuditEvent], out: IO[str]) -> int:
    count = 0
    for event in events:
        out.write(event.resource.replace("\n", " "))
        out.write("\n")
        count += 1
    return count


def _retryable(response: httpx.Response) -> bool:
    return response.status_code == 429 or response.status_code >= 500


def push(
    events: Iterable[StoredAuditEvent],
    base_url: str,
    *,
    client: httpx.Client | None = None,
    attempts: int = 5,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> PushReport:
    """POST every event to ``base_url``/AuditEvent; raise FeedError at the first one not delivered."""
    url = base_url.rstrip("/") + "/AuditEvent"
    owned = client is None
    http = client if client is not None else httpx.Client(timeout=30.0)
    delivered = retries = 0
    try:
        for event in events:
            for attempt in range(1, attempts + 1):
                problem: str
                try:
                    response = http.post(
                        url,
                        content=event.resource.encode(),
                        headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON},
                    )
                except httpx.HTTPError as error:
                    problem = f"{type(error).__name__}: {error}"
                else:
                    if response.is_success:
                        break
                    problem = f"HTTP {response.status_code}"
                    if not _retryable(response):
                        raise FeedError(
                            f"the ARR refused {event.event_id}: {problem}", event.event_id, delivered
                        )
                if attempt == attempts:
                    raise FeedError(
                        f"{event.event_id} not delivered after {attempts} attempts: {problem}",
                        event.event_id,
                        delivered,
                    )
                retries += 1
                sleep(backoff * 2 ** (attempt - 1))
            delivered += 1
    finally:
        if owned:
            http.close()
    return PushReport(delivered, retries)
