"""Saving an attachment of the patient's mailbox into his record, as a document he deposits himself.

It is an ITI-41 with the patient as the actor and the same rules (``core.usecases.provide`` with the DMP
write gate of ``wiring.access``): class 90 "Autres documents déposés par le patient" (JDV_J57), type
DOCPAT02 "Traitement ou document de soins déposé par le patient", the patient as author, normal
confidentiality; the format follows the attachment (PDF, plain text or JPEG: the formats of JDV_J10 for an
unstructured document; any other type cannot be saved). The face's audit hook traces the deposit in its
registry transaction, with the new document.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from pathlib import Path
from typing import Final

from xds_server.core.errors import raise_if_errors
from xds_server.core.identifiers import parse_cx
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
from xds_server.core.policy import AccessContext
from xds_server.core.usecases.provide import IncomingDocument, provide_and_register
from xds_server.core.usecases.register import register
from xds_server.core.validation import validate_submission
from xds_server.core.vocabulary import HL7_CONFIDENTIALITY_OID, AssociationType, SlotName
from xds_server.mailbox.patient import MailboxRefused, attachment, mailbox_patient
from xds_server.wiring import Services, UnitOfWork
from xds_server.wiring.access import check_submission, precheck_submission

__all__ = ["PATIENT_CLASS", "PATIENT_TYPE", "save_attachment"]

TRANSACTION: Final = "ITI-41"
FORMAT_SYSTEM: Final = "1.3.6.1.4.1.19376.1.2.3"
PATIENT_CLASS: Final = Code("90", "1.2.250.1.213.1.1.4.1", "Autres documents déposés par le patient")
PATIENT_TYPE: Final = Code(
    "DOCPAT02", "1.2.250.1.213.1.1.4.12", "Traitement ou document de soins déposé par le patient"
)
_UNSTRUCTURED: Final = "Document à corps non structuré en"
_FORMATS: Final = {
    "application/pdf": Code("urn:ihe:iti:xds-sd:pdf:2008", FORMAT_SYSTEM, f"{_UNSTRUCTURED} Pdf/A-1"),
    "text/plain": Code("urn:ihe:iti:xds-sd:text:2008", FORMAT_SYSTEM, f"{_UNSTRUCTURED} texte brut"),
    "image/jpeg": Code("urn:ihe:iti-fr:xds-sd:jpeg:2010", FORMAT_SYSTEM, f"{_UNSTRUCTURED} JPEG"),
}
_FACILITY: Final = Code("SA07", "1.2.250.1.71.4.2.4", "Cabinet individuel")
_PRACTICE: Final = Code("AMBULATOIRE", "1.2.250.1.213.1.1.4.9", "Ambulatoire")
#: sourceId of the submissions the mailbox makes (an OID under the project's test arc, like the client's)
SOURCE_ID: Final = "1.2.250.1.999.1.2.2"


def _submission(patient_id: str, title: str, media_type: str, content: bytes, now: str) -> Submission:
    cx = parse_cx(patient_id)
    author = Author(person=f"{cx.id}^^^^^^^^&{cx.authority}&ISO")
    entry = DocumentEntry(
        entry_uuid="Document01",
        title=LocalizedText(title[:128]),
        mime_type=media_type,
        patient_id=patient_id,
        source_patient_id=patient_id,
        unique_id=f"2.25.{uuid.uuid4().int}",
        creation_time=now,
        language_code="fr-FR",
        hash=hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        size=str(len(content)),
        authors=(author,),
        class_code=PATIENT_CLASS,
        type_code=PATIENT_TYPE,
        format_code=_FORMATS[media_type],
        healthcare_facility_type_code=_FACILITY,
        practice_setting_code=_PRACTICE,
        confidentiality_codes=(Code("N", HL7_CONFIDENTIALITY_OID),),
    )
    submission_set = SubmissionSet(
        entry_uuid="SubmissionSet01",
        title=LocalizedText(title[:128]),
        patient_id=patient_id,
        unique_id=f"2.25.{uuid.uuid4().int}",
        source_id=SOURCE_ID,
        submission_time=now,
        authors=(author,),
        content_type_code=PATIENT_CLASS,
    )
    member = Association(
        entry_uuid="Association01",
        association_type=AssociationType.HAS_MEMBER.value,
        source=submission_set.entry_uuid,
        target=entry.entry_uuid,
        slots=(Slot(SlotName.SUBMISSION_SET_STATUS.value, ("Original",)),),
    )
    return Submission(submission_sets=(submission_set,), documents=(entry,), associations=(member,))


def save_attachment(services: Services, actor: AccessContext, message_id: str, position: int) -> str:
    """Deposit attachment ``position`` of his message ``message_id`` into his record; its uniqueId."""
    part, content = attachment(services, actor, message_id, position)
    if part.media_type not in _FORMATS:
        raise MailboxRefused("invalid", f"a {part.media_type} attachment cannot be saved in the record")
    blobs = services.blobs
    if blobs is None:
        raise RuntimeError("the mailbox needs the blob store")
    patient = mailbox_patient(services, actor)
    now = services.clock.now().strftime("%Y%m%d%H%M%S")
    submission = _submission(patient, part.filename, part.media_type, content, now)
    precheck_submission(services, actor, submission)
    blobs.staging_dir.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=blobs.staging_dir, prefix="mail-record-")
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    document = IncomingDocument(
        "Document01", Path(name), hashlib.sha1(content, usedforsecurity=False).hexdigest(), len(content),
        part.media_type, hashlib.sha256(content).hexdigest(),
    )  # fmt: skip

    def checked(attached: Submission, store: UnitOfWork) -> object:
        check_submission(services, actor, store, attached)
        return register(
            attached, store=store.registry, profile=services.profile, clock=services.clock, ids=services.ids,
            transaction=TRANSACTION,
        )  # fmt: skip

    try:
        provide_and_register(
            submission,
            [document],
            blobs=blobs,
            repository_unique_id=services.settings.repository_unique_id,
            transaction=services.transaction,
            register=checked,
            validate=lambda attached: raise_if_errors(
                validate_submission(attached, services.profile, transaction=TRANSACTION)
            ),
        )
    finally:
        if os.path.exists(name):
            os.unlink(name)
    unique_id = submission.documents[0].unique_id
    assert unique_id is not None
    return unique_id
