"""Builders for policy tests: the real groups and matrix shipped in terminologies/ and small factories."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from xds_server.core.policy import (
    AccessContext,
    AccessMode,
    ActorKind,
    DocumentFacts,
    Policy,
    PolicyMode,
    RecordSettings,
    code_key,
    parse_habilitation_matrix,
    parse_profession_groups,
)
from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import Status

TERMINOLOGIES = Path(__file__).resolve().parents[2] / "terminologies"
GROUPS = parse_profession_groups((TERMINOLOGIES / "habilitation-groups.csv").read_text(encoding="utf-8"))
MATRIX = parse_habilitation_matrix(
    (TERMINOLOGIES / "habilitation-matrix.csv").read_text(encoding="utf-8"), GROUPS
)
DMP = Policy(PolicyMode.DMP, MATRIX, GROUPS)
IHE = Policy(PolicyMode.IHE, MATRIX, GROUPS)

LOINC = "2.16.840.1.113883.6.1"
#: CR de consultation: every group may read it (seed deck row, 18 x).
OPEN_TYPE = code_key("11488-4", LOINC)
#: 11526-1 (CR d'anatomo-pathologie): médecin only in the data; kinés unknown (deny).
MEDECIN_ONLY_TYPE = code_key("11526-1", LOINC)
UNKNOWN_TYPE = code_key("99999-9", LOINC)
CLASS_CR = code_key("10", "1.2.250.1.213.1.1.4.1")
CLASS_PATIENT = code_key("90", "1.2.250.1.213.1.1.4.1")

PATIENT = "1840512345678^^^&1.2.250.1.213.1.4.10&ISO^NH"
OTHER_PATIENT = "2900112345678^^^&1.2.250.1.213.1.4.10&ISO^NH"
DOCTOR = "810000000001"
KINE = "810000000002"
TRAITANT = "810000000003"
ADMIN = "810000000004"
STRANGER = "810000000005"
AUTHOR = "810000000006"
REPRESENTATIVE = "REP-001"
STRUCTURE = "3750000001"


def ps(
    national_id: str = DOCTOR,
    profession: str | None = "10",
    *,
    mode: AccessMode = AccessMode.NORMAL,
    reason: str | None = None,
    patient: str | None = PATIENT,
    structure: str | None = "STRUCT-X",
    **kw: object,
) -> AccessContext:
    return AccessContext(
        ActorKind.PROFESSIONAL,
        national_id,
        profession=profession,
        access_mode=mode,
        reason=reason,
        patient_ins=patient,
        structure_id=structure,
        **kw,  # type: ignore[arg-type]
    )


def kine(**kw: object) -> AccessContext:
    return ps(KINE, "70", **kw)  # type: ignore[arg-type]


def patient(ins: str = PATIENT) -> AccessContext:
    return AccessContext(ActorKind.PATIENT, ins, patient_ins=ins)


def representative(of: frozenset[str] = frozenset({PATIENT})) -> AccessContext:
    return AccessContext(ActorKind.LEGAL_REPRESENTATIVE, REPRESENTATIVE, represented=of)


def record(**kw: object) -> RecordSettings:
    base = RecordSettings(
        PATIENT,
        PatientState.ACTIVATED,
        authorised=frozenset({DOCTOR, KINE}),
        medecin_traitant=TRAITANT,
        administrators=frozenset({ADMIN}),
        legal_representatives=frozenset({REPRESENTATIVE}),
        minor=True,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def doc(
    type_code: str | None = OPEN_TYPE,
    *codes: str,
    authors: frozenset[str] = frozenset({AUTHOR}),
    structures: frozenset[str] = frozenset({STRUCTURE}),
    status: Status = Status.APPROVED,
    class_code: str | None = CLASS_CR,
) -> DocumentFacts:
    return DocumentFacts(
        type_code=type_code,
        class_code=class_code,
        confidentiality_codes=frozenset(codes),
        author_ids=authors,
        author_structures=structures,
        status=status.value,
    )
