"""A small registry every query test reads: two patients, four submissions, a folder, a replacement.

PATIENT
  sub1  ss1 -> de1, de2, fol1 ; fol1 -> de1 (filed)       de1 later replaced by de3 (so Deprecated)
  sub2  ss2 -> de3 ; de3 RPLC de1 ; the registry adds fol1 -> de3 and ss2 -> (fol1 -> de3)
  sub3  ss3 -> de4 (on-demand)
OTHER_PATIENT
  sub4  ss4 -> de5, fol2 ; fol2 -> de5
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from xds_server.core.metadata import Association, Author, DocumentEntry, Folder, SubmissionSet
from xds_server.core.ports import ObjectSummary
from xds_server.core.vocabulary import ObjectType
from xds_server.ebxml.encoding import encode_object_xml
from xds_server.storage.database import Database
from xds_server.storage.registry import SqlRegistryStore

from .builders import (
    CONF_SCHEME,
    OTHER_PATIENT,
    RPLC,
    Registry,
    association,
    code,
    document,
    filed,
    folder,
    submission,
    submission_set,
)


@dataclass(frozen=True)
class World:
    ss1: SubmissionSet
    ss2: SubmissionSet
    ss3: SubmissionSet
    ss4: SubmissionSet
    de1: DocumentEntry
    de2: DocumentEntry
    de3: DocumentEntry
    de4: DocumentEntry
    de5: DocumentEntry
    fol1: Folder
    fol2: Folder
    ss1_de1: Association
    ss1_de2: Association
    ss1_fol1: Association
    fol1_de1: Association
    ss1_fol1_de1: Association
    ss2_de3: Association
    de3_rplc_de1: Association
    ss3_de4: Association
    ss4_de5: Association
    ss4_fol2: Association
    fol2_de5: Association
    ss4_fol2_de5: Association
    #: made by the registry: the replacement de3 joins de1's folder (ITI TF-2b 3.42.4.1.3.5)
    fol1_de3: Association
    ss2_fol1_de3: Association


@pytest.fixture
def registry(database: Database) -> Registry:
    return Registry(database)


@pytest.fixture
def world(registry: Registry) -> World:
    de1 = document(
        class_code=code("Education"),
        event_codes=(code("E1"), code("E2")),
        confidentiality_codes=(code("N", CONF_SCHEME),),
        authors=(Author(person="^Ford^Harrison", institutions=("Some Hospital",)),),
        creation_time="20040101",
        service_start_time="200401011000",
        service_stop_time="200401021000",
        reference_ids=("R1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order",),
    )
    de2 = document(
        class_code=code("Lab"),
        event_codes=(code("E1"),),
        confidentiality_codes=(code("N", CONF_SCHEME), code("R", CONF_SCHEME)),
        authors=(Author(person="^Smith^Jo", institutions=("Some Hospital",)),),
        creation_time="20050601",
        service_start_time=None,
        service_stop_time=None,
        reference_ids=("R2^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order",),
    )
    ss1, fol1 = submission_set(), folder()
    fol1_de1, ss1_fol1_de1 = filed(ss1, fol1, de1)
    sub1 = submission(ss1, de1, de2, folders=(fol1,), associations=(fol1_de1, ss1_fol1_de1))
    registry.register(sub1)

    ss2 = submission_set(submission_time="20050101")
    de3 = document(class_code=code("Education"), creation_time="20060101")
    de3_rplc_de1 = association(de3.entry_uuid, de1.entry_uuid, RPLC)
    sub2 = submission(ss2, de3, associations=(de3_rplc_de1,))
    registry.register(sub2)

    ss3 = submission_set()
    de4 = document(object_type=ObjectType.ON_DEMAND_DOCUMENT.value, hash=None, size=None, creation_time=None)
    sub3 = submission(ss3, de4)
    registry.register(sub3)

    ss4 = submission_set(patient_id=OTHER_PATIENT)
    de5 = document(patient_id=OTHER_PATIENT)
    fol2 = folder(patient_id=OTHER_PATIENT, codes=(code("Other"),))
    fol2_de5, ss4_fol2_de5 = filed(ss4, fol2, de5)
    sub4 = submission(ss4, de5, folders=(fol2,), associations=(fol2_de5, ss4_fol2_de5))
    registry.register(sub4)

    def has_member(sub_assocs: tuple[Association, ...], target: str) -> Association:
        return next(a for a in sub_assocs if a.target == target)

    with registry.database.transaction(readonly=True) as connection:
        store = SqlRegistryStore(connection, encode_object_xml)
        (fol1_de3,) = (
            a for a in store.associations_touching([de3.entry_uuid]) if a.source == fol1.entry_uuid
        )
        (ss2_fol1_de3,) = store.associations_touching([fol1_de3.entry_uuid])

    def summary(row: ObjectSummary) -> Association:
        return Association(
            row.entry_uuid,
            association_type=row.association_type or "",
            source=row.source or "",
            target=row.target or "",
        )

    return World(
        ss1=ss1,
        ss2=ss2,
        ss3=ss3,
        ss4=ss4,
        de1=de1,
        de2=de2,
        de3=de3,
        de4=de4,
        de5=de5,
        fol1=fol1,
        fol2=fol2,
        ss1_de1=has_member(sub1.associations, de1.entry_uuid),
        ss1_de2=has_member(sub1.associations, de2.entry_uuid),
        ss1_fol1=has_member(sub1.associations, fol1.entry_uuid),
        fol1_de1=fol1_de1,
        ss1_fol1_de1=ss1_fol1_de1,
        ss2_de3=has_member(sub2.associations, de3.entry_uuid),
        de3_rplc_de1=de3_rplc_de1,
        ss3_de4=has_member(sub3.associations, de4.entry_uuid),
        ss4_de5=has_member(sub4.associations, de5.entry_uuid),
        ss4_fol2=has_member(sub4.associations, fol2.entry_uuid),
        fol2_de5=fol2_de5,
        ss4_fol2_de5=ss4_fol2_de5,
        fol1_de3=summary(fol1_de3),
        ss2_fol1_de3=summary(ss2_fol1_de3),
    )


__all__ = ["World", "dataclasses"]
