"""ITI-41 metadata for one document: a DocumentEntry, its SubmissionSet and the HasMember between them.

``DocumentFacts`` holds what a sender knows (from the flags of ``xds-server send``, or read from a CDA
header by ``facts_from_cda``); ``submission_for`` turns it into a ``core.metadata.Submission`` that the
``dmp``, ``dmp-test`` and ``ihe`` profiles accept when the codes are (defaults: a PDF consultation report of
a médecin in a cabinet, ambulatory care, normal confidentiality):

=========================  ==========================================================  =================
attribute                   default                                                     value set (dmp)
=========================  ==========================================================  =================
typeCode                    11488-4 (CR ou fiche de consultation), LOINC                JDV_J66
classCode                   the class the habilitation matrix gives the type (10)       JDV_J57
formatCode                  urn:ihe:iti:xds-sd:pdf:2008 (PDF), text:2008 (text),        JDV_J10
                            urn:asipSante:modelesHorsProfils:2011 (structured CDA)
healthcareFacilityTypeCode  SA07 (cabinet individuel)                                   JDV_J02
practiceSettingCode         AMBULATOIRE                                                 JDV_J04
confidentialityCode         N (HL7) + masking codes of TRE_A07 (MASQUE_PS ...)          rule of dmp.toml
contentTypeCode (SS)        the document's classCode
=========================  ==========================================================  =================
"""

from __future__ import annotations

import csv
import hashlib
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Final

from xds_server.client.cda import PS_NATIONAL_ID_OID, CdaHeader
from xds_server.core.metadata import (
    Association,
    Author,
    Code,
    DocumentEntry,
    LocalizedText,
    Slot,
    Submission,
    SubmissionSet,
)
from xds_server.core.vocabulary import (
    DMP_VISIBILITY_OID,
    HL7_CONFIDENTIALITY_OID,
    AssociationType,
    SlotName,
)
from xds_server.resources import terminologies_dir

LOINC: Final = "2.16.840.1.113883.6.1"
CLASS_SYSTEM: Final = "1.2.250.1.213.1.1.4.1"
FORMAT_SYSTEM: Final = "1.3.6.1.4.1.19376.1.2.3"
CISIS_FORMAT_SYSTEM: Final = "1.2.250.1.213.1.1.4.2.282"
FACILITY_SYSTEM: Final = "1.2.250.1.71.4.2.4"
PRACTICE_SYSTEM: Final = "1.2.250.1.213.1.1.4.9"
STRUCTURE_OID: Final = "1.2.250.1.71.4.2.2"
PROFESSION_SYSTEM: Final = "1.2.250.1.71.1.2.7"
#: sourceId of submissions made by this client (an OID under the project's test arc).
SOURCE_ID: Final = "1.2.250.1.999.1.2.1"

PDF_FORMAT: Final = Code(
    "urn:ihe:iti:xds-sd:pdf:2008", FORMAT_SYSTEM, "Document à corps non structuré en Pdf/A-1"
)
TEXT_FORMAT: Final = Code(
    "urn:ihe:iti:xds-sd:text:2008", FORMAT_SYSTEM, "Document à corps non structuré en texte brut"
)
CONSULTATION: Final = Code("11488-4", LOINC, "CR ou fiche de consultation ou de visite")
CABINET: Final = Code("SA07", FACILITY_SYSTEM, "Cabinet individuel")
AMBULATOIRE: Final = Code("AMBULATOIRE", PRACTICE_SYSTEM, "Ambulatoire")
CDA_FORMAT: Final = Code(
    "urn:asipSante:modelesHorsProfils:2011", CISIS_FORMAT_SYSTEM, "Document non référencé IHE ou CI-SIS"
)


def new_oid() -> str:
    """A fresh OID uniqueId (ITU-T X.667: ``2.25.`` + the decimal value of a random UUID)."""
    return f"2.25.{uuid.uuid4().int}"


def now_dtm() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


@cache
def class_of_type() -> dict[tuple[str, str], str]:
    """typeCode (code, system) -> classCode, from the habilitation matrix (terminologies/)."""
    table: dict[tuple[str, str], str] = {}
    with terminologies_dir().joinpath("habilitation-matrix.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            table.setdefault((row["typeCode"], row["typeCodeSystem"]), row["classCode"])
    return table


def parse_code(value: str, default_system: str) -> Code:
    """``CODE`` or ``CODE^SYSTEM`` (a flag's spelling) as a Code."""
    code, _, system = value.strip().partition("^")
    return Code(code.strip(), (system or default_system).strip())


@dataclass(frozen=True, slots=True)
class Professional:
    """The author: national id (IDNPS), names, profession (TRE_G15) and structure (Identifiant_Structure)."""

    national_id: str = "899700000001"
    family: str = "DEV"
    given: str = "Test"
    profession: str | None = "10"
    structure: str = "3900000000001"
    structure_name: str = "xds-server test structure"

    def author(self) -> Author:
        return Author(
            person=f"{self.national_id}^{self.family}^{self.given}^^^^^^&{PS_NATIONAL_ID_OID}&ISO^D^^^IDNPS",
            institutions=(f"{self.structure_name}^^^^^&{STRUCTURE_OID}&ISO^IDNST^^^{self.structure}",),
            specialties=(f"{self.profession}^^^&{PROFESSION_SYSTEM}&ISO",) if self.profession else (),
        )


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What an ITI-41 says about one document; every field but the patient has a valid default."""

    patient_id: str
    mime_type: str = "application/pdf"
    title: str = "Document"
    type_code: Code = CONSULTATION
    class_code: Code | None = None  # None: from the type, by the habilitation matrix
    format_code: Code | None = None  # None: from the MIME type
    facility: Code = CABINET
    practice: Code = AMBULATOIRE
    confidentiality: str = "N"
    masks: tuple[str, ...] = ()
    author: Professional = field(default_factory=Professional)
    unique_id: str | None = None  # None: a fresh 2.25 OID
    creation_time: str | None = None  # None: now (UTC)
    service_start: str | None = None
    service_stop: str | None = None
    language: str = "fr-FR"

    def resolved_class(self) -> Code:
        if self.class_code is not None:
            return self.class_code
        known = class_of_type().get((self.type_code.code, self.type_code.scheme))
        return Code(known or "10", CLASS_SYSTEM)

    def resolved_format(self) -> Code:
        if self.format_code is not None:
            return self.format_code
        if self.mime_type == "application/pdf":
            return PDF_FORMAT
        if self.mime_type.startswith("text/plain"):
            return TEXT_FORMAT
        return CDA_FORMAT


def facts_from_cda(header: CdaHeader, base: DocumentFacts) -> DocumentFacts:
    """``base`` (defaults) overridden by what the CDA header says. Flags given explicitly are applied on
    the result by the caller (``send`` does), so they win over the header."""
    author = base.author
    if header.author is not None:
        found = header.author
        author = replace(
            author,
            national_id=found.national_id or author.national_id,
            family=found.family or author.family,
            given=found.given or author.given,
            profession=found.profession.code if found.profession else author.profession,
            structure=found.organisation_id or author.structure,
            structure_name=found.organisation_name or author.structure_name,
        )
    body = header.body_media_type
    format_code = base.format_code
    if format_code is None and body is not None:
        format_code = PDF_FORMAT if body == "application/pdf" else TEXT_FORMAT
    return replace(
        base,
        patient_id=header.patient_id or base.patient_id,
        mime_type="text/xml",
        title=header.title or base.title,
        type_code=Code(header.type_code.code, header.type_code.system, header.type_code.display)
        if header.type_code
        else base.type_code,
        format_code=format_code or CDA_FORMAT,
        confidentiality=header.confidentiality.code
        if header.confidentiality and header.confidentiality.system == HL7_CONFIDENTIALITY_OID
        else base.confidentiality,
        author=author,
        unique_id=header.unique_id or base.unique_id,
        creation_time=header.creation_time or base.creation_time,
        service_start=header.service_start or base.service_start,
        service_stop=header.service_stop or base.service_stop,
        language=header.language or base.language,
    )


@dataclass(frozen=True, slots=True)
class ProvideAndRegister:
    """The metadata of an ITI-41 and the document it carries (``document_id`` names its MTOM part)."""

    submission: Submission
    document_id: str
    unique_id: str
    content: bytes


def submission_for(
    facts: DocumentFacts,
    content: bytes,
    *,
    repository_unique_id: str,
    submission_unique_id: str | None = None,
    submission_time: str | None = None,
) -> ProvideAndRegister:
    """The ITI-41 metadata of one document (symbolic ids: the registry assigns the entryUUIDs). The
    SubmissionSet gets a fresh uniqueId and the current time unless given (``examples/`` fixes them)."""
    unique_id = facts.unique_id or new_oid()
    now = submission_time or now_dtm()
    author = facts.author.author()
    klass = facts.resolved_class()
    confidentiality = (
        Code(facts.confidentiality, HL7_CONFIDENTIALITY_OID),
        *(Code(mask, DMP_VISIBILITY_OID) for mask in facts.masks),
    )
    entry = DocumentEntry(
        entry_uuid="Document01",
        title=LocalizedText(facts.title),
        mime_type=facts.mime_type,
        patient_id=facts.patient_id,
        source_patient_id=facts.patient_id,
        unique_id=unique_id,
        creation_time=facts.creation_time or now,
        service_start_time=facts.service_start,
        service_stop_time=facts.service_stop,
        language_code=facts.language,
        hash=hashlib.sha1(content).hexdigest(),
        size=str(len(content)),
        repository_unique_id=repository_unique_id,
        authors=(author,),
        class_code=klass,
        type_code=facts.type_code,
        format_code=facts.resolved_format(),
        healthcare_facility_type_code=facts.facility,
        practice_setting_code=facts.practice,
        confidentiality_codes=confidentiality,
    )
    submission_set = SubmissionSet(
        entry_uuid="SubmissionSet01",
        title=LocalizedText(facts.title),
        patient_id=facts.patient_id,
        unique_id=submission_unique_id or new_oid(),
        source_id=SOURCE_ID,
        submission_time=now,
        authors=(author,),
        content_type_code=klass,
    )
    member = Association(
        entry_uuid="Association01",
        association_type=AssociationType.HAS_MEMBER.value,
        source=submission_set.entry_uuid,
        target=entry.entry_uuid,
        slots=(Slot(SlotName.SUBMISSION_SET_STATUS.value, ("Original",)),),
    )
    submission = Submission(submission_sets=(submission_set,), documents=(entry,), associations=(member,))
    return ProvideAndRegister(submission, entry.entry_uuid, unique_id, content)


__all__ = [
    "CDA_FORMAT",
    "PDF_FORMAT",
    "SOURCE_ID",
    "TEXT_FORMAT",
    "DocumentFacts",
    "Professional",
    "ProvideAndRegister",
    "class_of_type",
    "facts_from_cda",
    "new_oid",
    "parse_code",
    "submission_for",
]
