"""Protocol-neutral reads of registry objects for the faces that do not speak ebRIM (the FHIR face).

The query port returns rows with the stored canonical ebRIM XML; a face that maps objects to another model
needs them decoded. The XML keeps the status an object had when it was registered: the row's status is the
authoritative one and replaces it here, so no face ever shows a stale status.
"""

from __future__ import annotations

import dataclasses

from xds_server.core.metadata import AnyObject, Folder
from xds_server.core.query import ObjectRow
from xds_server.ebxml.codec import decode_object_xml

__all__ = ["decoded"]


def decoded(row: ObjectRow) -> AnyObject:
    """The registry object of a row read ``with_xml`` (status and Folder lastUpdateTime from the row)."""
    if row.xml is None:
        raise ValueError(f"{row.entry_uuid} was read without its XML")  # programming error
    obj = dataclasses.replace(decode_object_xml(row.xml), status=row.status)
    if isinstance(obj, Folder) and row.last_update_time is not None:
        obj = dataclasses.replace(obj, last_update_time=row.last_update_time)
    return obj
