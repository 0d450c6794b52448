"""Synthetic DMP records for benchmarks and demos (``xds-server bench generate``).

What a record looks like (dmp-rules.md, CI-SIS metadata): the patient is an INS (a 13-digit NIR of a
plausible birth year, month and department plus its INSEE key) under the INS-NIR authority; every
document is a small CDA R2 body; its metadata is drawn from the value sets the profile binds (classCode,
typeCode, formatCode, healthcareFacilityTypeCode, practiceSettingCode: the ANS tables of terminologies/),
confidentiality N (sometimes R or V) with, for a few percent, a DMP masking code (MASQUE_PS,
INVISIBLE_PATIENT); authors are health professionals with an IDNPS (8 + RPPS number), a profession of
TRE_G15, a structure with a FINESS-based id; creation times spread over ten years. Documents arrive in
submission sets of one to three documents; one record in four has a Folder holding some of them; about
3 % of the later submissions replace (RPLC) an earlier document of the same record.

Every submission is a client's ``Submission`` with its own ``urn:uuid`` ids. ``registered`` turns it into
the objects the registry stores with the real planner (``core.submission.plan_registration``: ids, lids,
versions, statuses, folder memberships of replacements, deprecations) over an in-memory reader of the
record's earlier objects, so the bulk writer stores exactly what the register path would
(tests/test_generate.py registers the same submissions both ways and compares the tables). Validation is
not run here (the test runs it on the register side): the data are valid by construction.

Randomness comes from one ``random.Random(seed)`` per patient: the same seed gives the same records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from xds_server.core.identifiers import canonical_patient_id, nir_key
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
    kind_of,
)
from xds_server.core.ports import IdFactory, ObjectSummary, PatientState, StoredDocumentIdentity
from xds_server.core.profile import BoundAttribute, DomainProfile
from xds_server.core.submission import plan_registration
from xds_server.core.vocabulary import AssociationType, SlotName, Status

__all__ = ["GeneratedRecord", "RecordGenerator", "Registered", "final_objects", "record_ids", "registered"]

INS_NIR_OID = "1.2.250.1.213.1.4.8"
IDNPS_OID = "1.2.250.1.71.4.2.1"
STRUCTURE_OID = "1.2.250.1.71.4.2.2"
G15_OID = "1.2.250.1.71.1.2.7"
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
DMP_VISIBILITY = "1.2.250.1.213.1.1.4.13"
CONTENT_TYPE = Code("04", "1.2.250.1.213.1.1.4.2", "Hospitalisation")
APPROVED = Status.APPROVED.value

_SURNAMES = (
    "MARTIN",
    "BERNARD",
    "DUBOIS",
    "THOMAS",
    "ROBERT",
    "RICHARD",
    "PETIT",
    "DURAND",
    "LEROY",
    "MOREAU",
)
_GIVEN = (
    "Jean",
    "Marie",
    "Pierre",
    "Nathalie",
    "Michel",
    "Isabelle",
    "Philippe",
    "Sylvie",
    "Alain",
    "Claire",
)
_PROFESSIONS = (("10", "Médecin"), ("21", "Pharmacien"), ("60", "Infirmier"), ("40", "Chirurgien-Dentiste"))
_TITLES = (
    "Compte rendu de consultation",
    "Compte rendu opératoire",
    "Lettre de liaison",
    "Résultats de biologie",
)
_TEN_YEARS = 10 * 365 * 24 * 3600


def _uuid(rng: random.Random) -> str:
    return f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"


def _oid(rng: random.Random) -> str:
    return f"2.25.{rng.getrandbits(120)}"


def _dtm(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


@dataclass(frozen=True, slots=True)
class GeneratedRecord:
    """One patient: its canonical id, birth date and submissions (in submission order) with the CDA body of
    every document (by DocumentEntry id)."""

    patient_id: str
    birth_date: date
    submissions: tuple[Submission, ...]
    bodies: dict[str, bytes] = field(default_factory=dict)


class RecordGenerator:
    """Synthetic records for one profile (its value sets), one repository, a fixed 'now'."""

    def __init__(
        self,
        profile: DomainProfile,
        repository_unique_id: str,
        now: datetime,
        seed: int = 0,
        *,
        folder_rate: float = 0.25,
        replace_rate: float = 0.03,
    ) -> None:
        self.folder_rate = folder_rate
        self.replace_rate = replace_rate
        self.profile = profile
        self.repository_unique_id = repository_unique_id
        self.now = now
        self.seed = seed
        self._codes = {
            binding.attribute: sorted(binding.codes) for binding in profile.bindings if binding.codes
        }

    def _code(self, rng: random.Random, attribute: BoundAttribute, fallback: tuple[str, str]) -> Code:
        choices = self._codes.get(attribute) or [fallback]
        value, scheme = choices[rng.randrange(len(choices))]
        return Code(value, scheme, value)

    def record(self, index: int, documents: int) -> GeneratedRecord:
        """Record number ``index`` (deterministic for a seed) with ``documents`` DocumentEntries."""
        rng = random.Random(f"{self.seed}/{index}")
        born = date(1930 + rng.randrange(90), 1 + rng.randrange(12), 1 + rng.randrange(28))
        nir13 = f"{1 + rng.randrange(2)}{born.year % 100:02d}{born.month:02d}{1 + rng.randrange(95):02d}"
        nir13 += f"{rng.randrange(1, 1000):03d}{rng.randrange(1, 1000):03d}"
        ins = f"{nir13}{nir_key(nir13):02d}"
        patient = canonical_patient_id(f"{ins}^^^&{INS_NIR_OID}&ISO^NH", self.profile)
        name = (_SURNAMES[rng.randrange(10)], _GIVEN[rng.randrange(10)])
        sex = "M" if nir13[0] == "1" else "F"
        info = (f"PID-5|{name[0]}^{name[1]}^^^^^L", f"PID-7|{born:%Y%m%d}", f"PID-8|{sex}")
        start = self.now - timedelta(seconds=_TEN_YEARS)
        times = sorted(start + timedelta(seconds=rng.randrange(_TEN_YEARS)) for _ in range(documents))
        submissions: list[Submission] = []
        bodies: dict[str, bytes] = {}
        earlier: list[str] = []  # DocumentEntry ids of this record, for replacements
        folder_id: str | None = None
        with_folder = rng.random() < self.folder_rate
        position = 0
        while position < documents:
            count = min(documents - position, 1 + (rng.random() < 0.3) + (rng.random() < 0.1))
            when = times[position : position + count]
            author = self._author(rng)
            ss = SubmissionSet(
                entry_uuid=_uuid(rng),
                title=LocalizedText("Soumission"),
                patient_id=patient,
                unique_id=_oid(rng),
                source_id="1.2.250.1.999.1.2",
                submission_time=_dtm(when[-1] + timedelta(minutes=5)),
                authors=(author,),
                content_type_code=CONTENT_TYPE,
            )
            docs = []
            associations: list[Association] = []
            for moment in when:
                doc, body = self._document(rng, patient, info, author, moment)
                docs.append(doc)
                bodies[doc.entry_uuid] = body
                associations.append(_member(rng, ss.entry_uuid, doc.entry_uuid, "Original"))
                if earlier and rng.random() < self.replace_rate:
                    replaced = earlier.pop(rng.randrange(len(earlier)))
                    associations.append(_link(rng, AssociationType.REPLACE.value, doc.entry_uuid, replaced))
            folders: list[Folder] = []
            if with_folder and folder_id is None:
                folder = Folder(
                    entry_uuid=_uuid(rng),
                    title=LocalizedText("Suivi"),
                    patient_id=patient,
                    unique_id=_oid(rng),
                    codes=(self._code(rng, BoundAttribute.CLASS_CODE, ("10", "1.2.250.1.213.1.1.4.1")),),
                )
                folders.append(folder)
                folder_id = folder.entry_uuid
                associations.append(_member(rng, ss.entry_uuid, folder.entry_uuid, None))
            if folder_id is not None and rng.random() < 0.5:
                link = _link(rng, AssociationType.HAS_MEMBER.value, folder_id, docs[0].entry_uuid)
                associations += [link, _member(rng, ss.entry_uuid, link.entry_uuid, None)]
            earlier += [doc.entry_uuid for doc in docs]
            submissions.append(
                Submission(
                    submission_sets=(ss,),
                    documents=tuple(docs),
                    folders=tuple(folders),
                    associations=tuple(associations),
                )
            )
            position += count
        return GeneratedRecord(patient, born, tuple(submissions), bodies)

    def _author(self, rng: random.Random) -> Author:
        rpps = f"{rng.randrange(10**10, 10**11)}"
        surname, given = _SURNAMES[rng.randrange(10)], _GIVEN[rng.randrange(10)]
        profession, label = _PROFESSIONS[rng.randrange(len(_PROFESSIONS))]
        finess = f"{rng.randrange(10**8, 10**9)}"
        return Author(
            person=f"8{rpps}^{surname}^{given}^^^^^^&{IDNPS_OID}&ISO^D^^^IDNPS",
            institutions=(f"Structure {finess}^^^^^&{STRUCTURE_OID}&ISO^IDNST^^^3{finess}",),
            roles=(f"{profession}^{label}^{G15_OID}",),
            specialties=("SM26^Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5",),
        )

    def _document(
        self,
        rng: random.Random,
        patient: str,
        info: tuple[str, ...],
        author: Author,
        moment: datetime,
    ) -> tuple[DocumentEntry, bytes]:
        title = _TITLES[rng.randrange(len(_TITLES))]
        unique_id = _oid(rng)
        body = _cda(unique_id, patient, title, moment, rng)
        confidentiality = [Code(("N", "N", "N", "N", "R", "V")[rng.randrange(6)], HL7_CONFIDENTIALITY, "")]
        if rng.random() < 0.05:
            mask = ("MASQUE_PS", "INVISIBLE_PATIENT")[rng.randrange(2)]
            confidentiality.append(Code(mask, DMP_VISIBILITY, mask))
        entry = DocumentEntry(
            entry_uuid=_uuid(rng),
            title=LocalizedText(title),
            mime_type="text/xml",
            patient_id=patient,
            unique_id=unique_id,
            creation_time=_dtm(moment),
            language_code="fr-FR",
            source_patient_id=patient,
            source_patient_info=info,
            service_start_time=_dtm(moment - timedelta(hours=1)),
            service_stop_time=_dtm(moment),
            hash=hashlib.sha1(body).hexdigest(),
            size=str(len(body)),
            repository_unique_id=self.repository_unique_id,
            content_sha256=hashlib.sha256(body).hexdigest(),
            authors=(author,),
            class_code=self._code(rng, BoundAttribute.CLASS_CODE, ("10", "1.2.250.1.213.1.1.4.1")),
            confidentiality_codes=tuple(confidentiality),
            format_code=self._code(
                rng, BoundAttribute.FORMAT_CODE, ("urn:ihe:iti:xds-sd:text:2008", "1.3.6.1.4.1.19376.1.2.3")
            ),
            healthcare_facility_type_code=self._code(
                rng, BoundAttribute.HEALTHCARE_FACILITY_TYPE_CODE, ("SA01", "1.2.250.1.71.4.2.4")
            ),
            practice_setting_code=self._code(
                rng, BoundAttribute.PRACTICE_SETTING_CODE, ("AMBULATOIRE", "1.2.250.1.213.1.1.4.9")
            ),
            type_code=self._code(rng, BoundAttribute.TYPE_CODE, ("11488-4", "2.16.840.1.113883.6.1")),
        )
        return entry, body


def _member(rng: random.Random, source: str, target: str, status: str | None) -> Association:
    slots = (Slot(SlotName.SUBMISSION_SET_STATUS.value, (status,)),) if status is not None else ()
    return Association(
        entry_uuid=_uuid(rng),
        association_type=AssociationType.HAS_MEMBER.value,
        source=source,
        target=target,
        slots=slots,
    )


def _link(rng: random.Random, kind: str, source: str, target: str) -> Association:
    return Association(entry_uuid=_uuid(rng), association_type=kind, source=source, target=target)


def _cda(unique_id: str, patient: str, title: str, moment: datetime, rng: random.Random) -> bytes:
    """A small CDA R2 document (about 1 KB) naming its own id, the patient and the time."""
    ins = patient.split("^", 1)[0]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode code="FR"/>'
        '<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
        f'<id root="{unique_id}"/><title>{title}</title><effectiveTime value="{_dtm(moment)}"/>'
        '<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/><languageCode code="fr-FR"/>'
        f'<recordTarget><patientRole><id root="{INS_NIR_OID}" extension="{ins}"/></patientRole>'
        "</recordTarget>"
        f"<component><nonXMLBody><text>Observation {rng.getrandbits(64):016x}: examen clinique sans "
        "particularité, poursuite du traitement, revoir dans trois mois.</text></nonXMLBody></component>"
        "</ClinicalDocument>\n"
    ).encode()


# ---- planning without a database ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registered:
    """What one submission leaves in the registry: new objects, and earlier ones it deprecated."""

    objects: tuple[AnyObject, ...]
    deprecated: tuple[str, ...]


class _RecordReader:
    """``RegistryReader`` over one record's earlier objects (the generator's data are all new to the
    registry: fresh uuids and uniqueIds, a known patient)."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        self.objects: dict[str, AnyObject] = {}

    def patient_state(self, patient_id: str) -> PatientState | None:
        return PatientState.ACTIVATED if patient_id == self.patient_id else None

    def summaries(self, entry_uuids: Collection[str]) -> dict[str, ObjectSummary]:
        found = {}
        for entry_uuid in entry_uuids:
            obj = self.objects.get(entry_uuid)
            if obj is None:
                continue
            if isinstance(obj, Association):
                found[entry_uuid] = ObjectSummary(
                    entry_uuid=entry_uuid,
                    kind="Association",
                    status=obj.status or APPROVED,
                    patient_id=None,
                    logical_id=obj.logical_id or entry_uuid,
                    version=int(obj.version or 1),
                    association_type=obj.association_type,
                    source=obj.source,
                    target=obj.target,
                )
            else:
                found[entry_uuid] = ObjectSummary(
                    entry_uuid=entry_uuid,
                    kind=kind_of(obj),
                    status=obj.status or APPROVED,
                    patient_id=obj.patient_id,
                    logical_id=obj.logical_id or entry_uuid,
                    version=int(obj.version or 1),
                    unique_id=obj.unique_id,
                    object_type=obj.object_type if isinstance(obj, DocumentEntry) else None,
                )
        return found

    def documents_by_unique_id(self, unique_ids: Collection[str]) -> list[StoredDocumentIdentity]:
        return []

    def package_unique_ids_in_use(self, unique_ids: Collection[str]) -> set[str]:
        return set()

    def associations_touching(
        self, entry_uuids: Collection[str], types: Collection[str] | None = None
    ) -> list[ObjectSummary]:
        wanted = set(entry_uuids)
        touching = [
            obj.entry_uuid
            for obj in self.objects.values()
            if isinstance(obj, Association)
            and (obj.source in wanted or obj.target in wanted)
            and (types is None or obj.association_type in types)
        ]
        return list(self.summaries(touching).values())

    def lock_patient(self, patient_id: str) -> None:
        return None  # one generator, no concurrent merge

    def lock(self, entry_uuids: Collection[str], unique_ids: Collection[str]) -> None:
        return None


class _FixedIds:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def new_uuid(self) -> str:
        return _uuid(self.rng)


def record_ids(record: GeneratedRecord, seed: int = 0) -> IdFactory:
    """The ids the planner gives the objects the registry makes itself (memberships of replacements): the
    same sequence for the same record and seed, whichever path registers it."""
    return _FixedIds(random.Random(f"ids/{seed}/{record.patient_id}"))


def registered(
    record: GeneratedRecord, profile: DomainProfile, now: str, seed: int = 0
) -> Iterator[Registered]:
    """Each submission of ``record`` as the registry stores it (see the module docstring)."""
    reader = _RecordReader(record.patient_id)
    ids = record_ids(record, seed)
    for submission in record.submissions:
        plan = plan_registration(submission, profile=profile, reader=reader, ids=ids, now=now)
        for entry_uuid in plan.deprecate:
            reader.objects[entry_uuid] = dataclasses.replace(
                reader.objects[entry_uuid], status=Status.DEPRECATED.value
            )
        for obj in plan.objects:
            reader.objects[obj.entry_uuid] = obj
        yield Registered(plan.objects, plan.deprecate)


def final_objects(
    record: GeneratedRecord,
    profile: DomainProfile,
    now: str,
    encode: Callable[[AnyObject], str],
    seed: int = 0,
) -> list[tuple[AnyObject, str]]:
    """Every object of ``record`` in insertion order with its stored XML: the XML as encoded when it was
    registered, the status (the authoritative column) as the later submissions left it."""
    order: dict[str, tuple[AnyObject, str]] = {}
    for step in registered(record, profile, now, seed):
        for entry_uuid in step.deprecated:
            obj, xml = order[entry_uuid]
            order[entry_uuid] = (dataclasses.replace(obj, status=Status.DEPRECATED.value), xml)
        for obj in step.objects:
            order[obj.entry_uuid] = (obj, encode(obj))
    return list(order.values())
