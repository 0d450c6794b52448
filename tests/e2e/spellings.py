"""The accepted spellings of one patient id in the ``dmp-test`` profile, and the SOAP requests that carry
them (shared by test_patient_spellings_reads.py and test_patient_spellings_writes.py).

README (Profiles): ``INS^^^&OID&ISO^NH``, the same without ``^NH`` and (production INS-NIR authority only) the
bare 15-character INS denote one patient. The same 15 characters under the test authority 1.2.250.1.213.1.4.10
are ANOTHER patient, which only the CX forms name: a bare INS always means the production authority.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Mapping

from lxml import etree

from tests.core.builders import INS, NIR_OID, TEST_NIR_OID, dmp_submission, folder, member
from tests.e2e.test_dmp_policy import (
    NS,
    Answer,
    Dmp,
    _answer,
    document,
    envelope,
    new_uuid,
)
from tests.query.builders import adhoc
from xds_server.core.metadata import Association, DocumentEntry, Submission
from xds_server.core.vocabulary import SoapAction
from xds_server.ebxml.encoding import encode_submission
from xds_server.identity.dev_authority import Identity


def spellings(oid: str, *, bare: bool) -> dict[str, str]:
    """Form name -> the spelling of the INS ``INS`` under ``oid``."""
    forms = {"cx+NH": f"{INS}^^^&{oid}&ISO^NH", "cx": f"{INS}^^^&{oid}&ISO"}
    return {**forms, "bare": INS} if bare else forms


#: The production-authority patient: three spellings (the bare INS means this authority).
PRODUCTION = spellings(NIR_OID, bare=True)
#: The test-authority patient with the same 15 characters: another patient, two spellings.
TEST = spellings(TEST_NIR_OID, bare=False)
CANONICAL = {"production": PRODUCTION["cx+NH"], "test": TEST["cx+NH"]}
FORMS = {"production": PRODUCTION, "test": TEST}

#: Every (patient, form) the matrix runs, as pytest ids "production-bare" ...
CASES = [(patient, form) for patient, forms in FORMS.items() for form in forms]
CASE_IDS = [f"{patient}-{form}" for patient, form in CASES]


def other_form(patient: str, form: str) -> str:
    """A spelling of the same patient other than ``form`` (the next one, cyclically)."""
    names = list(FORMS[patient])
    return FORMS[patient][names[(names.index(form) + 1) % len(names)]]


def content_of(unique_id: str) -> bytes:
    return f"document {unique_id}".encode()


@dataclasses.dataclass(frozen=True)
class Fed:
    """What one ITI-41 put in a record."""

    submission_set: str
    document: DocumentEntry
    folder: str
    associations: tuple[str, ...]


def spelled_submission(patient_id: str, doc: DocumentEntry, *, reference_id: str) -> tuple[Submission, str]:
    """One document filed in a new folder, every patientId (and sourcePatientId) spelled ``patient_id``."""
    doc = dataclasses.replace(
        doc, patient_id=patient_id, source_patient_id=patient_id, reference_ids=(reference_id,)
    )
    submission = dmp_submission(doc)
    ss = dataclasses.replace(submission.submission_sets[0], entry_uuid=new_uuid(), patient_id=patient_id)
    folder_id, link = new_uuid(), new_uuid()
    associations = (
        member(ss.entry_uuid, doc.entry_uuid, entry_uuid=new_uuid()),
        member(ss.entry_uuid, folder_id, status=None, entry_uuid=new_uuid()),
        Association(entry_uuid=link, source=folder_id, target=doc.entry_uuid),
        Association(entry_uuid=new_uuid(), source=ss.entry_uuid, target=link),
    )
    submission = dataclasses.replace(
        submission,
        submission_sets=(ss,),
        folders=(folder(folder_id, patient_id=patient_id),),
        associations=associations,
    )
    return submission, folder_id


def provide(dmp: Dmp, by: Identity, submission: Submission) -> Answer:
    """ITI-41 (the documents inline, base64), signed with ``by``'s assertion."""
    parts = "".join(
        f'<xdsb:Document id="{d.entry_uuid}">{base64.b64encode(content_of(d.unique_id or "")).decode()}'
        "</xdsb:Document>"
        for d in submission.documents
    )
    body = (
        f'<xdsb:ProvideAndRegisterDocumentSetRequest xmlns:xdsb="{NS["xdsb"]}">'
        f"{etree.tostring(encode_submission(submission)).decode()}{parts}"
        "</xdsb:ProvideAndRegisterDocumentSetRequest>"
    )
    root = dmp.post(by, envelope(SoapAction.PROVIDE_AND_REGISTER, body), "/xds/repository")
    return _answer(root, "env:Body/rs:RegistryResponse")


def feed(
    dmp: Dmp,
    by: Identity,
    patient_id: str,
    *,
    reference_id: str = "R1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order",
) -> Fed:
    """ITI-41 of one document in a folder, spelled ``patient_id`` throughout; asserts Success."""
    doc = document()
    data = content_of(doc.unique_id or "")
    doc = dataclasses.replace(doc, hash=hashlib.sha1(data).hexdigest(), size=str(len(data)))
    submission, folder_id = spelled_submission(patient_id, doc, reference_id=reference_id)
    answer = provide(dmp, by, submission)
    assert answer.status.endswith("Success"), answer
    return Fed(
        submission.submission_sets[0].entry_uuid,
        submission.documents[0],
        folder_id,
        tuple(a.entry_uuid for a in submission.associations),
    )


def query(
    dmp: Dmp,
    by: Identity,
    query_id: str,
    params: Mapping[str, str],
    *,
    action: SoapAction = SoapAction.STORED_QUERY,
    return_type: str = "ObjectRef",
) -> Answer:
    """ITI-18 (or ITI-51 with ``action``); the answer with the ids of the RegistryObjectList."""
    root = dmp.post(by, envelope(action, adhoc(query_id, params, return_type)))
    answer = _answer(root, "env:Body/query:AdhocQueryResponse")
    response = root.find("env:Body/query:AdhocQueryResponse", NS)
    assert response is not None
    ids = tuple(e.get("id", "") for e in response.iterfind("rim:RegistryObjectList/*", NS))
    return dataclasses.replace(answer, ids=ids, xml=etree.tostring(response))
