"""Registry content for query tests, written through the real write path.

``Registry.register`` runs the core ``register`` use case (validation, id assignment, RPLC deprecation,
folder updates) on ``SqlRegistryStore`` with the real ebRIM encoder, in one committed transaction, exactly as
ITI-42 does; ``Registry.add`` writes already-final objects through ``SqlRegistryStore.add_objects`` (for
random metadata the validator would not accept, e.g. entries without service times). Queries run through
``SqlQueryPort`` on a read transaction.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from tests.core import builders as core
from xds_server.core.errors import XdsError
from xds_server.core.metadata import (
    AnyObject,
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    LocalizedText,
    Slot,
    Submission,
    SubmissionSet,
)
from xds_server.core.ports import PatientState
from xds_server.core.profile import IHE_DEFAULT
from xds_server.core.query import (
    EVERYTHING,
    QueryResult,
    QuerySettings,
    StoredQueryRequest,
    Transaction,
    Visibility,
    run_stored_query,
)
from xds_server.core.usecases.register import register
from xds_server.core.vocabulary import SlotName
from xds_server.ebxml.encoding import encode_object_xml
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.query_sql import SqlQueryPort
from xds_server.storage.registry import SqlRegistryStore

# One definition of the shared constants (tests.core.builders), named here for the query tests.
PATIENT = core.PATIENT
OTHER_PATIENT = core.OTHER_PATIENT
APPROVED = core.APPROVED
DEPRECATED = core.DEPRECATED
HAS_MEMBER = core.HAS_MEMBER
RPLC = core.RPLC
APND = core.APND
HASH = core.HASH
SIZE = core.SIZE
REPOSITORY = core.REPOSITORY
NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
}
SCHEME = "1.3.6.1.4.1.21367.100.1"
CONF_SCHEME = "2.16.840.1.113883.5.25"

_uids = itertools.count(1)


def adhoc(query_id: str, params: Mapping[str, str | list[str]], return_type: str = "ObjectRef") -> str:
    """An ITI-18 AdhocQueryRequest body; a list value gives one Slot per item (repeated parameter)."""
    slots = []
    for name, value in params.items():
        for text in value if isinstance(value, list) else [value]:
            slots.append(
                f'<rim:Slot name="{name}"><rim:ValueList><rim:Value>{escape(text)}</rim:Value>'
                "</rim:ValueList></rim:Slot>"
            )
    return (
        f'<query:AdhocQueryRequest xmlns:query="{NS["query"]}" xmlns:rim="{NS["rim"]}">'
        f'<query:ResponseOption returnComposedObjects="true" returnType="{return_type}"/>'
        f'<rim:AdhocQuery id="{query_id}">{"".join(slots)}</rim:AdhocQuery></query:AdhocQueryRequest>'
    )


def new_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def new_uid() -> str:
    return f"1.3.6.1.4.1.21367.2005.3.99.{next(_uids)}.{uuid.uuid4().int % 10**9}"


def code(value: str, scheme: str = SCHEME) -> Code:
    return Code(value, scheme, f"display {value}")


def key(value: str, scheme: str = SCHEME) -> str:
    return f"{value}^^{scheme}"


def document(**changes: Any) -> DocumentEntry:
    base = DocumentEntry(
        entry_uuid=new_uuid(),
        title=LocalizedText("A document"),
        mime_type="text/plain",
        patient_id=PATIENT,
        unique_id=new_uid(),
        creation_time="20041225212010",
        language_code="en-us",
        source_patient_id="j98789^^^&1.2.3.4.343.1&ISO",
        service_start_time="200412230800",
        service_stop_time="200412230801",
        hash=HASH,
        size=SIZE,
        repository_unique_id=REPOSITORY,
        authors=(Author(person="^Smith^John", institutions=("Some Hospital",)),),
        class_code=code("Education"),
        confidentiality_codes=(code("N", CONF_SCHEME),),
        format_code=code("CDAR2/IHE 1.0"),
        healthcare_facility_type_code=code("Outpatient"),
        practice_setting_code=code("General Medicine"),
        type_code=code("34108-1"),
    )
    return dataclasses.replace(base, **changes)


def submission_set(**changes: Any) -> SubmissionSet:
    base = SubmissionSet(
        entry_uuid=new_uuid(),
        patient_id=PATIENT,
        unique_id=new_uid(),
        source_id="1.3.6.1.4.1.21367.2009.1.2.1",
        submission_time="20041225235050",
        authors=(Author(person="^Dopplemeyer^Sherry", institutions=("Some Hospital",)),),
        content_type_code=code("Communication"),
    )
    return dataclasses.replace(base, **changes)


def folder(**changes: Any) -> Folder:
    base = Folder(
        entry_uuid=new_uuid(),
        title=LocalizedText("A folder"),
        patient_id=PATIENT,
        unique_id=new_uid(),
        codes=(code("Referrals"),),
    )
    return dataclasses.replace(base, **changes)


def association(source: str, target: str, kind: str = HAS_MEMBER, **changes: Any) -> Association:
    return dataclasses.replace(
        Association(entry_uuid=new_uuid(), association_type=kind, source=source, target=target), **changes
    )


def member(ss: SubmissionSet, target: str, status: str | None = "Original") -> Association:
    slots = (Slot(SlotName.SUBMISSION_SET_STATUS.value, (status,)),) if status else ()
    return association(ss.entry_uuid, target, slots=slots)


def submission(
    ss: SubmissionSet,
    *documents: DocumentEntry,
    folders: Sequence[Folder] = (),
    associations: Sequence[Association] = (),
) -> Submission:
    """``ss`` with HasMember (Original) to each new document and folder, plus ``associations``."""
    members = [member(ss, d.entry_uuid) for d in documents] + [
        member(ss, f.entry_uuid, None) for f in folders
    ]
    return Submission(
        submission_sets=(ss,),
        documents=tuple(documents),
        folders=tuple(folders),
        associations=(*members, *associations),
    )


def filed(ss: SubmissionSet, fol: Folder, doc: DocumentEntry) -> tuple[Association, Association]:
    """Folder -> DocumentEntry HasMember, and the SubmissionSet -> that association HasMember."""
    link = association(fol.entry_uuid, doc.entry_uuid)
    return link, association(ss.entry_uuid, link.entry_uuid)


class FixedClock:
    def now(self) -> datetime:
        return datetime(2024, 1, 2, 10, 30, tzinfo=UTC)


class Uuids:
    def new_uuid(self) -> str:
        return new_uuid()


def stored(obj: AnyObject, status: str = APPROVED) -> AnyObject:
    """``obj`` as the registry holds it after registration (lid = id, version 1)."""
    return dataclasses.replace(obj, logical_id=obj.entry_uuid, version="1", status=status)


class Registry:
    """Writes through the real write path, queries through ``SqlQueryPort``."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._patients: set[str] = set()

    def patient(self, patient_id: str) -> None:
        if patient_id in self._patients:
            return
        with self.database.transaction() as connection:
            SqlPatientDirectory(connection).add(patient_id, PatientState.ACTIVATED)
        self._patients.add(patient_id)

    def register(self, submission: Submission) -> None:
        for ss in submission.submission_sets:
            if ss.patient_id:
                self.patient(ss.patient_id)
        with self.database.transaction() as connection:
            register(
                submission,
                store=SqlRegistryStore(connection, encode_object_xml),
                profile=IHE_DEFAULT,
                clock=FixedClock(),
                ids=Uuids(),
            )

    def add(self, objects: Sequence[AnyObject]) -> None:
        with self.database.transaction() as connection:
            SqlRegistryStore(connection, encode_object_xml).add_objects(list(objects))

    @contextmanager
    def port(self) -> Iterator[SqlQueryPort]:
        with self.database.transaction(readonly=True) as connection:
            yield SqlQueryPort(connection)

    def query(
        self,
        query_id: str,
        params: dict[str, str | Sequence[str] | list[Sequence[str]]] | None = None,
        *,
        slots: Sequence[Slot] = (),
        return_type: str = "ObjectRef",
        settings: QuerySettings | None = None,
        scope: Visibility = EVERYTHING,
        transaction: Transaction = Transaction.STORED_QUERY,
    ) -> QueryResult:
        request = StoredQueryRequest(
            query_id, return_type=return_type, slots=(*slots_of(params or {}), *slots)
        )
        with self.port() as port:
            return run_stored_query(
                request, port, settings=settings or QuerySettings(), scope=scope, transaction=transaction
            )

    def ids(self, query_id: str, params: dict[str, Any] | None = None, **kwargs: Any) -> set[str]:
        return set(self.query(query_id, params, **kwargs).object_refs)

    def error(self, query_id: str, params: dict[str, Any] | None = None, **kwargs: Any) -> set[str]:
        """The error codes the query fails with (asserts that it fails)."""
        try:
            self.query(query_id, params, **kwargs)
        except XdsError as error:
            return {issue.code.value for issue in error.issues}
        raise AssertionError("the query succeeded")


def slots_of(params: dict[str, Any]) -> list[Slot]:
    """{name: 'raw value' | ('raw', 'values') | [(slot 1 values), (slot 2 values)]} -> Slots.

    A list means repeated Slots (AND); a tuple is the rim:Value texts of one Slot; a str one rim:Value.
    """
    slots: list[Slot] = []
    for name, value in params.items():
        if isinstance(value, list):
            slots.extend(Slot(name, tuple(v) if isinstance(v, tuple) else (v,)) for v in value)
        elif isinstance(value, tuple):
            slots.append(Slot(name, value))
        else:
            slots.append(Slot(name, (value,)))
    return slots


def q(*values: str) -> str:
    """A quoted, parenthesised list: q('a', "b'c") -> "('a','b''c')"."""
    return "(" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def s(value: str) -> str:
    """One quoted string."""
    return "'" + value.replace("'", "''") + "'"
