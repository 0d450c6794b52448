"""Every read path finds what ITI-41 stored, whatever accepted spelling of the patient either side used
(``dmp-test`` profile, real SOAP endpoint, signed assertions; SQLite and PostgreSQL).

One registry for the module (reads only): the production-authority patient fed three times by ITI-41, once
under each of its spellings (CX with ``^NH``, without, bare INS), and the test-authority patient with the
same 15 characters fed under its two CX spellings. Each stored query with a patient parameter (ITI-18 and
ITI-51), asked with each spelling, must return exactly the patient's objects, those fed under the other
spellings included, and nothing of the other patient; the assertion that signs the request names the
patient in yet another spelling. Then ITI-43 and the Get* queries, authorised by the assertion's patient
alone, and the attacker's side: another patient's id, in any spelling, finds nothing.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.e2e.spellings import (
    CANONICAL,
    CASE_IDS,
    CASES,
    FORMS,
    PRODUCTION,
    TEST,
    Fed,
    feed,
    other_form,
    query,
)
from tests.e2e.test_dmp_policy import AUTHOR, FAILURE, MEDECIN, SUCCESS, Dmp
from tests.identity_helpers import install_authority
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.query.queries import (
    FindDocuments,
    FindDocumentsByReferenceId,
    FindDocumentsForMultiplePatients,
    FindFolders,
    FindFoldersForMultiplePatients,
    FindSubmissionSets,
    GetAll,
    GetDocuments,
)
from xds_server.core.vocabulary import SoapAction
from xds_server.identity.dev_authority import Identity
from xds_server.storage import tables
from xds_server.storage.database import SQLITE_FILE_NAME, Database

APPROVED = "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')"
REFERENCE = "R1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order"
CLASS = "('10^^1.2.250.1.213.1.1.4.1')"


@dataclass(frozen=True)
class World:
    dmp: Dmp
    fed: dict[str, list[Fed]]  # patient -> one ITI-41 per spelling

    def fed_under(self, patient: str, form: str) -> Fed:
        return self.fed[patient][list(FORMS[patient]).index(form)]

    def documents(self, patient: str) -> set[str]:
        return {f.document.entry_uuid for f in self.fed[patient]}

    def submission_sets(self, patient: str) -> set[str]:
        return {f.submission_set for f in self.fed[patient]}

    def folders(self, patient: str) -> set[str]:
        return {f.folder for f in self.fed[patient]}

    def everything(self, patient: str) -> set[str]:
        fed = self.fed[patient]
        return {*self.documents(patient), *self.submission_sets(patient), *self.folders(patient)} | {
            a for f in fed for a in f.associations
        }


def as_patient(identity: Identity, spelled: str) -> Identity:
    """``identity`` whose assertion names the patient spelled so (VIHF resource-id)."""
    return dataclasses.replace(identity, patient=spelled)


@pytest.fixture(scope="module")
def _module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A migrated, empty database for this module's read-only world (``database`` is per test)."""
    postgres: Database | None = request.getfixturevalue("_postgres_database")
    if postgres is not None:
        with postgres.engine.begin() as connection:
            # the audit tables refuse DELETE (append-only triggers): triggers off, as in conftest
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for table in reversed(tables.metadata.sorted_tables):
                connection.exec_driver_sql(f'DELETE FROM "{table.name}"')
        yield postgres
        return
    path = tmp_path_factory.mktemp("spellings-db") / SQLITE_FILE_NAME
    shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def world(_module_database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir: Path = tmp_path_factory.mktemp("spellings")
    settings = Settings(data_dir=data_dir, profile="dmp-test", multi_patient_query=True)
    app = create_app(settings, database=_module_database)
    authority = install_authority(data_dir)
    with TestClient(app) as client:
        dmp = Dmp(client, _module_database, authority, app.state.services)
        fed: dict[str, list[Fed]] = {}
        for patient, forms in FORMS.items():
            dmp.record(patient=CANONICAL[patient], authorised=[MEDECIN])
            # each ITI-41 spells the patient one way, its assertion another
            fed[patient] = [
                feed(dmp, as_patient(AUTHOR, other_form(patient, form)), spelled)
                for form, spelled in forms.items()
            ]
        yield World(dmp, fed)


# ---- every stored query with a patient parameter, every spelling ------------------------------------


@dataclass(frozen=True)
class Query:
    name: str
    query_id: str
    params: Callable[[str], dict[str, str]]
    expected: Callable[[World, str], set[str]]
    action: SoapAction = SoapAction.STORED_QUERY


QUERIES = [
    Query(
        "FindDocuments",
        FindDocuments.query_id,
        lambda p: {"$XDSDocumentEntryPatientId": f"'{p}'", "$XDSDocumentEntryStatus": APPROVED},
        World.documents,
    ),
    Query(
        "FindDocumentsByReferenceId",
        FindDocumentsByReferenceId.query_id,
        lambda p: {
            "$XDSDocumentEntryPatientId": f"'{p}'",
            "$XDSDocumentEntryStatus": APPROVED,
            "$XDSDocumentEntryReferenceIdList": f"('{REFERENCE}')",
        },
        World.documents,
    ),
    Query(
        "FindSubmissionSets",
        FindSubmissionSets.query_id,
        lambda p: {"$XDSSubmissionSetPatientId": f"'{p}'", "$XDSSubmissionSetStatus": APPROVED},
        World.submission_sets,
    ),
    Query(
        "FindFolders",
        FindFolders.query_id,
        lambda p: {"$XDSFolderPatientId": f"'{p}'", "$XDSFolderStatus": APPROVED},
        World.folders,
    ),
    Query(
        "GetAll",
        GetAll.query_id,
        lambda p: {
            "$patientId": f"'{p}'",
            "$XDSDocumentEntryStatus": APPROVED,
            "$XDSSubmissionSetStatus": APPROVED,
            "$XDSFolderStatus": APPROVED,
        },
        World.everything,
    ),
    Query(
        "ITI-51 FindDocumentsForMultiplePatients",
        FindDocumentsForMultiplePatients.query_id,
        lambda p: {
            "$XDSDocumentEntryPatientId": f"('{p}')",
            "$XDSDocumentEntryStatus": APPROVED,
            "$XDSDocumentEntryClassCode": CLASS,
        },
        World.documents,
        SoapAction.MULTI_PATIENT_QUERY,
    ),
    Query(
        "ITI-51 FindFoldersForMultiplePatients",
        FindFoldersForMultiplePatients.query_id,
        lambda p: {"$XDSFolderPatientId": f"('{p}')", "$XDSFolderStatus": APPROVED},
        World.folders,
        SoapAction.MULTI_PATIENT_QUERY,
    ),
]


def test_the_queries_cover_every_patient_parameter() -> None:
    """The matrix names every stored query whose parameters name a patient: none is left out."""
    from xds_server.core.query import MULTI_PATIENT_QUERIES, PATIENT_PARAMETERS, STORED_QUERIES, Kind

    with_patient = {
        cls.query_id
        for table in (STORED_QUERIES, MULTI_PATIENT_QUERIES)
        for cls in table.values()
        if any(p.kind is Kind.PATIENT_ID for p in cls.params)
    }
    assert with_patient == {q.query_id for q in QUERIES}
    declared = {
        p.name
        for table in (STORED_QUERIES, MULTI_PATIENT_QUERIES)
        for cls in table.values()
        for p in cls.params
        if p.kind is Kind.PATIENT_ID
    }
    assert declared == PATIENT_PARAMETERS


@pytest.mark.parametrize(("patient", "form"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("q", QUERIES, ids=[q.name for q in QUERIES])
def test_each_spelling_finds_what_every_spelling_fed(world: World, q: Query, patient: str, form: str) -> None:
    spelled = FORMS[patient][form]
    by = as_patient(MEDECIN, other_form(patient, form))
    answer = query(world.dmp, by, q.query_id, q.params(spelled), action=q.action)
    assert answer.status == SUCCESS, answer
    assert len(answer.ids) == len(set(answer.ids))
    assert set(answer.ids) == q.expected(world, patient)


@pytest.mark.parametrize(
    "q", [q for q in QUERIES if q.action is SoapAction.STORED_QUERY], ids=lambda q: q.name
)
def test_the_very_id_submitted_finds_the_record(world: World, q: Query) -> None:
    """The reported case: fed with ``INS^^^&1.2.250.1.213.1.4.10&ISO`` (stored with ``^NH``), asked with
    the very same id, the record answers with its objects instead of an empty Success."""
    answer = query(world.dmp, as_patient(MEDECIN, TEST["cx"]), q.query_id, q.params(TEST["cx"]))
    assert answer.status == SUCCESS and set(answer.ids) == q.expected(world, "test")
    fed = world.fed_under("test", "cx")
    assert {fed.document.entry_uuid, fed.submission_set, fed.folder} & set(answer.ids)


def test_iti51_list_mixing_spellings_of_one_patient(world: World) -> None:
    listed = ", ".join(f"'{p}'" for p in PRODUCTION.values())
    params = {
        "$XDSDocumentEntryPatientId": f"({listed})",
        "$XDSDocumentEntryStatus": APPROVED,
        "$XDSDocumentEntryClassCode": CLASS,
    }
    answer = query(
        world.dmp,
        MEDECIN,
        FindDocumentsForMultiplePatients.query_id,
        params,
        action=SoapAction.MULTI_PATIENT_QUERY,
    )
    assert answer.status == SUCCESS
    assert sorted(answer.ids) == sorted(world.documents("production"))


# ---- authorised by the assertion's patient alone: ITI-43 and the Get* queries ---------------------------


@pytest.mark.parametrize(("patient", "form"), CASES, ids=CASE_IDS)
def test_retrieve_with_the_assertion_in_each_spelling(world: World, patient: str, form: str) -> None:
    by = as_patient(MEDECIN, FORMS[patient][form])
    for fed in world.fed[patient]:
        unique_id = fed.document.unique_id or ""
        answer = world.dmp.retrieve(by, unique_id)
        assert answer.status == SUCCESS and answer.ids == (unique_id,), answer


@pytest.mark.parametrize(("patient", "form"), CASES, ids=CASE_IDS)
def test_get_documents_with_the_assertion_in_each_spelling(world: World, patient: str, form: str) -> None:
    by = as_patient(MEDECIN, FORMS[patient][form])
    every = sorted(world.documents("production") | world.documents("test"))
    params = {"$XDSDocumentEntryEntryUUID": "(" + ", ".join(f"'{u}'" for u in every) + ")"}
    answer = query(world.dmp, by, GetDocuments.query_id, params)
    assert answer.status == SUCCESS
    assert set(answer.ids) == world.documents(patient)  # never the other patient's


# ---- the attacker's side: another patient, in any spelling, finds nothing --------------------------------

OTHER = {"production": "test", "test": "production"}


@pytest.mark.parametrize(("patient", "form"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("q", QUERIES, ids=[q.name for q in QUERIES])
def test_another_patients_id_finds_nothing(world: World, q: Query, patient: str, form: str) -> None:
    """A professional bound to the other patient (same 15 characters, other authority) names this one in
    any spelling: refused before the record is read, nothing returned."""
    by = as_patient(MEDECIN, CANONICAL[OTHER[patient]])
    answer = query(world.dmp, by, q.query_id, q.params(FORMS[patient][form]), action=q.action)
    assert answer.status == FAILURE and answer.codes == ("DMPAccessDenied",), answer
    assert answer.ids == ()


@pytest.mark.parametrize(("patient", "form"), CASES, ids=CASE_IDS)
def test_retrieve_of_another_patients_document_is_unknown(world: World, patient: str, form: str) -> None:
    by = as_patient(MEDECIN, FORMS[patient][form])
    for fed in world.fed[OTHER[patient]]:
        unique_id = fed.document.unique_id or ""
        answer = world.dmp.retrieve(by, unique_id)
        assert answer.status == FAILURE and answer.codes == ("XDSDocumentUniqueIdError",), answer
        assert answer.ids == ()


def test_the_bare_ins_never_names_the_test_authority_patient(world: World) -> None:
    """Bound to the test-authority patient, the bare INS (which means the production authority) is another
    patient: refused, whatever the test patient's own spellings would find."""
    by = as_patient(MEDECIN, TEST["cx+NH"])
    q = QUERIES[0]
    refused = query(world.dmp, by, q.query_id, q.params(PRODUCTION["bare"]))
    assert refused.status == FAILURE and refused.codes == ("DMPAccessDenied",)
    # and an assertion naming the bare INS reads the production record only
    found = query(
        world.dmp, as_patient(MEDECIN, PRODUCTION["bare"]), q.query_id, q.params(PRODUCTION["bare"])
    )
    assert set(found.ids) == world.documents("production")


@pytest.mark.parametrize(
    ("spelled", "code"),
    [
        ("255081416802539", "XDSRegistryMetadataError"),  # wrong INS key
        ("255081416802538^^^&1.2.250.1.213.1.4.10&ISO^PI", "XDSRegistryMetadataError"),  # not NH
        ("255081416802538^^^&1.2.3.4&ISO", "XDSUnknownPatientId"),  # an authority the domain refuses
        ("not a patient", "XDSRegistryMetadataError"),
    ],
)
def test_an_id_the_profile_refuses_is_an_error_not_an_empty_answer(
    world: World, spelled: str, code: str
) -> None:
    q = QUERIES[0]
    answer = query(world.dmp, MEDECIN, q.query_id, q.params(spelled))
    assert answer.status == FAILURE and answer.codes == (code,), answer
    assert answer.ids == ()


def test_the_world_is_what_the_matrix_assumes(world: World) -> None:
    """Five ITI-41, all stored under the canonical spelling of their patient (the documents' LeafClass)."""
    assert len(world.fed["production"]) == 3 and len(world.fed["test"]) == 2
    q = QUERIES[0]
    for patient in FORMS:
        by = as_patient(MEDECIN, CANONICAL[patient])
        answer = query(world.dmp, by, q.query_id, q.params(CANONICAL[patient]), return_type="LeafClass")
        assert answer.status == SUCCESS and len(answer.ids) == len(FORMS[patient])

        def attribute(value: str) -> bytes:
            return f'value="{value}"'.replace("&", "&amp;").encode()

        # one patientId ExternalIdentifier per document, always the canonical spelling
        assert answer.xml.count(attribute(CANONICAL[patient])) == len(FORMS[patient])
        for form, spelled in FORMS[patient].items():
            if form != "cx+NH":
                assert attribute(spelled) not in answer.xml
