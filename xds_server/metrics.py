"""Operational metrics in the Prometheus format (prometheus-client), served by ``GET /metrics`` (app.py).

One module so that every layer counts through the same names: the SOAP face (requests by transaction and
outcome, latency), the transport (refused connections and requests by reason), the use cases' limits
(refused metadata, queries), the blob store and the database (operation timings). Import the helpers, not
prometheus_client, so that names and labels stay in one place:

    from xds_server import metrics
    metrics.refused("metadata_limits")
    with metrics.timed_blob("put"):
        ...

Label values are bounded sets (transactions from the action table, outcomes, reasons named in code, blob
operations, read/write): never a client-supplied string, so a client cannot grow the series without bound.

The registry is this module's own ``REGISTRY`` (not prometheus_client's global one), so that tests and
several applications in one process share counters without "duplicated timeseries" errors; ``/metrics``
renders it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "observe_request",
    "refused",
    "render",
    "timed_blob",
    "timed_database",
]

REGISTRY: Final = CollectorRegistry(auto_describe=True)
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

#: Seconds: from 1 ms (a cached query) to 2 min (a large MTOM upload on a slow disk).
_LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120)

REQUESTS: Final = Counter(
    "xds_requests",
    "Requests by transaction (ITI-41 ..., ITI-67 ...) and outcome (SOAP: success, partial, failure, fault; "
    "FHIR: success, failure (4xx), error (5xx))",
    ["transaction", "outcome"],
    registry=REGISTRY,
)
REQUEST_SECONDS: Final = Histogram(
    "xds_request_duration_seconds",
    "Time to answer a request (SOAP: once its body is read), by transaction",
    ["transaction"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
REFUSALS: Final = Counter(
    "xds_refusals",
    "Connections and requests refused before any work, by reason (authentication, too_large, "
    "rate_limited, connection_limit, header_timeout, body_timeout, metadata_limits, query_limits ...)",
    ["reason"],
    registry=REGISTRY,
)
BLOB_SECONDS: Final = Histogram(
    "xds_blob_operation_duration_seconds",
    "Document store operations (put, open, exists, delete) by operation",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
DATABASE_SECONDS: Final = Histogram(
    "xds_database_transaction_duration_seconds",
    "Database transactions (read: queries and retrieves; write: submissions), from BEGIN to COMMIT",
    ["mode"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)


# ``labels(...)`` validates and looks up its child under a lock on every call: the children of these
# fixed, bounded label sets are looked up once (a few per request on the write path).
@functools.lru_cache(maxsize=256)
def _requests(transaction: str, outcome: str) -> Any:
    return REQUESTS.labels(transaction, outcome)


@functools.lru_cache(maxsize=64)
def _request_seconds(transaction: str) -> Any:
    return REQUEST_SECONDS.labels(transaction)


@functools.lru_cache(maxsize=64)
def _blob_seconds(operation: str) -> Any:
    return BLOB_SECONDS.labels(operation)


@functools.lru_cache(maxsize=8)
def _database_seconds(mode: str) -> Any:
    return DATABASE_SECONDS.labels(mode)


def observe_request(transaction: str, outcome: str, seconds: float) -> None:
    _requests(transaction, outcome).inc()
    _request_seconds(transaction).observe(seconds)


def refused(reason: str) -> None:
    """Count one refusal; ``reason`` is a fixed word chosen by the code, never the client's text."""
    REFUSALS.labels(reason).inc()


def observe_blob(operation: str, seconds: float) -> None:
    """One document store operation (``timed_blob`` without a context manager, for the hot path)."""
    _blob_seconds(operation).observe(seconds)


@contextmanager
def timed_blob(operation: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        _blob_seconds(operation).observe(time.perf_counter() - started)


@contextmanager
def timed_database(mode: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        _database_seconds(mode).observe(time.perf_counter() - started)


def render() -> bytes:
    """The exposition text of every metric (``GET /metrics``)."""
    return generate_latest(REGISTRY)
