"""Small builders for submissions: every default is valid for ITI-42 under the IHE profile, and a test changes
only what its rule is about (``document(class_code=None)``)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

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
from xds_server.core.profile import (
    HL7_CONFIDENTIALITY_CODES,
    BoundAttribute,
    ConfidentialityRule,
    DomainProfile,
    ValueSetBinding,
)
from xds_server.core.vocabulary import (
    DMP_VISIBILITY_OID,
    HL7_CONFIDENTIALITY_OID,
    AssociationType,
    SlotName,
    Status,
)

PATIENT = "PAT-1^^^&1.3.6.1.4.1.21367.2005.13.20.1000&ISO"
OTHER_PATIENT = "PAT-2^^^&1.3.6.1.4.1.21367.2005.13.20.1000&ISO"
APPROVED = Status.APPROVED.value
DEPRECATED = Status.DEPRECATED.value
HAS_MEMBER = AssociationType.HAS_MEMBER.value
RPLC = AssociationType.REPLACE.value
APND = AssociationType.APPEND.value
XFRM = AssociationType.TRANSFORM.value
XFRM_RPLC = AssociationType.TRANSFORM_REPLACE.value
SIGNS = AssociationType.SIGNS.value
HASH = "e543712c0e10501972de13a5bfcbe826c49feb75"
SIZE = "36"
REPOSITORY = "1.19.6.24.109.42.1.5"

_uids = itertools.count(1)


def new_uid() -> str:
    return f"1.3.6.1.4.1.21367.2005.3.99.{next(_uids)}"


def code(value: str = "C1", scheme: str = "1.3.6.1.4.1.21367.100.1", display: str = "a code") -> Code:
    return Code(value, scheme, display)


def author(**changes: Any) -> Author:
    return dataclasses.replace(Author(person="^Smith^John", institutions=("Some Hospital",)), **changes)


def document(entry_uuid: str = "Document01", **changes: Any) -> DocumentEntry:
    base = DocumentEntry(
        entry_uuid=entry_uuid,
        title=LocalizedText("A document"),
        mime_type="text/plain",
        patient_id=PATIENT,
        unique_id=new_uid(),
        creation_time="20041225212010",
        language_code="en-us",
        source_patient_id="j98789^^^&1.2.3.4.343.1&ISO",
        source_patient_info=("PID-3|j98789^^^&1.2.3.4.343.1&ISO",),
        service_start_time="200412230800",
        service_stop_time="200412230801",
        hash=HASH,
        size=SIZE,
        repository_unique_id=REPOSITORY,
        authors=(author(),),
        class_code=code("Education"),
        confidentiality_codes=(code("1.3.6.1.4.1.21367.2006.7.101", "Connect-a-thon confidentialityCodes"),),
        format_code=code("CDAR2/IHE 1.0"),
        healthcare_facility_type_code=code("Outpatient"),
        practice_setting_code=code("General Medicine"),
        type_code=code("34108-1", "LOINC"),
    )
    return dataclasses.replace(base, **changes)


def submission_set(entry_uuid: str = "SubmissionSet01", **changes: Any) -> SubmissionSet:
    base = SubmissionSet(
        entry_uuid=entry_uuid,
        patient_id=PATIENT,
        unique_id=new_uid(),
        source_id="1.3.6.1.4.1.21367.2009.1.2.1",
        submission_time="20041225235050",
        authors=(author(),),
        content_type_code=code("Communication"),
    )
    return dataclasses.replace(base, **changes)


def folder(entry_uuid: str = "Folder01", **changes: Any) -> Folder:
    base = Folder(
        entry_uuid=entry_uuid,
        title=LocalizedText("A folder"),
        patient_id=PATIENT,
        unique_id=new_uid(),
        codes=(code("Referrals"),),
    )
    return dataclasses.replace(base, **changes)


def association(
    source: str, target: str, kind: str = HAS_MEMBER, entry_uuid: str = "", **changes: Any
) -> Association:
    return dataclasses.replace(
        Association(entry_uuid=entry_uuid, association_type=kind, source=source, target=target), **changes
    )


def member(source: str, target: str, status: str | None = "Original", entry_uuid: str = "") -> Association:
    """SubmissionSet -> DocumentEntry HasMember with its SubmissionSetStatus slot."""
    slots = (Slot(SlotName.SUBMISSION_SET_STATUS.value, (status,)),) if status is not None else ()
    return association(source, target, entry_uuid=entry_uuid or f"{source}->{target}", slots=slots)


def filed(
    folder_id: str, document_id: str, link_id: str = "FolderLink01", ss_id: str = "SubmissionSet01"
) -> tuple[Association, ...]:
    """Folder -> DocumentEntry HasMember ``link_id``, plus the SubmissionSet -> association HasMember."""
    link = association(folder_id, document_id, entry_uuid=link_id)
    return link, association(ss_id, link_id, entry_uuid=f"{ss_id}->{link_id}")


def submission(
    *documents: DocumentEntry,
    folders: tuple[Folder, ...] = (),
    associations: tuple[Association, ...] = (),
    ss: SubmissionSet | None = None,
    membership: bool = True,
) -> Submission:
    """A submission with ``documents`` (default: one), ``folders`` and ``associations``; ``membership`` adds
    the SubmissionSet HasMember of every new DocumentEntry (Original) and Folder."""
    ss = ss or submission_set()
    docs = documents or (document(),)
    members: tuple[Association, ...] = ()
    if membership:
        members = (
            *(member(ss.entry_uuid, d.entry_uuid) for d in docs),
            *(member(ss.entry_uuid, f.entry_uuid, status=None) for f in folders),
        )
    return Submission(
        submission_sets=(ss,),
        documents=docs,
        folders=folders,
        associations=(*members, *associations),
    )


def stored(obj: AnyObject, entry_uuid: str, status: str = APPROVED) -> AnyObject:
    """``obj`` as the registry holds it: final id, lid, version 1, status."""
    return dataclasses.replace(obj, entry_uuid=entry_uuid, logical_id=entry_uuid, version="1", status=status)


# -- a DMP-like profile built in code (the loader tests use the real profiles/dmp.toml) ---------------------
NIR_OID = "1.2.250.1.213.1.4.8"
TEST_NIR_OID = "1.2.250.1.213.1.4.10"
INS = "255081416802538"  # the INSEE textbook example, key 38
CLASS = ("10", "1.2.250.1.213.1.1.4.1")
TYPE = ("11488-4", "2.16.840.1.113883.6.1")
FORMAT = ("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3")
FACILITY = ("SA01", "1.2.250.1.71.4.2.4")
PRACTICE = ("AMBULATOIRE", "1.2.250.1.213.1.1.4.9")
MASKING = frozenset({"MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"})


def dmp_profile(**changes: Any) -> DomainProfile:
    def bind(attribute: BoundAttribute, *pairs: tuple[str, str]) -> ValueSetBinding:
        return ValueSetBinding(attribute, f"test-{attribute.value}", frozenset(pairs))

    base = DomainProfile(
        name="dmp-test",
        policy="dmp",
        patient_id_authorities=frozenset({NIR_OID}),
        test_authorities=frozenset({TEST_NIR_OID, "1.2.250.1.213.1.4.11"}),
        accept_test_authorities=False,
        ins_patient_ids=True,
        default_patient_authority=NIR_OID,
        patient_id_type="NH",
        source_patient_id_is_patient_id=True,
        bindings=(
            bind(BoundAttribute.CLASS_CODE, CLASS),
            bind(BoundAttribute.TYPE_CODE, TYPE),
            bind(BoundAttribute.FORMAT_CODE, FORMAT),
            bind(BoundAttribute.HEALTHCARE_FACILITY_TYPE_CODE, FACILITY),
            bind(BoundAttribute.PRACTICE_SETTING_CODE, PRACTICE),
        ),
        confidentiality=ConfidentialityRule(
            hl7_scheme=HL7_CONFIDENTIALITY_OID,
            hl7_codes=HL7_CONFIDENTIALITY_CODES,
            masking_scheme=DMP_VISIBILITY_OID,
            masking_codes=MASKING,
        ),
    )
    return dataclasses.replace(base, **changes)


DMP_PATIENT = f"{INS}^^^&{NIR_OID}&ISO^NH"


def dmp_document(entry_uuid: str = "Document01", **changes: Any) -> DocumentEntry:
    base = document(
        entry_uuid,
        patient_id=DMP_PATIENT,
        source_patient_id=DMP_PATIENT,
        class_code=code(*CLASS),
        type_code=code(*TYPE),
        format_code=code(*FORMAT),
        healthcare_facility_type_code=code(*FACILITY),
        practice_setting_code=code(*PRACTICE),
        confidentiality_codes=(code("N", HL7_CONFIDENTIALITY_OID),),
    )
    return dataclasses.replace(base, **changes)


def dmp_submission(*documents: DocumentEntry, **kwargs: Any) -> Submission:
    ss = kwargs.pop("ss", None) or submission_set(patient_id=DMP_PATIENT)
    return submission(*(documents or (dmp_document(),)), ss=ss, **kwargs)
