"""Where each XDS attribute lives in ebRIM, per object kind: one table drives both decoding and encoding.

Keys are the spec's own strings (slot names, classification and identification schemes); values are the
field names of the core model (xds_server/core/metadata.py). Table order is the canonical output order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from xds_server.core.vocabulary import ClassificationScheme as CS
from xds_server.core.vocabulary import IdentificationScheme as IS
from xds_server.core.vocabulary import SlotName as SN


def _frozen(items: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType({str(k): v for k, v in items.items()})


@dataclass(frozen=True, slots=True)
class KindSpec:
    """The ebRIM layout of one XDS object kind."""

    #: rim element local name used for ``location`` strings and output
    element: str
    single_slots: Mapping[str, str]
    multi_slots: Mapping[str, str]
    single_codes: Mapping[str, str]
    multi_codes: Mapping[str, str]
    author_scheme: str | None
    #: identificationScheme -> (field, conventional Name of the ExternalIdentifier)
    identifiers: Mapping[str, tuple[str, str]]
    typed_slot_names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "typed_slot_names", frozenset({*self.single_slots, *self.multi_slots}))


DOCUMENT_ENTRY: Final = KindSpec(
    element="ExtrinsicObject",
    single_slots=_frozen(
        {
            SN.CREATION_TIME: "creation_time",
            SN.LANGUAGE_CODE: "language_code",
            SN.SOURCE_PATIENT_ID: "source_patient_id",
            SN.SERVICE_START_TIME: "service_start_time",
            SN.SERVICE_STOP_TIME: "service_stop_time",
            SN.HASH: "hash",
            SN.SIZE: "size",
            SN.REPOSITORY_UNIQUE_ID: "repository_unique_id",
            SN.URI: "uri",
            SN.LEGAL_AUTHENTICATOR: "legal_authenticator",
            SN.DOCUMENT_AVAILABILITY: "document_availability",
        }
    ),
    multi_slots=_frozen(
        {
            SN.SOURCE_PATIENT_INFO: "source_patient_info",
            SN.REFERENCE_ID_LIST: "reference_ids",
        }
    ),
    single_codes=_frozen(
        {
            CS.DE_CLASS_CODE: "class_code",
            CS.DE_FORMAT_CODE: "format_code",
            CS.DE_HEALTHCARE_FACILITY_TYPE_CODE: "healthcare_facility_type_code",
            CS.DE_PRACTICE_SETTING_CODE: "practice_setting_code",
            CS.DE_TYPE_CODE: "type_code",
        }
    ),
    multi_codes=_frozen(
        {
            CS.DE_CONFIDENTIALITY_CODE: "confidentiality_codes",
            CS.DE_EVENT_CODE: "event_codes",
        }
    ),
    author_scheme=CS.DE_AUTHOR.value,
    identifiers=MappingProxyType(
        {
            IS.DE_PATIENT_ID.value: ("patient_id", "XDSDocumentEntry.patientId"),
            IS.DE_UNIQUE_ID.value: ("unique_id", "XDSDocumentEntry.uniqueId"),
        }
    ),
)

SUBMISSION_SET: Final = KindSpec(
    element="RegistryPackage",
    single_slots=_frozen({SN.SUBMISSION_TIME: "submission_time"}),
    multi_slots=_frozen({SN.INTENDED_RECIPIENT: "intended_recipients"}),
    single_codes=_frozen({CS.SS_CONTENT_TYPE_CODE: "content_type_code"}),
    multi_codes=_frozen({}),
    author_scheme=CS.SS_AUTHOR.value,
    identifiers=MappingProxyType(
        {
            IS.SS_UNIQUE_ID.value: ("unique_id", "XDSSubmissionSet.uniqueId"),
            IS.SS_SOURCE_ID.value: ("source_id", "XDSSubmissionSet.sourceId"),
            IS.SS_PATIENT_ID.value: ("patient_id", "XDSSubmissionSet.patientId"),
        }
    ),
)

FOLDER: Final = KindSpec(
    element="RegistryPackage",
    single_slots=_frozen({SN.LAST_UPDATE_TIME: "last_update_time"}),
    multi_slots=_frozen({}),
    single_codes=_frozen({}),
    multi_codes=_frozen({CS.FOLDER_CODE_LIST: "codes"}),
    author_scheme=None,
    identifiers=MappingProxyType(
        {
            IS.FOLDER_PATIENT_ID.value: ("patient_id", "XDSFolder.patientId"),
            IS.FOLDER_UNIQUE_ID.value: ("unique_id", "XDSFolder.uniqueId"),
        }
    ),
)

#: What each XDS classificationScheme codes (ITI TF-3 Table 4.2.5-1), to name it in error messages.
SCHEME_NAMES: Final = _frozen(
    {
        CS.DE_AUTHOR: "DocumentEntry.author",
        CS.DE_CLASS_CODE: "DocumentEntry.classCode",
        CS.DE_CONFIDENTIALITY_CODE: "DocumentEntry.confidentialityCode",
        CS.DE_EVENT_CODE: "DocumentEntry.eventCodeList",
        CS.DE_FORMAT_CODE: "DocumentEntry.formatCode",
        CS.DE_HEALTHCARE_FACILITY_TYPE_CODE: "DocumentEntry.healthcareFacilityTypeCode",
        CS.DE_PRACTICE_SETTING_CODE: "DocumentEntry.practiceSettingCode",
        CS.DE_TYPE_CODE: "DocumentEntry.typeCode",
        CS.DE_LIMITED_METADATA: "DocumentEntry.limitedMetadata",
        CS.SS_AUTHOR: "SubmissionSet.author",
        CS.SS_CONTENT_TYPE_CODE: "SubmissionSet.contentTypeCode",
        CS.SS_LIMITED_METADATA: "SubmissionSet.limitedMetadata",
        CS.FOLDER_CODE_LIST: "Folder.codeList",
        CS.FOLDER_LIMITED_METADATA: "Folder.limitedMetadata",
        CS.ASSOCIATION_DOCUMENTATION: "Association.documentation",
    }
)


def kind_name(spec: KindSpec) -> str:
    return {id(DOCUMENT_ENTRY): "DocumentEntry", id(SUBMISSION_SET): "SubmissionSet"}.get(id(spec), "Folder")


def schemes_of(spec: KindSpec) -> list[str]:
    """The classificationSchemes an object of this kind may carry (limitedMetadata included: its own rule
    refuses it later), as ``scheme (Kind.attribute)``."""
    kind = kind_name(spec)
    own = [s for s, name in SCHEME_NAMES.items() if name.startswith(f"{kind}.")]
    return [f"{s} ({SCHEME_NAMES[s]})" for s in own]


#: Author slots (ITI TF-3 4.2.3.1.4), in output order; authorPerson is the only single-valued one.
AUTHOR_SLOTS: Final = _frozen(
    {
        SN.AUTHOR_PERSON: "person",
        SN.AUTHOR_INSTITUTION: "institutions",
        SN.AUTHOR_ROLE: "roles",
        SN.AUTHOR_SPECIALTY: "specialties",
        SN.AUTHOR_TELECOMMUNICATION: "telecoms",
    }
)

__all__ = [
    "AUTHOR_SLOTS",
    "DOCUMENT_ENTRY",
    "FOLDER",
    "SCHEME_NAMES",
    "SUBMISSION_SET",
    "KindSpec",
    "kind_name",
    "schemes_of",
]
