"""The XDS metadata model (ITI TF-3 4.2.3): plain, frozen, typed.

The model mirrors ebRIM closely enough for an exact round trip (ebxml codec: decode -> encode -> decode gives
an equal model), and no closer: attributes the registry reads are typed fields, every other Slot is kept in
``extra_slots`` in document order. Single-valued slots hold ``str | None`` as received; the registry does not
reinterpret a value before validation has looked at it, so a bad ``size`` is still reportable.

New versions are made with ``dataclasses.replace``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from xds_server.core.vocabulary import AssociationType, ObjectType, Status


@dataclass(frozen=True, slots=True)
class Code:
    """A coded value (classification): code, coding scheme, display name."""

    code: str
    scheme: str
    display: str = ""

    def key(self) -> str:
        """The form stored queries use: ``code^^scheme``."""
        return f"{self.code}^^{self.scheme}"


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Author:
    """An author classification (ITI TF-3 4.2.3.1.4): each part as received (XCN, XON, CWE, XTN strings)."""

    person: str | None = None
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()
    telecoms: tuple[str, ...] = ()
    extra_slots: tuple[Slot, ...] = ()


@dataclass(frozen=True, slots=True)
class LocalizedText:
    """ebRIM InternationalString reduced to what XDS uses: one value, optional lang/charset."""

    value: str
    lang: str | None = None
    charset: str | None = None


@dataclass(frozen=True, slots=True)
class RegistryObject:
    """What every top-level registry object shares.

    ``entry_uuid`` is the ebRIM id: a ``urn:uuid:`` once registered, possibly a symbolic id in a submission.
    ``logical_id`` (lid) and ``version`` come from the registry (Metadata Update); ``home`` is the
    homeCommunityId.
    """

    entry_uuid: str
    logical_id: str | None = None
    version: str | None = None
    status: str | None = None
    home: str | None = None
    title: LocalizedText | None = None
    comments: LocalizedText | None = None
    extra_slots: tuple[Slot, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentEntry(RegistryObject):
    object_type: str = ObjectType.STABLE_DOCUMENT.value
    mime_type: str = ""
    patient_id: str | None = None
    unique_id: str | None = None
    creation_time: str | None = None
    language_code: str | None = None
    source_patient_id: str | None = None
    source_patient_info: tuple[str, ...] = ()
    service_start_time: str | None = None
    service_stop_time: str | None = None
    hash: str | None = None
    size: str | None = None
    repository_unique_id: str | None = None
    uri: str | None = None
    legal_authenticator: str | None = None
    reference_ids: tuple[str, ...] = ()
    document_availability: str | None = None
    authors: tuple[Author, ...] = ()
    class_code: Code | None = None
    confidentiality_codes: tuple[Code, ...] = ()
    event_codes: tuple[Code, ...] = ()
    format_code: Code | None = None
    healthcare_facility_type_code: Code | None = None
    practice_setting_code: Code | None = None
    type_code: Code | None = None
    #: Classifications the model has no field for (for example limitedMetadata, which XDS refuses).
    other_classifications: tuple[tuple[str, Code], ...] = ()
    #: The repository's SHA-256 of the bytes (lower-case hex), its blob key: set by ITI-41 when it stores
    #: the document, never sent or encoded (``hash`` stays the XDS SHA-1), not part of equality.
    content_sha256: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class SubmissionSet(RegistryObject):
    patient_id: str | None = None
    unique_id: str | None = None
    source_id: str | None = None
    submission_time: str | None = None
    intended_recipients: tuple[str, ...] = ()
    authors: tuple[Author, ...] = ()
    content_type_code: Code | None = None
    other_classifications: tuple[tuple[str, Code], ...] = ()


@dataclass(frozen=True, slots=True)
class Folder(RegistryObject):
    patient_id: str | None = None
    unique_id: str | None = None
    last_update_time: str | None = None
    codes: tuple[Code, ...] = ()
    other_classifications: tuple[tuple[str, Code], ...] = ()


@dataclass(frozen=True, slots=True)
class Association(RegistryObject):
    association_type: str = AssociationType.HAS_MEMBER.value
    source: str = ""
    target: str = ""
    #: Slots (SubmissionSetStatus, PreviousVersion, OriginalStatus, NewStatus, AssociationPropagation ...)
    slots: tuple[Slot, ...] = ()
    documentation: Code | None = None

    def slot_values(self, name: str) -> tuple[str, ...]:
        for slot in self.slots:
            if slot.name == name:
                return slot.values
        return ()

    def slot_value(self, name: str) -> str | None:
        values = self.slot_values(name)
        return values[0] if values else None


AnyObject = DocumentEntry | SubmissionSet | Folder | Association
ObjectKind = Literal["DocumentEntry", "SubmissionSet", "Folder", "Association"]


def kind_of(obj: AnyObject) -> ObjectKind:
    if isinstance(obj, DocumentEntry):
        return "DocumentEntry"
    if isinstance(obj, SubmissionSet):
        return "SubmissionSet"
    if isinstance(obj, Folder):
        return "Folder"
    return "Association"


@dataclass(frozen=True, slots=True)
class DecodeProblem:
    """A structural problem the codec met (two values in a single-valued slot, a Classification without
    codingScheme ...). Validation turns each into an XDSRegistryMetadataError; decoding never stops early."""

    location: str
    message: str


@dataclass(frozen=True, slots=True)
class Submission:
    """The content of a SubmitObjectsRequest (ITI-41/42/57), in document order."""

    submission_sets: tuple[SubmissionSet, ...] = ()
    documents: tuple[DocumentEntry, ...] = ()
    folders: tuple[Folder, ...] = ()
    associations: tuple[Association, ...] = ()
    problems: tuple[DecodeProblem, ...] = field(default=(), compare=False)

    @property
    def submission_set(self) -> SubmissionSet | None:
        return self.submission_sets[0] if len(self.submission_sets) == 1 else None

    def objects(self) -> tuple[AnyObject, ...]:
        return (*self.submission_sets, *self.documents, *self.folders, *self.associations)


def is_uuid_id(identifier: str) -> bool:
    """ebRIM ids are either ``urn:uuid:`` values or symbolic names that the registry replaces."""
    return identifier.startswith("urn:uuid:")


__all__ = [
    "AnyObject",
    "Association",
    "Author",
    "Code",
    "DecodeProblem",
    "DocumentEntry",
    "Folder",
    "LocalizedText",
    "ObjectKind",
    "RegistryObject",
    "Slot",
    "Status",
    "Submission",
    "SubmissionSet",
    "is_uuid_id",
    "kind_of",
]
