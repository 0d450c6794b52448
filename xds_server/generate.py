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

Theory of operation. A record is first drawn as plain facts (``RecordGenerator.facts``: ids, codes, times,
who replaces what), from one ``random.Random`` per record: the same seed gives the same records. The facts
are then rendered one of two ways:

- ``record``: the client's ``Submission`` objects, for the register path (ITI-42) and the tests;
- ``RowRenderer.render``: the rows the registry would store after registering those submissions, handed
  to a ``RowSink`` (the bulk writer, storage/bulk_load.py), without building a model object. This is the
  generator's hot path, written to cost a few microseconds per object:

  * the XML of each object is a template made once per object shape by the real encoder: the renderer
    builds a prototype object whose variable fields hold unique markers, encodes it, and turns every
    marker, and every Classification/ExternalIdentifier id the encoder derived from the object's id,
    into a ``str.format`` field; filling it with the escaped values of a real object gives the encoder's
    bytes for that object;
  * what the planner (``core.submission.plan_registration``) decides for these submissions is applied
    here: new objects Approved, version 1, lid = id; a replaced entry Deprecated (its column; the XML
    stays as registered); a replacement joins the Folder of the entry it replaces, through a HasMember
    and its SubmissionSet membership whose ids come from ``record_ids``, as the planner draws them.

tests/test_generate.py registers the same records through the ITI-42 use case (validation under ``dmp``
included) and compares every table with what the renderer wrote: that test is what keeps the two equal
when the encoder, the planner or the row layout change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, TypeVar

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
)
from xds_server.core.ports import IdFactory
from xds_server.core.profile import BoundAttribute, DomainProfile
from xds_server.core.vocabulary import AssociationType, ObjectType, SlotName, Status

__all__ = [
    "GeneratedRecord",
    "RecordFacts",
    "RecordGenerator",
    "RowRenderer",
    "RowSink",
    "record_ids",
]

INS_NIR_OID = "1.2.250.1.213.1.4.8"
IDNPS_OID = "1.2.250.1.71.4.2.1"
STRUCTURE_OID = "1.2.250.1.71.4.2.2"
G15_OID = "1.2.250.1.71.1.2.7"
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
DMP_VISIBILITY = "1.2.250.1.213.1.1.4.13"
CONTENT_TYPE = Code("04", "1.2.250.1.213.1.1.4.2", "Hospitalisation")
SPECIALTY = "SM26^Qualifié en Médecine Générale (SM)^1.2.250.1.213.1.1.4.5"
SOURCE_ID = "1.2.250.1.999.1.2"
MIME_TYPE = "text/xml"
LANGUAGE = "fr-FR"
APPROVED = Status.APPROVED.value
DEPRECATED = Status.DEPRECATED.value
HAS_MEMBER = AssociationType.HAS_MEMBER.value
REPLACE = AssociationType.REPLACE.value
ORIGINAL = "Original"
STABLE_DOCUMENT = ObjectType.STABLE_DOCUMENT.value

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
_DAY = 24 * 3600
# The bits uuid.UUID(int=..., version=4) forces: the same strings, without building UUID objects.
_UUID_KEEP = ~((0xC000 << 48) | (0xF000 << 64)) & ((1 << 128) - 1)
_UUID_V4 = (0x8000 << 48) | (0x4 << 76)
# The attributes drawn per document, in draw order, with the code used when the profile binds none.
_DOCUMENT_CODES: tuple[tuple[BoundAttribute, tuple[str, str]], ...] = (
    (BoundAttribute.CLASS_CODE, ("10", "1.2.250.1.213.1.1.4.1")),
    (BoundAttribute.FORMAT_CODE, ("urn:ihe:iti:xds-sd:text:2008", "1.3.6.1.4.1.19376.1.2.3")),
    (BoundAttribute.HEALTHCARE_FACILITY_TYPE_CODE, ("SA01", "1.2.250.1.71.4.2.4")),
    (BoundAttribute.PRACTICE_SETTING_CODE, ("AMBULATOIRE", "1.2.250.1.213.1.1.4.9")),
    (BoundAttribute.TYPE_CODE, ("11488-4", "2.16.840.1.113883.6.1")),
)

#: A drawn code with everything the two renderings need, computed once per code of the value set:
#: (code, scheme, display, code as the XML writes it, scheme as the XML writes it, stored key code^^scheme).
Coded = tuple[str, str, str, str, str, str]


def _coded(code: str, scheme: str, display: str) -> Coded:
    for value in (code, scheme, display):
        if any(c in value for c in "\"'") or not value.isprintable():
            raise ValueError(f"code {value!r} cannot be templated")
    return (code, scheme, display, _escape(code), _escape(scheme), f"{code}^^{scheme}")


def _escape(value: str) -> str:
    """What the encoder writes for a value (ebxml/encoding.py ``_t``/``_a``; the generator's values hold no
    quote or control character: ``_coded`` checks the codes, the rest are the generator's own strings)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_CONFIDENTIALITY = tuple(_coded(code, HL7_CONFIDENTIALITY, "") for code in ("N", "N", "N", "N", "R", "V"))
_MASKS = tuple(_coded(code, DMP_VISIBILITY, code) for code in ("MASQUE_PS", "INVISIBLE_PATIENT"))


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128) & _UUID_KEEP | _UUID_V4:032x}"
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Dtm:
    """DTMs (YYYYMMDDHHMMSS, UTC) of second offsets from a start: a day string per day, a table of the
    86 400 times of day (strftime per value would cost more than the rest of a document)."""

    def __init__(self, start: datetime) -> None:
        self._start = int(start.timestamp())
        self._days: dict[int, str] = {}
        self._hms = [f"{h:02d}{m:02d}{s:02d}" for h in range(24) for m in range(60) for s in range(60)]

    def __call__(self, offset: int) -> str:
        day, second = divmod(self._start + offset, _DAY)
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = datetime.fromtimestamp(day * _DAY, UTC).strftime("%Y%m%d")
        return text + self._hms[second]


# ---- facts -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AuthorFacts:
    person: str
    institution: str
    role: str


@dataclass(slots=True)
class DocumentFacts:
    entry_uuid: str
    unique_id: str
    title: str
    creation_time: str  # DTM, also the service stop time
    service_start_time: str
    hash: str
    size: int
    body: bytes
    codes: tuple[Coded, ...]  # class, format, facility type, practice setting, type (_DOCUMENT_CODES)
    confidentiality: tuple[Coded, ...]
    member: str  # id of the SubmissionSet -> entry HasMember
    replaces: tuple[str, str] | None = None  # (id of the RPLC association, the entry it replaces)


@dataclass(slots=True)
class SubmissionFacts:
    entry_uuid: str
    unique_id: str
    submission_time: str
    author: AuthorFacts
    documents: list[DocumentFacts]
    folder: tuple[str, str, Coded] | None = None  # (id, uniqueId, code) of a new Folder
    folder_member: str | None = None  # id of the SubmissionSet -> new Folder HasMember
    link: tuple[str, str] | None = None  # (Folder -> first entry HasMember, SubmissionSet -> it HasMember)


@dataclass(slots=True)
class RecordFacts:
    """One patient's record as drawn: its canonical id, birth date, PID lines and submissions in order."""

    patient_id: str
    birth_date: date
    info: tuple[str, str, str]
    submissions: list[SubmissionFacts]
    folder_id: str | None = None


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
        codes = {binding.attribute: sorted(binding.codes) for binding in profile.bindings if binding.codes}
        self._choices: tuple[tuple[Coded, ...], ...] = tuple(
            tuple(_coded(code, scheme, code) for code, scheme in codes.get(attribute) or [fallback])
            for attribute, fallback in _DOCUMENT_CODES
        )
        self._dtm = _Dtm(now - timedelta(seconds=_TEN_YEARS))

    def facts(self, index: int, documents: int) -> RecordFacts:
        """Record number ``index`` (deterministic for a seed) with ``documents`` DocumentEntries."""
        rng = random.Random(f"{self.seed}/{index}")
        randrange, chance, bits = rng.randrange, rng.random, rng.getrandbits
        born = date(1930 + randrange(90), 1 + randrange(12), 1 + randrange(28))
        nir13 = f"{1 + randrange(2)}{born.year % 100:02d}{born.month:02d}{1 + randrange(95):02d}"
        nir13 += f"{randrange(1, 1000):03d}{randrange(1, 1000):03d}"
        ins = f"{nir13}{nir_key(nir13):02d}"
        patient = canonical_patient_id(f"{ins}^^^&{INS_NIR_OID}&ISO^NH", self.profile)
        name = (_SURNAMES[randrange(10)], _GIVEN[randrange(10)])
        sex = "M" if nir13[0] == "1" else "F"
        info = (f"PID-5|{name[0]}^{name[1]}^^^^^L", f"PID-7|{born:%Y%m%d}", f"PID-8|{sex}")
        times = sorted([int(chance() * _TEN_YEARS) for _ in range(documents)])
        facts = RecordFacts(patient, born, info, [])
        dtm, choices, replace_rate = self._dtm, self._choices, self.replace_rate
        earlier: list[str] = []  # DocumentEntry ids of this record, for replacements
        with_folder = chance() < self.folder_rate
        position = 0
        while position < documents:
            count = min(documents - position, 1 + (chance() < 0.3) + (chance() < 0.1))
            when = times[position : position + count]
            author = self._author(rng)
            sub = SubmissionFacts(_uuid(rng), f"2.25.{bits(120)}", dtm(when[-1] + 300), author, [])
            for moment in when:
                unique_id = f"2.25.{bits(120)}"
                title = _TITLES[int(chance() * 4)]
                creation = dtm(moment)
                body = _cda(unique_id, ins, title, creation, bits(64))
                confidentiality: tuple[Coded, ...] = (_CONFIDENTIALITY[int(chance() * 6)],)
                if chance() < 0.05:
                    confidentiality += (_MASKS[int(chance() * 2)],)
                doc = DocumentFacts(
                    _uuid(rng),
                    unique_id,
                    title,
                    creation,
                    dtm(moment - 3600),
                    hashlib.sha1(body).hexdigest(),
                    len(body),
                    body,
                    tuple([values[int(chance() * len(values))] for values in choices]),
                    confidentiality,
                    _uuid(rng),
                )
                sub.documents.append(doc)
                if earlier and chance() < replace_rate:
                    doc.replaces = (_uuid(rng), earlier.pop(int(chance() * len(earlier))))
            if with_folder and facts.folder_id is None:
                sub.folder = (_uuid(rng), f"2.25.{bits(120)}", choices[0][int(chance() * len(choices[0]))])
                sub.folder_member = _uuid(rng)
                facts.folder_id = sub.folder[0]
            if facts.folder_id is not None and chance() < 0.5:
                sub.link = (_uuid(rng), _uuid(rng))
            earlier += [doc.entry_uuid for doc in sub.documents]
            facts.submissions.append(sub)
            position += count
        return facts

    def _author(self, rng: random.Random) -> AuthorFacts:
        chance = rng.random
        rpps = 10**10 + int(chance() * 9 * 10**10)
        surname, given = _SURNAMES[int(chance() * 10)], _GIVEN[int(chance() * 10)]
        profession, label = _PROFESSIONS[int(chance() * len(_PROFESSIONS))]
        finess = 10**8 + int(chance() * 9 * 10**8)
        return AuthorFacts(
            person=f"8{rpps}^{surname}^{given}^^^^^^&{IDNPS_OID}&ISO^D^^^IDNPS",
            institution=f"Structure {finess}^^^^^&{STRUCTURE_OID}&ISO^IDNST^^^3{finess}",
            role=f"{profession}^{label}^{G15_OID}",
        )

    # ---- the client's submissions (register path, tests) ---------------------------------------------

    def record(self, index: int, documents: int) -> GeneratedRecord:
        """Record number ``index`` as the Submissions a client would send, with the document bodies."""
        facts = self.facts(index, documents)
        submissions = []
        bodies: dict[str, bytes] = {}
        folder_id = facts.folder_id
        for sub in facts.submissions:
            ss = _submission_set(sub, facts.patient_id)
            docs = []
            associations: list[Association] = []
            for doc in sub.documents:
                docs.append(self._entry(doc, facts.patient_id, facts.info, sub.author))
                bodies[doc.entry_uuid] = doc.body
                associations.append(_member(doc.member, ss.entry_uuid, doc.entry_uuid, ORIGINAL))
                if doc.replaces is not None:
                    associations.append(_link(doc.replaces[0], REPLACE, doc.entry_uuid, doc.replaces[1]))
            folders = []
            if sub.folder is not None and sub.folder_member is not None:
                folders.append(_folder(sub.folder, facts.patient_id))
                associations.append(_member(sub.folder_member, ss.entry_uuid, sub.folder[0], None))
            if sub.link is not None and folder_id is not None:
                link = _link(sub.link[0], HAS_MEMBER, folder_id, sub.documents[0].entry_uuid)
                associations += [link, _member(sub.link[1], ss.entry_uuid, link.entry_uuid, None)]
            submissions.append(
                Submission(
                    submission_sets=(ss,),
                    documents=tuple(docs),
                    folders=tuple(folders),
                    associations=tuple(associations),
                )
            )
        return GeneratedRecord(facts.patient_id, facts.birth_date, tuple(submissions), bodies)

    def _entry(
        self, doc: DocumentFacts, patient: str, info: tuple[str, ...], author: AuthorFacts
    ) -> DocumentEntry:
        codes = [Code(*coded[:3]) for coded in doc.codes]
        return DocumentEntry(
            entry_uuid=doc.entry_uuid,
            title=LocalizedText(doc.title),
            mime_type=MIME_TYPE,
            patient_id=patient,
            unique_id=doc.unique_id,
            creation_time=doc.creation_time,
            language_code=LANGUAGE,
            source_patient_id=patient,
            source_patient_info=info,
            service_start_time=doc.service_start_time,
            service_stop_time=doc.creation_time,
            hash=doc.hash,
            size=str(doc.size),
            repository_unique_id=self.repository_unique_id,
            authors=(_author(author),),
            class_code=codes[0],
            confidentiality_codes=tuple(Code(*coded[:3]) for coded in doc.confidentiality),
            format_code=codes[1],
            healthcare_facility_type_code=codes[2],
            practice_setting_code=codes[3],
            type_code=codes[4],
        )


def _author(author: AuthorFacts) -> Author:
    return Author(
        person=author.person,
        institutions=(author.institution,),
        roles=(author.role,),
        specialties=(SPECIALTY,),
    )


def _submission_set(sub: SubmissionFacts, patient: str) -> SubmissionSet:
    return SubmissionSet(
        entry_uuid=sub.entry_uuid,
        title=LocalizedText("Soumission"),
        patient_id=patient,
        unique_id=sub.unique_id,
        source_id=SOURCE_ID,
        submission_time=sub.submission_time,
        authors=(_author(sub.author),),
        content_type_code=CONTENT_TYPE,
    )


def _folder(folder: tuple[str, str, Coded], patient: str) -> Folder:
    entry_uuid, unique_id, coded = folder
    return Folder(
        entry_uuid=entry_uuid,
        title=LocalizedText("Suivi"),
        patient_id=patient,
        unique_id=unique_id,
        codes=(Code(*coded[:3]),),
    )


def _member(entry_uuid: str, source: str, target: str, status: str | None) -> Association:
    slots = (Slot(SlotName.SUBMISSION_SET_STATUS.value, (status,)),) if status is not None else ()
    return Association(
        entry_uuid=entry_uuid, association_type=HAS_MEMBER, source=source, target=target, slots=slots
    )


def _link(entry_uuid: str, kind: str, source: str, target: str) -> Association:
    return Association(entry_uuid=entry_uuid, association_type=kind, source=source, target=target)


def _cda(unique_id: str, ins: str, title: str, moment: str, noise: int) -> bytes:
    """A small CDA R2 document (about 1 KB) naming its own id, the patient and the time."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode code="FR"/>'
        '<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
        f'<id root="{unique_id}"/><title>{title}</title><effectiveTime value="{moment}"/>'
        '<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/><languageCode code="fr-FR"/>'
        f'<recordTarget><patientRole><id root="{INS_NIR_OID}" extension="{ins}"/></patientRole>'
        "</recordTarget>"
        f"<component><nonXMLBody><text>Observation {noise:016x}: examen clinique sans "
        "particularité, poursuite du traitement, revoir dans trois mois.</text></nonXMLBody></component>"
        "</ClinicalDocument>\n"
    ).encode()


class _PlannerIds:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def new_uuid(self) -> str:
        return _uuid(self.rng)


def record_ids(patient_id: str, seed: int = 0) -> IdFactory:
    """The ids the planner gives the objects the registry makes itself (memberships of replacements): the
    same sequence for the same record and seed, whichever path registers it."""
    return _PlannerIds(random.Random(f"ids/{seed}/{patient_id}"))


# ---- rows without model objects ------------------------------------------------------------------------


class RowSink(Protocol):
    """Where the renderer puts what the registry stores (storage/bulk_load.py ``BulkRows``). Every object is
    a first version: lid = id, version 1. Values are the stored ones (DTMs of 14 digits, code keys
    ``code^^scheme``)."""

    def patient(self, patient_id: str, birth_date: date) -> None: ...

    def document_entry(
        self,
        entry_uuid: str,
        status: str,
        patient_id: str,
        unique_id: str,
        object_type: str,
        codes: Sequence[str],  # keys of class, format, facility type, practice setting, type
        creation_time: str,
        service_start_time: str,
        service_stop_time: str,
        hash: str,
        size: int,
        repository_unique_id: str,
        mime_type: str,
        xml: str,
    ) -> None: ...

    def confidentiality_code(self, entry_uuid: str, code_key: str) -> None: ...

    def author(self, entry_uuid: str, person: str) -> None: ...

    def submission_set(
        self,
        entry_uuid: str,
        patient_id: str,
        unique_id: str,
        source_id: str,
        submission_time: str,
        content_type_code: str,
        xml: str,
    ) -> None: ...

    def folder(
        self, entry_uuid: str, patient_id: str, unique_id: str, last_update_time: str, xml: str
    ) -> None: ...

    def folder_code(self, entry_uuid: str, code_key: str) -> None: ...

    def association(
        self, entry_uuid: str, association_type: str, source: str, target: str, xml: str
    ) -> None: ...


Encoder = Callable[[AnyObject], str]
_O = TypeVar("_O", DocumentEntry, SubmissionSet, Folder, Association)
#: The ids the encoder derives from an object id: its first ``classifications`` Classification ids, then its
#: first ``identifiers`` ExternalIdentifier ids (ebxml/encoding.py ``child_ids``).
ChildIds = Callable[[str, int, int], list[str]]


class _Template:
    """The encoder's XML of one object shape, cut where its values go: the markers of the prototype's
    variable fields are values 0..n-1 (0: the object id), the ids the encoder derived from the id the next
    ones. Filling joins the literal pieces and the values (``itemgetter`` picks them in text order), about
    ten times cheaper than ``str.format`` on a 6 KB string."""

    _SEARCH = (64, 16)

    def __init__(
        self, prototype: AnyObject, markers: Sequence[str], encode: Encoder, child_ids: ChildIds
    ) -> None:
        xml = encode(prototype)
        derived = child_ids(prototype.entry_uuid, *self._SEARCH)
        cls_found = [i for i, value in enumerate(derived[: self._SEARCH[0]]) if value in xml]
        ext_found = [i for i, value in enumerate(derived[self._SEARCH[0] :]) if value in xml]
        self.classifications = len(cls_found)
        self.identifiers = len(ext_found)
        if cls_found != list(range(self.classifications)) or ext_found != list(range(self.identifiers)):
            raise ValueError("the encoder's derived ids are not numbered from 1")
        fields = list(markers) + derived[: self.classifications]
        fields += derived[self._SEARCH[0] : self._SEARCH[0] + self.identifiers]
        # Cut the text at every occurrence of every field, in text order.
        found: list[tuple[int, int, int]] = []  # (start, end, field number)
        for number, value in enumerate(fields):
            start = xml.find(value)
            if start < 0:
                raise ValueError(f"field {value!r} is not in the encoded prototype")
            while start >= 0:
                found.append((start, start + len(value), number))
                start = xml.find(value, start + len(value))
        found.sort()
        pieces: list[str | None] = []
        position = 0
        for start, end, _number in found:
            pieces += [xml[position:start], None]
            position = end
        pieces.append(xml[position:])
        self._pieces = pieces
        self._pick = operator.itemgetter(*[number for _start, _end, number in found])
        self._child_ids = child_ids
        self.fill = self._fill_derived if self.classifications or self.identifiers else self._fill

    def _fill(self, *values: str) -> str:
        out = self._pieces[:]
        out[1::2] = self._pick(values)
        return "".join(out)  # type: ignore[arg-type]  # every None was replaced

    def _fill_derived(self, *values: str) -> str:
        out = self._pieces[:]
        out[1::2] = self._pick((*values, *self._child_ids(values[0], self.classifications, self.identifiers)))
        return "".join(out)  # type: ignore[arg-type]


def _markers(count: int) -> list[str]:
    """Unique field markers, none a prefix of another (characters the encoder writes as they are)."""
    return [f"\ue000{n:03d}\ue001" for n in range(count)]


class RowRenderer:
    """Facts -> registry rows (see the module docstring): the XML from templates of the encoder's output,
    the planner's decisions for these submissions applied by hand, every value computed once."""

    def __init__(
        self, generator: RecordGenerator, now: str, encode: Encoder, child_ids: ChildIds, seed: int = 0
    ) -> None:
        self.generator = generator
        self.now = now
        self.seed = seed
        self.repository = generator.repository_unique_id
        m = _markers(40)
        author = AuthorFacts(m[1], m[2], m[3])
        codes = tuple((m[i], m[i + 1], m[i], m[i], m[i + 1], "") for i in range(10, 20, 2))
        doc = DocumentFacts(
            entry_uuid=m[0],
            unique_id=m[4],
            title=m[5],
            creation_time=m[6],
            service_start_time=m[7],
            hash=m[8],
            size=0,
            body=b"",
            codes=codes,
            confidentiality=((m[23], m[24], "", m[23], m[24], ""),),
            member="",
        )
        info = (m[20], m[21], m[22])
        self._documents = {}
        for masks in (0, 1):
            doc.confidentiality = doc.confidentiality[:1] + ((m[25], m[26], m[25], m[25], m[26], ""),) * masks
            entry = dataclasses.replace(generator._entry(doc, m[27], info, author), size=m[9])
            markers = [*m[:25], *(m[25:27] if masks else []), m[27]]
            self._documents[1 + masks] = _Template(_first_version(entry), markers, encode, child_ids)
        sub = SubmissionFacts(m[0], m[4], m[5], author, documents=[])
        ss = _first_version(_submission_set(sub, m[27]))
        self._submission_set = _Template(ss, [m[0], m[1], m[2], m[3], m[4], m[5], m[27]], encode, child_ids)
        folder = dataclasses.replace(
            _first_version(_folder((m[0], m[4], codes[0]), m[27])), last_update_time=m[6]
        )
        self._folder = _Template(folder, [m[0], m[4], m[6], m[10], m[11], m[27]], encode, child_ids)
        m0, m1, m2, m3 = m[0], m[1], m[2], m[3]
        member = _first_version(_member(m0, m2, m3, m1))
        self._member = _Template(member, [m0, m1, m2, m3], encode, child_ids)
        self._link = _Template(_first_version(_link(m0, m1, m2, m3)), [m0, m1, m2, m3], encode, child_ids)

    def render(self, facts: RecordFacts, sink: RowSink) -> int:
        """Every row of ``facts``'s record into ``sink``, in the order the register path inserts them; the
        number of DocumentEntries."""
        patient = facts.patient_id
        sink.patient(patient, facts.birth_date)
        esc_patient = _escape(patient)
        info5, info7, info8 = (_escape(line) for line in facts.info)
        deprecated = {d.replaces[1] for s in facts.submissions for d in s.documents if d.replaces is not None}
        folder_id = facts.folder_id
        in_folder: set[str] = set()  # entries a HasMember from the record's Folder holds
        ids = record_ids(patient, self.seed)
        now, repository = self.now, self.repository
        member, link, templates = self._member.fill, self._link.fill, self._documents
        add_document, add_code, add_author = sink.document_entry, sink.confidentiality_code, sink.author
        add_association = sink.association
        documents = 0
        for sub in facts.submissions:
            ss_id = sub.entry_uuid
            author = sub.author
            person, institution, role = _escape(author.person), _escape(author.institution), author.role
            sink.submission_set(
                ss_id,
                patient,
                sub.unique_id,
                SOURCE_ID,
                sub.submission_time,
                CONTENT_TYPE.key(),
                self._submission_set.fill(
                    ss_id, person, institution, role, sub.unique_id, sub.submission_time, esc_patient
                ),
            )
            add_author(ss_id, author.person)
            for doc in sub.documents:
                entry_uuid = doc.entry_uuid
                c0, c1, c2, c3, c4 = doc.codes
                confidentiality = doc.confidentiality
                conf = [value for coded in confidentiality for value in coded[3:5]]
                xml = templates[len(confidentiality)].fill(
                    entry_uuid, person, institution, role, doc.unique_id, doc.title, doc.creation_time,
                    doc.service_start_time, doc.hash, str(doc.size), c0[3], c0[4], c1[3], c1[4], c2[3], c2[4],
                    c3[3], c3[4], c4[3], c4[4], info5, info7, info8, *conf, esc_patient,
                )  # fmt: skip
                add_document(
                    entry_uuid,
                    DEPRECATED if entry_uuid in deprecated else APPROVED,
                    patient,
                    doc.unique_id,
                    STABLE_DOCUMENT,
                    (c0[5], c1[5], c2[5], c3[5], c4[5]),
                    doc.creation_time,
                    doc.service_start_time,
                    doc.creation_time,
                    doc.hash,
                    doc.size,
                    repository,
                    MIME_TYPE,
                    xml,
                )
                for key in dict.fromkeys(coded[5] for coded in confidentiality):
                    add_code(entry_uuid, key)
                add_author(entry_uuid, author.person)
                documents += 1
            if sub.folder is not None:
                folder, unique_id, coded = sub.folder
                xml = self._folder.fill(folder, unique_id, now, coded[3], coded[4], esc_patient)
                sink.folder(folder, patient, unique_id, now, xml)
                sink.folder_code(folder, coded[5])
            # Associations in submission order, then the memberships the registry adds itself.
            extra: list[tuple[str, str, str]] = []  # (id, source, target) of slot-less HasMembers
            linked = sub.documents[0].entry_uuid if sub.link is not None else None
            for doc in sub.documents:
                entry_uuid = doc.entry_uuid
                add_association(
                    doc.member, HAS_MEMBER, ss_id, entry_uuid, member(doc.member, ORIGINAL, ss_id, entry_uuid)
                )
                if doc.replaces is None:
                    continue
                rplc, replaced = doc.replaces
                add_association(
                    rplc, REPLACE, entry_uuid, replaced, link(rplc, REPLACE, entry_uuid, replaced)
                )
                if replaced in in_folder and folder_id is not None and linked != entry_uuid:
                    joined = ids.new_uuid()
                    extra += [(joined, folder_id, entry_uuid), (ids.new_uuid(), ss_id, joined)]
                    in_folder.add(entry_uuid)
            if sub.folder is not None and sub.folder_member is not None:
                folder, filed = sub.folder[0], sub.folder_member
                add_association(filed, HAS_MEMBER, ss_id, folder, link(filed, HAS_MEMBER, ss_id, folder))
            if sub.link is not None and folder_id is not None and linked is not None:
                holder, filed = sub.link
                add_association(
                    holder, HAS_MEMBER, folder_id, linked, link(holder, HAS_MEMBER, folder_id, linked)
                )
                add_association(filed, HAS_MEMBER, ss_id, holder, link(filed, HAS_MEMBER, ss_id, holder))
                in_folder.add(linked)
            for entry_uuid, source, target in extra:
                add_association(
                    entry_uuid, HAS_MEMBER, source, target, link(entry_uuid, HAS_MEMBER, source, target)
                )
        return documents


def _first_version(obj: _O) -> _O:
    """As the planner stores a new object: Approved, version 1, lid = id (core/submission.py)."""
    return dataclasses.replace(obj, logical_id=obj.entry_uuid, version="1", status=APPROVED)
