"""The leak property (issue 14): whoever asks, however the record is set, no answer of the real HTTP faces
shows a document the rules forbid, nor the SubmissionSet or Folder that holds only such a document.

One ``dmp-test`` application (the real one, in process over ASGI) and one database, seeded once: documents of
every type and masking combination the rules branch on, each in its own SubmissionSet and Folder. Then, for
each example Hypothesis draws, an actor (a professional of the matrix, care team or not, blocked, médecin
traitant or administrator, in normal, break-glass or regulation mode, with or without a reason, bound to the
patient or to another one; the patient himself; a legal representative, registered or not) and the record's
settings (state, consents, blocks, emergency settings, representatives): the record is rewritten (a few
rows), and the actor asks through SOAP (ITI-18 FindDocuments, GetAll, FindSubmissionSets, FindFolders; ITI-43
for every document) and FHIR (ITI-67 DocumentReference and List searches; ITI-68 for some documents). The
oracle is the one tests/policy states the rules with (issue 7 rule by rule, not the engine's code). Every
answer must name no forbidden document (entryUUID or uniqueId), no package of one, and return no forbidden
bytes; FindDocuments and the FHIR search must show exactly what the oracle allows, so that a server that
shows nothing cannot pass.

Bounded in CI (``XDS_LEAK_EXAMPLES``, 25 examples by default, the same every run); a longer run:

    XDS_LEAK_EXAMPLES=1000 python -m pytest -q tests/attacks/test_leak_property.py
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import delete

from tests.core.builders import DMP_PATIENT, INS, NIR_OID, code
from tests.e2e.test_dmp_packages import Package, submit
from tests.e2e.test_dmp_policy import (
    ANAPATH,
    APPROVED,
    AUTHOR,
    CONTENT,
    NS,
    Dmp,
    document,
    envelope,
    professional,
)
from tests.e2e.test_dmp_policy import dmp as dmp  # the fixture
from tests.identity_helpers import sign
from tests.policy.builders import DMP
from tests.policy.test_properties import oracle_may_see
from xds_server.core.policy import (
    AccessContext,
    AccessMode,
    ActorKind,
    RecordSettings,
    facts_from_entry,
)
from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import DMP_VISIBILITY_OID, SoapAction
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.records import SqlRecordStore
from xds_server.storage.tables import patient_professional, patient_representative, patient_setting

EXAMPLES = int(os.environ.get("XDS_LEAK_EXAMPLES", "25"))
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_ALL = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"
FIND_SUBMISSION_SETS = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
FIND_FOLDERS = "urn:uuid:958f3006-baad-4929-a4de-ff1114824431"
PATIENT_PARAM = f"'{DMP_PATIENT}'"
STATUS = f"('{APPROVED}')"
OTHER_PATIENT = "155081416802588^^^&1.2.250.1.213.1.4.8&ISO^NH"
FHIR_PATIENT = f"urn:oid:{NIR_OID}|{INS}"
UNKNOWN = "urn:uuid:00000000-1111-2222-3333-444444444444"  # a DocumentReference that never existed
REPRESENTATIVE_INS = "279035121518989"  # the representative's own INS (a valid NIR)
REPRESENTATIVE = f"{REPRESENTATIVE_INS}^^^&{NIR_OID}&ISO^NH"  # as the server names him (canonical CX)

#: The professionals an example draws from: the author of every document, and four others.
PEOPLE = (AUTHOR.national_id, "810000000011", "810000000012", "810000000013", "810000000014")
#: Professions of the matrix (with the savoir-faire a médecin carries): médecin, kiné, pharmacien,
#: infirmier, sage-femme, chirurgien-dentiste.
PROFESSIONS = ("10", "70", "21", "60", "50", "40")
MASKS = {
    "MASQUE_PS": code("MASQUE_PS", DMP_VISIBILITY_OID),
    "INVISIBLE_PATIENT": code("INVISIBLE_PATIENT", DMP_VISIBILITY_OID),
    "INVISIBLE_REPRESENTANTS_LEGAUX": code("INVISIBLE_REPRESENTANTS_LEGAUX", DMP_VISIBILITY_OID),
}
#: Every masking combination a deposit may carry (MASQUE_PS with INVISIBLE_PATIENT is refused at deposit).
MASK_SETS = (
    (),
    ("MASQUE_PS",),
    ("INVISIBLE_PATIENT",),
    ("INVISIBLE_REPRESENTANTS_LEGAUX",),
    ("MASQUE_PS", "INVISIBLE_REPRESENTANTS_LEGAUX"),
    ("INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"),
)


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    identity: Identity | None = None  # professionals

    def context(self) -> AccessContext:
        if self.kind is ActorKind.PATIENT:
            return AccessContext(ActorKind.PATIENT, DMP_PATIENT, patient_ins=DMP_PATIENT)
        if self.kind is ActorKind.LEGAL_REPRESENTATIVE:
            return AccessContext(
                ActorKind.LEGAL_REPRESENTATIVE, REPRESENTATIVE, represented=frozenset({DMP_PATIENT})
            )
        assert self.identity is not None
        return dev_authority.context_of(self.identity)

    def token(self, dmp: Dmp) -> dict[str, str]:
        if self.kind is ActorKind.PATIENT:
            claims = dev_authority.token_claims(patient_self=DMP_PATIENT)
        elif self.kind is ActorKind.LEGAL_REPRESENTATIVE:
            claims = dev_authority.token_claims(
                Identity(national_id=REPRESENTATIVE_INS), representative_of=[DMP_PATIENT]
            )
        else:
            claims = dev_authority.token_claims(self.identity)
        return {"Authorization": f"Bearer {dev_authority.mint_token(dmp.authority, claims)}"}


@dataclass(frozen=True)
class Record:
    state: PatientState
    authorised: frozenset[str]
    blocked: frozenset[str]
    administrators: frozenset[str]
    medecin_traitant: str | None
    samu: bool
    break_glass: bool
    representative: bool

    def settings(self) -> RecordSettings:
        return RecordSettings(
            DMP_PATIENT,
            self.state,
            authorised=self.authorised,
            blocked=self.blocked,
            medecin_traitant=self.medecin_traitant,
            administrators=self.administrators,
            samu_allowed=self.samu,
            break_glass_allowed=self.break_glass,
            legal_representatives=frozenset({REPRESENTATIVE}) if self.representative else frozenset(),
        )


def _professional(
    national_id: str, profession: str, mode: AccessMode, reason: str | None, bound: bool
) -> Actor:
    """A professional's assertion: the author keeps his structure; ``bound``: it names the record's patient,
    or another one."""
    structure = "S-AUTHOR" if national_id == AUTHOR.national_id else "S-OTHER"
    identity = professional(national_id, profession, structure=structure)
    patient = DMP_PATIENT if bound else OTHER_PATIENT
    return Actor(
        ActorKind.PROFESSIONAL, dataclasses.replace(identity, mode=mode, reason=reason, patient=patient)
    )


professionals = st.builds(
    _professional,
    st.sampled_from(PEOPLE),
    st.sampled_from(PROFESSIONS),
    st.sampled_from(list(AccessMode)),
    st.sampled_from([None, "patient inconscient"]),
    st.sampled_from([True, True, True, False]),  # mostly bound to the record's patient
)
actors = st.one_of(
    professionals,
    professionals,
    professionals,
    st.just(Actor(ActorKind.PATIENT)),
    st.just(Actor(ActorKind.LEGAL_REPRESENTATIVE)),
)
people = st.frozensets(st.sampled_from(PEOPLE))
records = st.builds(
    Record,
    state=st.sampled_from([PatientState.ACTIVATED] * 3 + list(PatientState)),
    authorised=people,
    blocked=st.frozensets(st.sampled_from(PEOPLE), max_size=1),
    administrators=people,
    medecin_traitant=st.sampled_from((None, *PEOPLE)),
    samu=st.booleans(),
    break_glass=st.booleans(),
    representative=st.booleans(),
)


# ---- the seeded record ------------------------------------------------------------------------------------


def seed(dmp: Dmp) -> list[Package]:
    """Documents of two types (one every profession reads, one médecins only) in every masking combination,
    each in its own SubmissionSet and Folder, deposited by their author; their content in the store."""
    dmp.record(authorised=[AUTHOR])
    packages = []
    for type_code in (None, ANAPATH):
        for masks in MASK_SETS:
            entry = document(type_code=type_code)
            codes = (*entry.confidentiality_codes, *(MASKS[m] for m in masks))
            packages.append(submit(dmp, dataclasses.replace(entry, confidentiality_codes=codes)))
    path = dmp.services.settings.data_dir / "content.bin"
    path.write_bytes(CONTENT)  # every document has these bytes (ITI-42 registered, content put here)
    assert dmp.services.blobs is not None
    dmp.services.blobs.put_file(packages[0].doc.hash or "", path)
    return packages


def rewrite(dmp: Dmp, record: Record) -> None:
    with dmp.database.transaction() as connection:
        for table in (patient_professional, patient_representative, patient_setting):
            connection.execute(delete(table).where(table.c.patient_id == DMP_PATIENT))
        SqlPatientDirectory(connection).add(DMP_PATIENT, record.state)
        store = SqlRecordStore(connection)
        for who in record.authorised:
            store.authorize(DMP_PATIENT, who)
        for who in record.blocked:
            store.block(DMP_PATIENT, who)
        for who in record.administrators:
            store.set_settings(DMP_PATIENT, administrator=who)
        store.set_settings(
            DMP_PATIENT,
            samu=record.samu,
            break_glass=record.break_glass,
            medecin_traitant=record.medecin_traitant or "",
        )
        if record.representative:
            store.add_representative(DMP_PATIENT, REPRESENTATIVE)


# ---- what the faces answer --------------------------------------------------------------------------------


def soap_answers(dmp: Dmp, actor: Actor, packages: list[Package]) -> tuple[set[str], list[bytes]]:
    """The entryUUIDs FindDocuments shows, and every SOAP answer (queries, retrieve) as bytes."""
    assert actor.identity is not None
    texts = []
    shown: set[str] = set()
    queries = (
        (FIND_DOCUMENTS, {"$XDSDocumentEntryPatientId": PATIENT_PARAM, "$XDSDocumentEntryStatus": STATUS}),
        (
            GET_ALL,
            {
                "$patientId": PATIENT_PARAM,
                "$XDSDocumentEntryStatus": STATUS,
                "$XDSSubmissionSetStatus": STATUS,
                "$XDSFolderStatus": STATUS,
            },
        ),
        (
            FIND_SUBMISSION_SETS,
            {"$XDSSubmissionSetPatientId": PATIENT_PARAM, "$XDSSubmissionSetStatus": STATUS},
        ),
        (FIND_FOLDERS, {"$XDSFolderPatientId": PATIENT_PARAM, "$XDSFolderStatus": STATUS}),
    )
    for query_id, params in queries:
        answer = dmp.query(actor.identity, query_id, params, "LeafClass")
        texts.append(answer.xml)
        if query_id == FIND_DOCUMENTS:
            shown = set(answer.ids)
    texts.append(retrieve_all(dmp, actor.identity, packages))
    return shown, texts


def retrieve_all(dmp: Dmp, identity: Identity, packages: list[Package]) -> bytes:
    """One ITI-43 request for every document: the uniqueIds of the DocumentResponses, as bytes."""
    repository = dmp.services.settings.repository_unique_id
    requests = "".join(
        f"<xdsb:DocumentRequest><xdsb:RepositoryUniqueId>{repository}</xdsb:RepositoryUniqueId>"
        f"<xdsb:DocumentUniqueId>{package.doc.unique_id}</xdsb:DocumentUniqueId></xdsb:DocumentRequest>"
        for package in packages
    )
    root = f'xdsb:RetrieveDocumentSetRequest xmlns:xdsb="{NS["xdsb"]}"'
    body = f"<{root}>{requests}</xdsb:RetrieveDocumentSetRequest>"
    response = dmp.client.post(
        "/xds/repository",
        content=sign(envelope(SoapAction.RETRIEVE, body), dmp.authority, identity),
        headers={"Content-Type": "application/soap+xml"},
    )
    content = response.content
    start = content.index(b"<env:Envelope") if b"<env:Envelope" in content else content.index(b"<")
    end = content.index(b"Envelope>", content.rindex(b"</")) + len(b"Envelope>")
    root = etree.fromstring(content[start:end])
    uids = [e.text or "" for e in root.iterfind(".//xdsb:DocumentResponse/xdsb:DocumentUniqueId", NS)]
    return " ".join(uids).encode()


def fhir_answers(
    dmp: Dmp, actor: Actor, packages: list[Package], sample: list[int]
) -> tuple[set[str], list[bytes], dict[str, int]]:
    """The entryUUIDs the ITI-67 search shows, every FHIR answer as bytes, ITI-68 statuses by entryUUID."""
    headers = actor.token(dmp)
    base = {"patient.identifier": FHIR_PATIENT, "status": "current"}
    search = dmp.client.get("/fhir/DocumentReference", params=base, headers=headers)
    lists = dmp.client.get("/fhir/List", params=base, headers=headers)
    texts = [search.content, lists.content]
    shown: set[str] = set()
    if search.status_code == 200:
        shown = {
            f"urn:uuid:{entry['resource']['id']}"
            for entry in search.json().get("entry", [])
            if "resource" in entry
        }
    unknown = dmp.client.get(f"/fhir/Binary/{UNKNOWN.removeprefix('urn:uuid:')}", headers=headers)
    statuses: dict[str, int] = {UNKNOWN: unknown.status_code}
    for index in sample:
        entry_uuid = packages[index].doc.entry_uuid
        response = dmp.client.get(f"/fhir/Binary/{entry_uuid.removeprefix('urn:uuid:')}", headers=headers)
        statuses[entry_uuid] = response.status_code
        texts.append(response.content)
    return shown, texts, statuses


def leaked(texts: list[bytes], package: Package) -> list[str]:
    names = [*package.ids, package.doc.unique_id or ""]
    return [name for name in names for text in texts if name.encode() in text]


# ---- the property -----------------------------------------------------------------------------------------


def test_no_answer_shows_a_document_the_rules_forbid(dmp: Dmp) -> None:
    packages = seed(dmp)
    facts = [facts_from_entry(package.doc) for package in packages]
    runs = {"examples": 0, "forbidden": 0, "allowed": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=EXAMPLES <= 25,  # CI: the same cases every run
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(actor=actors, record=records, sample=st.lists(st.integers(0, len(packages) - 1), max_size=3))
    def check(actor: Actor, record: Record, sample: list[int]) -> None:
        rewrite(dmp, record)
        context, settings_ = actor.context(), record.settings()
        allowed = {
            package.doc.entry_uuid
            for package, fact in zip(packages, facts, strict=True)
            if oracle_may_see(DMP, context, settings_, fact, False)
        }
        texts: list[bytes] = []
        if actor.kind is ActorKind.PROFESSIONAL:
            shown, soap = soap_answers(dmp, actor, packages)
            assert shown == allowed, (actor, record, shown, allowed)
            texts += soap
        shown, fhir, binaries = fhir_answers(dmp, actor, packages, sample)
        assert shown == allowed, (actor, record, shown, allowed)
        texts += fhir
        for package in packages:
            if package.doc.entry_uuid in allowed:
                runs["allowed"] += 1
                continue
            runs["forbidden"] += 1
            assert not leaked(texts, package), (actor, record, leaked(texts, package))
        # ITI-68: an allowed document's bytes; a forbidden one answered exactly as an id that never existed
        unknown = binaries.pop(UNKNOWN)
        for entry_uuid, status in binaries.items():
            expected = 200 if entry_uuid in allowed else unknown
            assert status == expected, (actor, record, entry_uuid, status)
        runs["examples"] += 1

    check()
    # the examples reached both sides of the rules (a server that shows nothing, or everything, fails above)
    assert runs["examples"] >= min(EXAMPLES, 10) and runs["forbidden"] and runs["allowed"], runs


def test_a_registered_representative_retrieves_what_he_sees(dmp: Dmp) -> None:
    """Found by the property: ITI-68 looked for the record in the token's patient, which a representative's
    token does not name, and answered "DMP closed or does not exist" for documents his search showed."""
    packages = seed(dmp)
    actor = Actor(ActorKind.LEGAL_REPRESENTATIVE)
    for registered in (True, False):
        rewrite(dmp, Record(PatientState.ACTIVATED, *(frozenset(),) * 3, None, False, False, registered))
        shown, _texts, statuses = fhir_answers(dmp, actor, packages, [0])
        assert bool(shown) == registered
        assert (statuses[packages[0].doc.entry_uuid] == 200) == registered, statuses
