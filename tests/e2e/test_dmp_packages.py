"""SubmissionSets and Folders whose only documents are hidden from the actor are hidden like those documents,
in every ITI-18 query, end to end on the ``dmp`` profile (issue 14, item 10): their title, author and times
would otherwise tell that a hidden document exists.

The record holds two submissions by the same author: one whose only document (and the folder filing it) the
kiné may not see (an anatomopathology report), one he may see. For each stored query the kiné's answer, in
ObjectRef and LeafClass, never names the hidden document, its submission set, its folder or their
associations; the médecin's answers name all of them (the same queries do reveal them to whom they are due).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.core.builders import DMP_PATIENT, dmp_submission, folder, member
from tests.e2e.test_dmp_policy import (
    ANAPATH,
    APPROVED,
    AUTHOR,
    KINE,
    MEDECIN,
    SUCCESS,
    Dmp,
    document,
    new_uuid,
)
from tests.e2e.test_dmp_policy import dmp as dmp  # the fixture
from xds_server.core.metadata import Association, DocumentEntry
from xds_server.core.query import STORED_QUERIES
from xds_server.core.vocabulary import AssociationType


@dataclass(frozen=True)
class Package:
    """One submission: its SubmissionSet, its document, the Folder filing it and every Association."""

    ss: str
    doc: DocumentEntry
    folder: str
    associations: tuple[str, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.ss, self.doc.entry_uuid, self.folder, *self.associations)


def submit(dmp: Dmp, doc: DocumentEntry) -> Package:
    submission = dmp_submission(doc)
    ss = new_uuid()
    folder_id = new_uuid()
    link = new_uuid()
    associations = (
        member(ss, doc.entry_uuid, entry_uuid=new_uuid()),
        member(ss, folder_id, status=None, entry_uuid=new_uuid()),
        Association(entry_uuid=link, source=folder_id, target=doc.entry_uuid),
        Association(entry_uuid=new_uuid(), source=ss, target=link),
    )
    submission = dataclasses.replace(
        submission,
        submission_sets=(dataclasses.replace(submission.submission_sets[0], entry_uuid=ss),),
        folders=(folder(folder_id, patient_id=DMP_PATIENT),),
        associations=associations,
    )
    assert dmp.register(AUTHOR, submission).status == SUCCESS
    return Package(ss, doc, folder_id, tuple(a.entry_uuid for a in associations))


def q(*values: str) -> str:
    return "(" + ",".join(f"'{v}'" for v in values) + ")"


PATIENT = f"'{DMP_PATIENT}'"
STATUS = q(APPROVED)
RPLC = AssociationType.REPLACE.value

#: Every ITI-18 stored query, with parameters naming both packages (or, for the single-object queries, the
#: hidden one: its answer must be empty, exactly as for an unknown id).
QUERIES: dict[str, Callable[[Package, Package], dict[str, str]]] = {
    "FindDocuments": lambda h, s: {"$XDSDocumentEntryPatientId": PATIENT, "$XDSDocumentEntryStatus": STATUS},
    "FindDocumentsByReferenceId": lambda h, s: {
        "$XDSDocumentEntryPatientId": PATIENT,
        "$XDSDocumentEntryStatus": STATUS,
        "$XDSDocumentEntryReferenceIdList": q("ref^^^&1.2.3&ISO"),
    },
    "FindSubmissionSets": lambda h, s: {
        "$XDSSubmissionSetPatientId": PATIENT,
        "$XDSSubmissionSetStatus": STATUS,
    },
    "FindFolders": lambda h, s: {"$XDSFolderPatientId": PATIENT, "$XDSFolderStatus": STATUS},
    "GetAll": lambda h, s: {
        "$patientId": PATIENT,
        "$XDSDocumentEntryStatus": STATUS,
        "$XDSSubmissionSetStatus": STATUS,
        "$XDSFolderStatus": STATUS,
    },
    "GetDocuments": lambda h, s: {"$XDSDocumentEntryEntryUUID": q(h.doc.entry_uuid, s.doc.entry_uuid)},
    "GetFolders": lambda h, s: {"$XDSFolderEntryUUID": q(h.folder, s.folder)},
    "GetAssociations": lambda h, s: {"$uuid": q(*h.ids[:3], *s.ids[:3])},
    "GetDocumentsAndAssociations": lambda h, s: {
        "$XDSDocumentEntryEntryUUID": q(h.doc.entry_uuid, s.doc.entry_uuid)
    },
    "GetSubmissionSets": lambda h, s: {"$uuid": q(h.doc.entry_uuid, h.folder, s.doc.entry_uuid, s.folder)},
    "GetSubmissionSetAndContents": lambda h, s: {"$XDSSubmissionSetEntryUUID": f"'{h.ss}'"},
    "GetFolderAndContents": lambda h, s: {"$XDSFolderEntryUUID": f"'{h.folder}'"},
    "GetFoldersForDocument": lambda h, s: {"$XDSDocumentEntryEntryUUID": f"'{h.doc.entry_uuid}'"},
    "GetRelatedDocuments": lambda h, s: {
        "$XDSDocumentEntryEntryUUID": f"'{h.doc.entry_uuid}'",
        "$AssociationTypes": q(RPLC),
    },
}
IDS = {cls.name: query_id for query_id, cls in STORED_QUERIES.items()}


def test_every_stored_query_is_covered() -> None:
    assert set(QUERIES) == set(IDS)


@pytest.fixture
def packages(dmp: Dmp) -> tuple[Package, Package]:
    dmp.record(authorised=[KINE, MEDECIN])
    hidden = submit(dmp, document(type_code=ANAPATH))
    seen = submit(dmp, document())
    return hidden, seen


@pytest.mark.parametrize("name", sorted(QUERIES))
@pytest.mark.parametrize("return_type", ["ObjectRef", "LeafClass"])
def test_hidden_package_is_absent_for_the_kine(
    dmp: Dmp, packages: tuple[Package, Package], name: str, return_type: str
) -> None:
    hidden, seen = packages
    answer = dmp.query(KINE, IDS[name], QUERIES[name](hidden, seen), return_type)
    assert answer.status == SUCCESS, answer
    for leaked in hidden.ids:
        assert leaked.encode() not in answer.xml, (name, leaked)
    assert hidden.doc.unique_id is not None and hidden.doc.unique_id.encode() not in answer.xml


def test_the_medecin_sees_what_the_kine_does_not(dmp: Dmp, packages: tuple[Package, Package]) -> None:
    """The allowed side: the same queries show the médecin every hidden object, so the absences above come
    from the access rules and not from queries that find nothing."""
    hidden, seen = packages
    shown: set[str] = set()
    for name, params in QUERIES.items():
        answer = dmp.query(MEDECIN, IDS[name], params(hidden, seen))
        assert answer.status == SUCCESS, (name, answer)
        shown.update(answer.ids)
    assert set(hidden.ids) <= shown


def test_the_kine_still_sees_the_visible_package(dmp: Dmp, packages: tuple[Package, Package]) -> None:
    hidden, seen = packages
    sets = dmp.query(KINE, IDS["FindSubmissionSets"], QUERIES["FindSubmissionSets"](hidden, seen))
    folders = dmp.query(KINE, IDS["FindFolders"], QUERIES["FindFolders"](hidden, seen))
    everything = dmp.query(KINE, IDS["GetAll"], QUERIES["GetAll"](hidden, seen))
    assert sets.ids == (seen.ss,)
    assert folders.ids == (seen.folder,)
    assert set(everything.ids) == set(seen.ids)
