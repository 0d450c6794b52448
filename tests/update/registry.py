"""A registry on the test database (SQLite, or PostgreSQL with XDS_DATABASE_URL) driven through the core use
cases, and builders for ITI-57 requests. Shared by tests/update and tests/delete."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Sequence

from tests.core.builders import APPROVED, DEPRECATED, HAS_MEMBER, PATIENT, submission_set
from tests.fakes import FixedClock
from xds_server.core.identifiers import canonical_patient_id
from xds_server.core.metadata import (
    AnyObject,
    Association,
    DocumentEntry,
    Folder,
    Slot,
    Submission,
    SubmissionSet,
)
from xds_server.core.metadata_update import UpdatePlan
from xds_server.core.ports import ObjectSummary, PatientState
from xds_server.core.profile import IHE_DEFAULT, DomainProfile
from xds_server.core.query import EVERYTHING, QueryResult, StoredQueryRequest, run_stored_query
from xds_server.core.submission import RegistrationPlan
from xds_server.core.usecases.delete import delete
from xds_server.core.usecases.register import register_plan
from xds_server.core.usecases.update import update_plan
from xds_server.core.vocabulary import AssociationType, SlotName
from xds_server.ebxml.codec import encode_object_xml
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.query_sql import SqlQueryPort
from xds_server.storage.registry import SqlRegistryStore

UAS = AssociationType.UPDATE_AVAILABILITY_STATUS.value
SUBMIT = AssociationType.SUBMIT_ASSOCIATION.value
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
GET_FOLDERS = "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4"
GET_FOLDER_AND_CONTENTS = "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7"
GET_RELATED = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"


class UuidIds:
    def new_uuid(self) -> str:
        return f"urn:uuid:{uuid.uuid4()}"


class Registry:
    """Each call is one committed (or rolled back) transaction, as a SOAP request would be."""

    def __init__(self, database: Database, profile: DomainProfile = IHE_DEFAULT) -> None:
        self.database = database
        self.profile = profile
        self.clock = FixedClock()
        self.ids = UuidIds()

    def add_patient(self, patient_id: str) -> None:
        with self.database.transaction() as connection:
            SqlPatientDirectory(connection).add(
                canonical_patient_id(patient_id, self.profile), PatientState.ACTIVATED
            )

    def register(self, sub: Submission) -> RegistrationPlan:
        with self.database.transaction() as connection:
            return register_plan(
                sub, store=self._store(connection), profile=self.profile, clock=self.clock, ids=self.ids
            )

    def update(self, sub: Submission) -> UpdatePlan:
        with self.database.transaction() as connection:
            return update_plan(
                sub, store=self._store(connection), profile=self.profile, clock=self.clock, ids=self.ids
            )

    def delete(self, entry_uuids: Collection[str]) -> tuple[str, ...]:
        with self.database.transaction() as connection:
            return delete(entry_uuids, store=self._store(connection))

    def summary(self, entry_uuid: str) -> ObjectSummary | None:
        with self.database.transaction(readonly=True) as connection:
            return self._store(connection).summaries([entry_uuid]).get(entry_uuid)

    def latest(self, lid: str) -> ObjectSummary | None:
        with self.database.transaction(readonly=True) as connection:
            return self._store(connection).latest_versions([lid]).get(lid)

    def object(self, entry_uuid: str) -> AnyObject:
        from xds_server.ebxml.codec import decode_object_xml

        with self.database.transaction(readonly=True) as connection:
            return decode_object_xml(self._store(connection).xml_of([entry_uuid])[entry_uuid])

    def touching(self, entry_uuid: str) -> list[ObjectSummary]:
        with self.database.transaction(readonly=True) as connection:
            return self._store(connection).associations_touching([entry_uuid])

    def query(self, query_id: str, return_type: str = "LeafClass", **params: str) -> QueryResult:
        slots = tuple(Slot(f"${name}", (value,)) for name, value in params.items())
        with self.database.transaction(readonly=True) as connection:
            return run_stored_query(
                StoredQueryRequest(query_id, return_type, slots=slots),
                SqlQueryPort(connection),
                scope=EVERYTHING,
            )

    def _store(self, connection: object) -> SqlRegistryStore:
        return SqlRegistryStore(connection, encode_object_xml)  # type: ignore[arg-type]


def quoted(*values: str) -> str:
    """A stored-query list value: ('a','b')."""
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


def version_member(
    target: str,
    previous_version: str | None = "1",
    *,
    propagation: str | None = None,
    ss_status: str | None = "Original",
    extra: Sequence[Slot] = (),
    ss_id: str = "SubmissionSet01",
) -> Association:
    """SubmissionSet -> new version HasMember with the Metadata Update slots."""
    slots: list[Slot] = []
    if ss_status is not None:
        slots.append(Slot(SlotName.SUBMISSION_SET_STATUS.value, (ss_status,)))
    if previous_version is not None:
        slots.append(Slot(SlotName.PREVIOUS_VERSION.value, (previous_version,)))
    if propagation is not None:
        slots.append(Slot(SlotName.ASSOCIATION_PROPAGATION.value, (propagation,)))
    slots.extend(extra)
    return Association(
        entry_uuid=f"{ss_id}->{target}",
        association_type=HAS_MEMBER,
        source=ss_id,
        target=target,
        slots=tuple(slots),
    )


def status_update(
    target: str, original: str | None = APPROVED, new: str | None = DEPRECATED, *, extra: Sequence[Slot] = ()
) -> Association:
    slots = [Slot(SlotName.ORIGINAL_STATUS.value, (original,))] if original is not None else []
    if new is not None:
        slots.append(Slot(SlotName.NEW_STATUS.value, (new,)))
    return Association(
        entry_uuid=f"UAS->{target}",
        association_type=UAS,
        source="SubmissionSet01",
        target=target,
        slots=(*slots, *extra),
    )


def submitted(
    source: str, target: str, kind: str = HAS_MEMBER, name: str = "Association01"
) -> tuple[Association, ...]:
    """A SubmitAssociation of a new ``kind`` association ``source`` -> ``target``."""
    return (
        Association(entry_uuid=f"SS->{name}", association_type=SUBMIT, source="SubmissionSet01", target=name),
        Association(entry_uuid=name, association_type=kind, source=source, target=target),
    )


def update_request(
    *objects: DocumentEntry | Folder,
    associations: Sequence[Association] = (),
    previous_version: str | None = "1",
    propagation: str | None = None,
    patient_id: str = PATIENT,
    ss: SubmissionSet | None = None,
) -> Submission:
    """An ITI-57 request: a new SubmissionSet, the new versions and their HasMember, then ``associations``."""
    members = [
        version_member(
            o.entry_uuid,
            previous_version,
            propagation=propagation,
            ss_status="Original" if isinstance(o, DocumentEntry) else None,
        )
        for o in objects
    ]
    return Submission(
        submission_sets=(ss or submission_set(patient_id=patient_id),),
        documents=tuple(o for o in objects if isinstance(o, DocumentEntry)),
        folders=tuple(o for o in objects if isinstance(o, Folder)),
        associations=(*members, *associations),
    )


def next_version(
    registered: DocumentEntry | Folder, lid: str, new_id: str = "", **changes: object
) -> DocumentEntry | Folder:
    """The submitter's new version of ``registered`` (as it was submitted), with a new symbolic id."""
    name = new_id or ("Document01" if isinstance(registered, DocumentEntry) else "Folder01")
    return dataclasses.replace(registered, entry_uuid=name, logical_id=lid, **changes)  # type: ignore[arg-type]
