"""ITI-62 Delete Document Set, as a use case: check the referential rules, then remove (rules:
core.metadata_update.check_removal).

All or nothing: nothing is removed unless every listed object exists and the removal leaves no dangling or
unreferenced object. A removed DocumentEntry is no longer retrievable (ITI-43 reads the registry); its
document stays in the blob store until ``xds-server gc`` collects it after the retention period.
"""

from __future__ import annotations

from collections.abc import Collection

from xds_server.core.metadata_update import check_removal
from xds_server.core.ports import VersionedRegistryStore

TRANSACTION = "ITI-62"


def delete(entry_uuids: Collection[str], *, store: VersionedRegistryStore) -> tuple[str, ...]:
    """Remove the listed registry objects; return the removed ids, raise XdsError with every issue."""
    removed = check_removal(entry_uuids, store)
    store.remove_objects(removed)
    return removed


__all__ = ["TRANSACTION", "delete"]
