"""Garbage collection of document blobs that no DocumentEntry references (``xds-server gc``).

Theory of operation. ITI-41 makes a blob durable before the registry commits, so a crash or a refused
submission can leave a blob without metadata; ITI-62 deletions leave some too. Such a blob is garbage, but
only once no in-flight request can still reference it:

1. list the blobs and keep as candidates those last modified before ``now - grace``;
2. *then* read the set of referenced hashes (every DocumentEntry, any status, any repositoryUniqueId);
3. for each candidate not referenced, delete it only if it is still older than the cutoff
   (``BlobStore.delete_if_older``): ``put_file`` of an existing key refreshes its time, so a request that is
   about to reference an old orphan makes it young again. The file store closes the race completely (the
   blob is moved aside atomically before it is judged); on S3 a re-upload landing between the final HEAD and
   the DELETE (milliseconds) is the one window left, and it needs a request that re-sends the bytes of a
   blob orphaned for longer than the grace period at that very moment.

A request that put its blob before step 1 and commits after step 2 has a young blob (unless it took longer
than the grace period between put and commit), so the grace period must exceed the longest request; the
default is a day. A referenced blob is never removed: the reference set is read after the listing, and
metadata can only start referencing a blob through ``put_file``. Spool files left in the staging folder by a
crashed request are removed once older than the grace period too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from xds_server.core.blobs import BlobStore, DocumentIndex

DEFAULT_GRACE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class GcReport:
    examined: int
    referenced: int
    too_young: int
    removed: tuple[str, ...]
    removed_bytes: int
    staging_removed: int
    dry_run: bool

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{self.examined} blobs examined: {self.referenced} referenced, "
            f"{self.too_young} within the grace period, "
            f"{verb} {len(self.removed)} unreferenced ({self.removed_bytes} bytes); "
            f"{self.staging_removed} stale staging files {verb}"
        )


def collect_garbage(
    blobs: BlobStore,
    open_index: Callable[[], AbstractContextManager[DocumentIndex]],
    *,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
    dry_run: bool = False,
) -> GcReport:
    if grace < timedelta(0):
        raise ValueError("the grace period cannot be negative")
    cutoff = (now or datetime.now(UTC)) - grace
    examined = 0
    candidates = []
    for info in blobs.list():
        examined += 1
        if info.modified < cutoff:
            candidates.append(info)
    with open_index() as index:
        referenced = index.referenced_hashes()

    removed: list[str] = []
    removed_bytes = 0
    kept_referenced = 0
    for info in candidates:
        if info.key in referenced:
            kept_referenced += 1
            continue
        current = blobs.info(info.key) if dry_run else blobs.delete_if_older(info.key, cutoff)
        if current is None or current.modified >= cutoff:
            continue
        removed.append(info.key)
        removed_bytes += current.size
    too_young = examined - len(candidates)
    staging_removed = _clean_staging(blobs, cutoff, dry_run)
    return GcReport(
        examined=examined,
        referenced=kept_referenced,
        too_young=too_young,
        removed=tuple(removed),
        removed_bytes=removed_bytes,
        staging_removed=staging_removed,
        dry_run=dry_run,
    )


#: Staging files older than this are left by a crashed or killed process (a request writes its spool file
#: while reading, and the body read times out after 30 s without progress): swept at start-up.
STAGING_SWEEP_AGE = timedelta(minutes=10)


def sweep_staging(blobs: BlobStore, *, older_than: timedelta = STAGING_SWEEP_AGE) -> int:
    """Remove the staging files a crashed process left (``serve`` runs it at start-up); how many. Files of
    requests in flight in another process sharing the store are younger and kept."""
    return _clean_staging(blobs, datetime.now(UTC) - older_than, dry_run=False)


def _clean_staging(blobs: BlobStore, cutoff: datetime, dry_run: bool) -> int:
    staging = blobs.staging_dir
    if not staging.is_dir():
        return 0
    count = 0
    for entry in staging.iterdir():
        try:
            modified = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
        except FileNotFoundError:
            continue
        if entry.is_file() and modified < cutoff:
            if not dry_run:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry)
            count += 1
    return count


__all__ = ["DEFAULT_GRACE", "STAGING_SWEEP_AGE", "GcReport", "collect_garbage", "sweep_staging"]
