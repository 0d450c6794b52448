"""``xds-server demo``: a data dir with a realistic demo record set, to try the server without writing data.

Wiring (cli.py)::

    from xds_server.demo import demo_command
    app.command("demo")(demo_command)

What it seeds (test identities only; ``dmp-test`` by default, or ``ihe``; never the production ``dmp``):

* the local test authority (the demo is for ``serve --dev``);
* six professionals of five professions (médecins généraliste, radiologue and urgentiste, infirmière,
  masseur-kinésithérapeute, pharmacienne) in four structures;
* six patients, one or more in each record state: an adult with a médecin traitant and consents, a minor
  with a legal representative, a record only created, one the patient opposed, one closed, one whose
  patient refused emergency access;
* fifteen documents of several classes (compte rendu, prescription, synthèse, certificat) and types,
  deposited by the professional who wrote them, two of them masked (MASQUE_PS, INVISIBLE_PATIENT);
* one break-glass access by the urgentiste (an ITI-18 with a reason), which the DMP rules allow.

Records go through the administration commands' store (as ``patients add | authorize | settings``), documents
and the emergency access through the real SOAP transactions (``soap.router.Router``: the assertion is
verified, the DMP rules decide, the metadata is validated and stored), signed by the test authority for each
professional. Running it twice on one data dir is refused (the documents would be deposited again).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated

import typer
from lxml import etree

from xds_server.access_cli import DataDir, open_database, settings_of
from xds_server.app import build_services, refuse_dev_authority_in_production
from xds_server.cli_errors import fail
from xds_server.client import messages, responses
from xds_server.client.metadata import LOINC, DocumentFacts, Professional, parse_code, submission_for
from xds_server.config import Settings
from xds_server.core.identifiers import nir_key
from xds_server.core.policy import AccessMode
from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import SoapAction
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import DevAuthority, Identity
from xds_server.soap.router import Router
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore
from xds_server.terminology import load_profile

TEST_INS_AUTHORITY = "1.2.250.1.213.1.4.10"
IHE_AUTHORITY = "1.3.6.1.4.1.21367.13.20.1000"
NOMENCLATURE = "1.2.250.1.213.1.1.4.12"  # TRE_A05 types (PRESC-KINE, DISP_AUT ...)
SAMPLE = 3  # the patient the break-glass access reads


@dataclass(frozen=True)
class Pro:
    national_id: str
    name: str
    profession: str
    savoir_faire: str | None
    structure: str
    structure_name: str

    def identity(
        self, patient: str, mode: AccessMode = AccessMode.NORMAL, reason: str | None = None
    ) -> Identity:
        return Identity(
            national_id=self.national_id,
            name=self.name,
            profession=self.profession,
            savoir_faire=self.savoir_faire,
            structure=self.structure,
            structure_name=self.structure_name,
            patient=patient,
            mode=mode,
            reason=reason,
            lps_name="xds-server-demo",
        )

    def author(self) -> Professional:
        family, _, given = self.name.partition(" ")
        return Professional(
            self.national_id, family, given, self.profession, self.structure, self.structure_name
        )


GENERALISTE = Pro("810000000101", "MARTIN Claire", "10", "SM26", "3900000000101", "Cabinet Martin")
RADIOLOGUE = Pro("810000000102", "LEROY Hugo", "10", None, "3900000000102", "Centre hospitalier Demo")
URGENTISTE = Pro("810000000107", "NGUYEN Lea", "10", None, "3900000000102", "Centre hospitalier Demo")
INFIRMIERE = Pro("810000000103", "PETIT Sarah", "60", None, "3900000000103", "Cabinet infirmier Petit")
KINE = Pro("810000000104", "ROUX Marc", "70", None, "3900000000104", "Cabinet de kinésithérapie Roux")
PHARMACIENNE = Pro("810000000105", "BLANC Ines", "21", None, "3900000000105", "Pharmacie Blanc")
PROFESSIONALS = (GENERALISTE, RADIOLOGUE, URGENTISTE, INFIRMIERE, KINE, PHARMACIENNE)


@dataclass(frozen=True)
class Doc:
    author: Pro
    title: str
    type_code: str  # CODE or CODE^SYSTEM (LOINC by default)
    masks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Patient:
    nir: str
    name: str
    state: PatientState
    born: date | None = None
    authorised: tuple[Pro, ...] = ()
    traitant: Pro | None = None
    break_glass: bool = True
    representative_nir: str | None = None
    documents: tuple[Doc, ...] = ()


CONSULTATION = Doc(GENERALISTE, "Compte rendu de consultation", "11488-4")
PATIENTS = (
    Patient(
        "2800175123401",
        "DUPONT Marie",
        PatientState.ACTIVATED,
        date(1980, 1, 15),
        authorised=(RADIOLOGUE, INFIRMIERE, KINE, PHARMACIENNE),
        traitant=GENERALISTE,
        documents=(
            CONSULTATION,
            Doc(GENERALISTE, "Prescription de kinésithérapie", f"PRESC-KINE^{NOMENCLATURE}"),
            Doc(GENERALISTE, "Synthèse médicale", "60591-5"),
            Doc(RADIOLOGUE, "Compte rendu d'imagerie (IRM du genou)", "18748-4"),
            Doc(RADIOLOGUE, "Compte rendu d'examens biologiques", "11502-2"),
            Doc(INFIRMIERE, "Compte rendu de soins infirmiers", "11506-3"),
            Doc(KINE, "Bilan de kinésithérapie", "47420-5"),
            Doc(PHARMACIENNE, "Compte rendu de consultation pharmaceutique", "93024-8"),
            Doc(GENERALISTE, "Consultation de psychiatrie", "11488-4", ("MASQUE_PS",)),
            Doc(RADIOLOGUE, "Compte rendu d'anatomopathologie", "11526-1", ("INVISIBLE_PATIENT",)),
        ),
    ),
    Patient(
        "2150675123402",
        "DUPONT Lucie",
        PatientState.ACTIVATED,
        date(2015, 6, 2),
        traitant=GENERALISTE,
        representative_nir="2800175123401",
        documents=(Doc(GENERALISTE, "Historique des vaccinations", "11369-6"),),
    ),
    Patient("1650375123403", "BERNARD Paul", PatientState.CREATED, date(1965, 3, 9), break_glass=False),
    Patient(
        "1720975123404",
        "MOREAU Jean",
        PatientState.ACTIVATED,
        date(1972, 9, 21),
        traitant=GENERALISTE,
        documents=(Doc(RADIOLOGUE, "Compte rendu hospitalier", "34112-3"), CONSULTATION),
    ),
    Patient(
        "2581175123405",
        "GIRARD Anne",
        PatientState.OPPOSED,
        date(1958, 11, 30),
        traitant=GENERALISTE,
        documents=(CONSULTATION,),
    ),
    Patient(
        "1490275123406",
        "FAURE Louis",
        PatientState.CLOSED,
        date(1949, 2, 14),
        documents=(Doc(GENERALISTE, "Certificat médical", "89601-9"),),
    ),
)


def patient_id(nir: str, profile: str) -> str:
    """The demo's id of a patient: a test INS (NIR + key) on dmp-test, the same digits as a CX on ihe."""
    ins = f"{nir}{nir_key(nir):02d}"
    if profile == "ihe":
        return f"{ins}^^^&{IHE_AUTHORITY}&ISO"
    return f"{ins}^^^&{TEST_INS_AUTHORITY}&ISO^NH"


def _records(database: Database, patients: Sequence[Patient], profile: str) -> None:
    """Every record open for the deposits (their final state comes after)."""
    with database.transaction() as connection:
        directory, records = SqlPatientDirectory(connection), SqlRecordStore(connection)
        for patient in patients:
            pid = patient_id(patient.nir, profile)
            directory.add(pid, PatientState.ACTIVATED, patient.born)
            for pro in patient.authorised:
                records.authorize(pid, pro.national_id)
            if patient.traitant is not None:
                records.set_settings(pid, medecin_traitant=patient.traitant.national_id)
            if not patient.break_glass:
                records.set_settings(pid, break_glass=False, samu=False)
            if patient.representative_nir:
                representative = patient_id(patient.representative_nir, profile)
                records.add_representative(pid, representative)


def _final_states(database: Database, patients: Sequence[Patient], profile: str) -> None:
    with database.transaction() as connection:
        directory = SqlPatientDirectory(connection)
        for patient in patients:
            directory.add(patient_id(patient.nir, profile), patient.state, patient.born)


def _post(
    router: Router, authority: DevAuthority, identity: Identity, action: str, body: etree._Element
) -> etree._Element:
    assertion = dev_authority.mint_assertion(authority, identity)
    answer = router.handle(messages.envelope(action, body, assertion))
    if not isinstance(answer.body, bytes):  # pragma: no cover - plain requests get plain answers
        fail("the demo got a streamed answer to a plain SOAP request", 1)
    return responses.parse_envelope(answer.body)


def _deposit(router: Router, authority: DevAuthority, settings: Settings, pid: str, doc: Doc) -> None:
    content = f"{doc.title}\n\nDocument de démonstration (données fictives), patient {pid}.\n".encode()
    facts = DocumentFacts(
        pid,
        mime_type="text/plain",
        title=doc.title,
        type_code=parse_code(doc.type_code, LOINC),
        masks=doc.masks,
        author=doc.author.author(),
    )
    request = submission_for(facts, content, repository_unique_id=settings.repository_unique_id)
    body = messages.provide_and_register_inline(request.submission, {request.document_id: content})
    answer = _post(router, authority, doc.author.identity(pid), SoapAction.PROVIDE_AND_REGISTER, body)
    outcome = responses.outcome(answer)
    if not outcome.success:
        fail(f"the demo document {doc.title!r} was refused: {'; '.join(map(str, outcome.errors))}", 1)


def _emergency(router: Router, authority: DevAuthority, pid: str) -> int:
    identity = URGENTISTE.identity(pid, AccessMode.BREAK_GLASS, "patient inconscient aux urgences")
    answer = _post(router, authority, identity, SoapAction.STORED_QUERY, messages.find_documents(pid))
    outcome = responses.outcome(answer)
    if not outcome.success:
        fail(f"the demo emergency access was refused: {'; '.join(map(str, outcome.errors))}", 1)
    return len(responses.documents_found(answer))


def demo_command(
    data_dir: DataDir = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", metavar="<dmp-test|ihe>", help="Affinity domain profile [$XDS_PROFILE or dmp-test]"
        ),
    ] = None,
) -> None:
    """Seed a data dir with a demo record set (test identities) and print what to try next."""
    profile = profile or os.environ.get("XDS_PROFILE", "").strip() or "dmp-test"
    if profile not in ("dmp-test", "ihe"):
        fail(f"the demo runs on dmp-test or ihe (test identities), not {profile!r}")
    settings = settings_of(data_dir, profile, create=True, overrides={"dev_authority": "on"})
    refuse_dev_authority_in_production(settings, load_profile(profile))
    authority = dev_authority.init(settings.data_dir)
    with open_database(settings) as database:
        with database.transaction(readonly=True) as connection:
            if next(iter(SqlPatientDirectory(connection).list()), None) is not None:
                fail(f"{settings.data_dir} already holds patients: the demo seeds an empty data dir")
        services = build_services(settings, database)
        router = Router(services)
        _records(database, PATIENTS, profile)
        count = 0
        for patient in PATIENTS:
            for doc in patient.documents:
                _deposit(router, authority, settings, patient_id(patient.nir, profile), doc)
                count += 1
        _final_states(database, PATIENTS, profile)
        seen = _emergency(router, authority, patient_id(PATIENTS[SAMPLE].nir, profile))
    _print_summary(settings, profile, count, seen)


def _print_summary(settings: Settings, profile: str, count: int, seen: int) -> None:
    folder = settings.data_dir
    typer.echo(f"demo data in {folder} (profile {profile}): {len(PATIENTS)} patients, {count} documents")
    for patient in PATIENTS:
        docs = len(patient.documents)
        typer.echo(
            f"  {patient_id(patient.nir, profile)}  {patient.name}  {patient.state.value}, {docs} document(s)"
        )
    typer.echo("professionals (IDNPS, profession, structure):")
    for pro in PROFESSIONALS:
        typer.echo(f"  {pro.national_id}  {pro.name}  {pro.profession}  {pro.structure_name}")
    moreau = patient_id(PATIENTS[SAMPLE].nir, profile)
    typer.echo(f"emergency access: {URGENTISTE.name} read {seen} documents of {moreau} in break-glass mode")
    dupont = patient_id(PATIENTS[0].nir, profile)
    where = f"--data-dir {folder} --profile {profile}"
    typer.echo(
        "\nwhat to try next:\n"
        f"  xds-server serve --dev {where} &\n"
        f"  xds-server find --patient '{dupont}' --dev --id {RADIOLOGUE.national_id} {where}\n"
        f"  xds-server find --patient '{dupont}' --dev --id {KINE.national_id} --profession 70 {where}"
        "   # fewer: the habilitation matrix\n"
        f"  xds-server policy explain --patient '{dupont}' --actor {KINE.national_id} --profession 70 "
        f"--document UNIQUE_ID {where}\n"
        f"  xds-server patients settings '{dupont}' {where}"
    )


__all__ = ["PATIENTS", "PROFESSIONALS", "demo_command", "patient_id"]
