"""In-memory fakes of the core ports (ports.py), for use-case tests: no database, same contract.

    InMemoryRegistryStore   RegistryStore (reader + writer) and PatientDirectory over dicts
    FixedClock              Clock returning one instant (advance() to move it)
    SequentialIds           IdFactory giving urn:uuid:00000000-0000-4000-8000-000000000001, ...2, ...

The store records every write call in ``writes`` so a test can assert that a failed request wrote nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from xds_server.core.metadata import AnyObject, Association, DocumentEntry, Folder, SubmissionSet, kind_of
from xds_server.core.patient_feed import StoredPatient
from xds_server.core.ports import ObjectSummary, PatientState, StoredDocumentIdentity

if TYPE_CHECKING:
    from xds_server.core.ports import Clock, IdFactory, PatientDirectory, RegistryStore


class InMemoryRegistryStore:
    """A registry held in dicts; implements ``RegistryStore`` and ``PatientDirectory``."""

    def __init__(self, patients: Iterable[tuple[str, PatientState]] = ()) -> None:
        self.objects: dict[str, AnyObject] = {}
        self.patients: dict[str, PatientState] = dict(patients)
        self.writes: list[tuple[str, object]] = []
        self.locks: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        self.patient_locks: list[str] = []

    # -- RegistryReader -----------------------------------------------------------------------------
    def patient_state(self, patient_id: str) -> PatientState | None:
        return self.patients.get(patient_id)

    def summaries(self, entry_uuids: Collection[str]) -> dict[str, ObjectSummary]:
        return {u: summarise(self.objects[u]) for u in entry_uuids if u in self.objects}

    def documents_by_unique_id(self, unique_ids: Collection[str]) -> list[StoredDocumentIdentity]:
        wanted = set(unique_ids)
        return [
            StoredDocumentIdentity(o.entry_uuid, o.unique_id, o.hash, o.size)
            for o in self.objects.values()
            if isinstance(o, DocumentEntry) and o.unique_id is not None and o.unique_id in wanted
        ]

    def package_unique_ids_in_use(self, unique_ids: Collection[str]) -> set[str]:
        wanted = set(unique_ids)
        return {
            o.unique_id
            for o in self.objects.values()
            if isinstance(o, SubmissionSet | Folder) and o.unique_id is not None and o.unique_id in wanted
        }

    def associations_touching(
        self, entry_uuids: Collection[str], types: Collection[str] | None = None
    ) -> list[ObjectSummary]:
        ends = set(entry_uuids)
        return [
            summarise(o)
            for o in self.objects.values()
            if isinstance(o, Association)
            and (o.source in ends or o.target in ends)
            and (types is None or o.association_type in types)
        ]

    def lock_patient(self, patient_id: str) -> None:
        self.patient_locks.append(patient_id)

    def lock(self, entry_uuids: Collection[str], unique_ids: Collection[str]) -> None:
        # One caller at a time: nothing to serialise; recorded so a test can check what the planner locks.
        self.locks.append((tuple(entry_uuids), tuple(unique_ids)))

    # -- RegistryWriter -----------------------------------------------------------------------------
    def add_objects(self, objects: Sequence[AnyObject]) -> None:
        self.writes.append(("add_objects", tuple(objects)))
        for obj in objects:
            if obj.entry_uuid in self.objects:
                raise ValueError(f"{obj.entry_uuid} already stored")
            if not obj.entry_uuid.startswith("urn:uuid:") or obj.status is None or obj.logical_id is None:
                raise ValueError(f"{obj.entry_uuid}: ids, lid and status must be final before storing")
            self.objects[obj.entry_uuid] = obj

    def set_status(self, entry_uuids: Collection[str], status: str) -> None:
        self.writes.append(("set_status", (tuple(entry_uuids), status)))
        for u in entry_uuids:
            self.objects[u] = dataclasses.replace(self.objects[u], status=status)

    def touch_folders(self, folder_uuids: Collection[str], last_update_time: str) -> None:
        self.writes.append(("touch_folders", (tuple(folder_uuids), last_update_time)))
        for u in folder_uuids:
            folder = self.objects[u]
            if not isinstance(folder, Folder):
                raise TypeError(f"{u} is not a Folder")
            self.objects[u] = dataclasses.replace(folder, last_update_time=last_update_time)

    # -- test helpers -------------------------------------------------------------------------------
    def put(self, *objects: AnyObject) -> None:
        """Seed stored objects directly (they must already carry final ids and statuses)."""
        for obj in objects:
            self.objects[obj.entry_uuid] = obj

    def status_of(self, entry_uuid: str) -> str | None:
        return self.objects[entry_uuid].status

    def of_kind(self, kind: type[object]) -> list[AnyObject]:
        return [o for o in self.objects.values() if isinstance(o, kind)]

    # -- PatientDirectory (last: its ``list`` method would shadow the builtin in later annotations) --
    def add(self, patient_id: str, state: PatientState = PatientState.ACTIVATED) -> None:
        self.patients[patient_id] = state

    def set_state(self, patient_id: str, state: PatientState) -> None:
        if patient_id not in self.patients:
            raise KeyError(patient_id)
        self.patients[patient_id] = state

    def get(self, patient_id: str) -> PatientState | None:
        return self.patients.get(patient_id)

    def birth_date(self, patient_id: str) -> date | None:
        return None  # the fake records no birth dates

    def stored(self, patient_id: str) -> StoredPatient | None:
        state = self.patients.get(patient_id)
        return StoredPatient(patient_id, state) if state is not None else None  # no demographics

    def list(self) -> Iterable[tuple[str, PatientState]]:
        return sorted(self.patients.items())


def summarise(obj: AnyObject) -> ObjectSummary:
    common = {
        "entry_uuid": obj.entry_uuid,
        "kind": kind_of(obj),
        "status": obj.status or "",
        "logical_id": obj.logical_id or obj.entry_uuid,
        "version": int(obj.version or 1),
    }
    if isinstance(obj, Association):
        return ObjectSummary(
            **common,  # type: ignore[arg-type]
            patient_id=None,
            association_type=obj.association_type,
            source=obj.source,
            target=obj.target,
        )
    return ObjectSummary(**common, patient_id=obj.patient_id, unique_id=obj.unique_id)  # type: ignore[arg-type]


class FixedClock:
    def __init__(self, now: datetime = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class SequentialIds:
    def __init__(self, start: int = 1) -> None:
        self._next = start

    def new_uuid(self) -> str:
        value = self._next
        self._next += 1
        return f"urn:uuid:00000000-0000-4000-8000-{value:012d}"


if TYPE_CHECKING:  # mypy checks that the fakes satisfy the ports
    _store: RegistryStore = InMemoryRegistryStore()
    _patients: PatientDirectory = InMemoryRegistryStore()
    _clock: Clock = FixedClock()
    _ids: IdFactory = SequentialIds()

__all__ = ["FixedClock", "InMemoryRegistryStore", "SequentialIds", "summarise"]
