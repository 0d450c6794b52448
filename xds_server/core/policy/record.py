"""The data the rules read besides the actor: the patient record's settings and one document's facts.

``RecordSettings`` is what the patient (for now an administrator, with the CLI) decided about his record;
``DocumentFacts`` is the part of a DocumentEntry the rules look at, with codes as ``code^^scheme`` keys (the
form the registry stores and stored queries use, so the SQL filter and this model compare the same strings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Final

from xds_server.core.metadata import DocumentEntry
from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import DMP_VISIBILITY_OID, Status

#: Assigning authority of professionals' national ids (IDNPS) in authorPerson XCN.9 and the VIHF NameID.
PS_NATIONAL_ID_OID: Final = "1.2.250.1.71.4.2.1"
#: TRE_A03 class codes (classCode scheme) and TRE_A07 visibility codes (confidentialityCode scheme).
CLASS_CODE_OID: Final = "1.2.250.1.213.1.1.4.1"


def code_key(code: str, scheme: str) -> str:
    """``code^^scheme``: how codes are compared everywhere (core.metadata.Code.key, registry columns)."""
    return f"{code}^^{scheme}"


#: The DMP masking codes (TRE_A07) as confidentialityCode keys.
MASQUE_PS: Final = code_key("MASQUE_PS", DMP_VISIBILITY_OID)
INVISIBLE_PATIENT: Final = code_key("INVISIBLE_PATIENT", DMP_VISIBILITY_OID)
INVISIBLE_REPRESENTANTS_LEGAUX: Final = code_key("INVISIBLE_REPRESENTANTS_LEGAUX", DMP_VISIBILITY_OID)
#: Documents deposited by the patient himself (EX_3.1-1040): classCode 90.
PATIENT_CLASS_CODE: Final = code_key("90", CLASS_CODE_OID)

#: Majority in France.
AGE_OF_MAJORITY: Final = 18


def is_minor(birth_date: date | None, today: date) -> bool:
    """A record is a minor's while the patient is under 18 on ``today``; no birth date, no minor."""
    if birth_date is None:
        return False
    years = today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))
    return years < AGE_OF_MAJORITY


@dataclass(frozen=True, slots=True)
class RecordSettings:
    """One patient record (DMP) and the patient's choices about it.

    ``authorised``: professionals for whom consent was declared (the seed's "j'ai autorisé les professionnels
    suivants"). ``blocked``: professionals the patient blocked (no read, no write, in any mode).
    ``administrators``: the "médecins administrateurs" the patient chose; with the ``medecin_traitant`` they
    are the record's administrator doctors (see MASQUE_PS). ``samu_allowed`` / ``break_glass_allowed``: the
    patient's emergency settings. ``minor`` is derived from the birth date by the adapter (``is_minor``).
    """

    patient_id: str
    state: PatientState = PatientState.ACTIVATED
    authorised: frozenset[str] = field(default_factory=frozenset)
    blocked: frozenset[str] = field(default_factory=frozenset)
    medecin_traitant: str | None = None
    administrators: frozenset[str] = field(default_factory=frozenset)
    samu_allowed: bool = True
    break_glass_allowed: bool = True
    minor: bool = False
    birth_date: date | None = None
    legal_representatives: frozenset[str] = field(default_factory=frozenset)

    @property
    def administrator_doctors(self) -> frozenset[str]:
        """Who sees MASQUE_PS documents and may change masking: administrators and the médecin traitant."""
        if self.medecin_traitant:
            return self.administrators | {self.medecin_traitant}
        return self.administrators

    @property
    def is_open(self) -> bool:
        """Created (automatically, not yet activated) and activated records can be fed and consulted."""
        return self.state in (PatientState.CREATED, PatientState.ACTIVATED)


@dataclass(frozen=True, slots=True)
class DocumentFacts:
    """What the rules need from one DocumentEntry: codes as ``code^^scheme`` keys, author identities."""

    type_code: str | None = None
    class_code: str | None = None
    confidentiality_codes: frozenset[str] = field(default_factory=frozenset)
    author_ids: frozenset[str] = field(default_factory=frozenset)
    author_structures: frozenset[str] = field(default_factory=frozenset)
    status: str = Status.APPROVED.value

    @property
    def is_deprecated(self) -> bool:
        return self.status != Status.APPROVED.value

    def has(self, confidentiality_key: str) -> bool:
        return confidentiality_key in self.confidentiality_codes


class WriteOperation(StrEnum):
    """What a write does to the record.

    ``DEPOSIT`` a new document (ITI-41/42 original, or an XFRM transform, which changes nothing of the
    original); ``REPLACE`` (RPLC), ``APPEND`` (APND) and ``UPDATE_METADATA`` (ITI-57 change other than
    masking) and ``DEPRECATE`` touch an existing document of the record; ``UPDATE_MASKING`` changes only its
    confidentiality codes (ITI-57).
    """

    DEPOSIT = "deposit"
    REPLACE = "replace"
    APPEND = "append"
    UPDATE_METADATA = "update_metadata"
    UPDATE_MASKING = "update_masking"
    DEPRECATE = "deprecate"

    @property
    def produces_document(self) -> bool:
        """Operations whose ``doc`` is new metadata the deposit rules must check."""
        return self is not WriteOperation.DEPRECATE

    @property
    def touches_existing(self) -> bool:
        """Operations that act on an existing document (``original``)."""
        return self is not WriteOperation.DEPOSIT


def _component(value: str, index: int, separator: str = "^") -> str:
    parts = value.split(separator)
    return parts[index].strip() if index < len(parts) else ""


def author_national_id(xcn: str) -> str | None:
    """XCN.1 when XCN.9's universal id is the professionals' national id OID, else None."""
    identifier = _component(xcn, 0)
    authority = _component(xcn, 8)
    if identifier and _component(authority, 1, "&") == PS_NATIONAL_ID_OID:
        return identifier
    return None


def structure_national_id(xon: str) -> str | None:
    """XON.10, the organisation identifier (Identifiant_Structure), if any."""
    return _component(xon, 9) or None


def facts_from_entry(entry: DocumentEntry) -> DocumentFacts:
    """The rules' view of a DocumentEntry (authorPerson XCN / authorInstitution XON of every author)."""
    author_ids = {a for author in entry.authors if author.person if (a := author_national_id(author.person))}
    structures = {
        s for author in entry.authors for xon in author.institutions if (s := structure_national_id(xon))
    }
    return DocumentFacts(
        type_code=entry.type_code.key() if entry.type_code else None,
        class_code=entry.class_code.key() if entry.class_code else None,
        confidentiality_codes=frozenset(c.key() for c in entry.confidentiality_codes),
        author_ids=frozenset(author_ids),
        author_structures=frozenset(structures),
        status=entry.status or Status.APPROVED.value,
    )


__all__ = [
    "AGE_OF_MAJORITY",
    "CLASS_CODE_OID",
    "INVISIBLE_PATIENT",
    "INVISIBLE_REPRESENTANTS_LEGAUX",
    "MASQUE_PS",
    "PATIENT_CLASS_CODE",
    "PS_NATIONAL_ID_OID",
    "DocumentFacts",
    "RecordSettings",
    "WriteOperation",
    "author_national_id",
    "code_key",
    "facts_from_entry",
    "is_minor",
    "structure_national_id",
]
