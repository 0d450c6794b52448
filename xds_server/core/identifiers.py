"""Identifier syntax: CX patient ids, OIDs, uniqueIds, and the French INS (NIR) with its key.

Theory of operation
-------------------
XDS patient ids are HL7 v2 CX values restricted by ITI TF-3 4.2.3.1 (data types) to ``id^^^&OID&ISO``:
CX.1 the id, CX.2/CX.3 empty, CX.4 an HD whose namespace is empty, universal id an OID and universal id
type ``ISO``. We also accept a fifth component, the identifier type code (CX.5), because the DMP writes its
INS as ``INS^^^&1.2.250.1.213.1.4.8&ISO^NH`` (dmp-rules.md §(b), §(d)); nothing is allowed after CX.5.

A domain may accept one identifier in several spellings. ``canonical_patient_id`` maps every accepted
spelling to ONE canonical string, so that equality checks (SubmissionSet vs DocumentEntry, association ends,
the patient directory, stored queries) are plain string comparisons:

* profile with ``ins_patient_ids`` (DMP): input ``NIR^^^&OID&ISO^NH``, ``NIR^^^&OID&ISO`` or the bare
  15-character INS; output always ``NIR^^^&OID&ISO^NH`` (``NH`` = the profile's ``patient_id_type``), the
  bare INS taking the profile's ``default_patient_authority`` (INS-NIR 1.2.250.1.213.1.4.8). The form with
  ``^NH`` is the one the DMP documents, hence our canonical choice.
* other profiles: the CX is checked and returned unchanged (IHE does not define CX equivalences).

NIR / INS (dmp-rules.md §(d)): 13 characters (sex, year, month, department, commune, order) + a 2-digit
key = 97 - (N mod 97), N being the 13 characters read as a number; Corsica ``2A`` -> ``19``, ``2B`` -> ``18``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from xds_server.core.profile import DomainProfile

# Dotted decimal, no leading zeros. The first arc is not limited to 0-2 (ISO) because NIST sends sourceId
# 129.6.58.92.1.1 and expects Success (12004, 11992 ...): the registry checks syntax, not OID registration.
_OID_RE: Final = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
#: ITI TF-3 4.2.3.2 (uniqueId) / rule book: OID root at most 64 characters, the whole at most 128.
OID_MAX_LENGTH: Final = 64
UNIQUE_ID_MAX_LENGTH: Final = 128
#: A CX patient id (the registry's column) and its CX.1: longer ids are no CX any domain issues (an INS is
#: 15 characters), only a way to make the registry carry and compare megabytes.
PATIENT_ID_MAX_LENGTH: Final = 256
PATIENT_CX1_MAX_LENGTH: Final = 64
_UUID_RE: Final = re.compile(
    r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_NIR_RE: Final = re.compile(
    r"^(?P<sex>[1-478])(?P<year>\d{2})(?P<month>\d{2})(?P<dept>\d{2}|2[AB])(?P<commune>\d{3})"
    r"(?P<order>\d{3})(?P<key>\d{2})$",
    re.ASCII,  # an INS is ASCII: other scripts' digits would spell a second id for one patient
)
INS_LENGTH: Final = 15
#: INSEE rule: the Corsican departments count as 19 (2A) and 18 (2B) in the key computation.
_CORSICA: Final = {"2A": "19", "2B": "18"}


def is_oid(value: str) -> bool:
    """An OID in dotted-decimal form (at least two arcs, no leading zeros), at most 64 characters."""
    return len(value) <= OID_MAX_LENGTH and _OID_RE.match(value) is not None


def is_urn_uuid(value: str) -> bool:
    """``urn:uuid:`` followed by a canonical 8-4-4-4-12 hexadecimal UUID."""
    return _UUID_RE.match(value) is not None


def unique_id_problem(value: str, *, allow_extension: bool = True) -> str | None:
    """Why ``value`` is not a valid uniqueId, or None when it is.

    DocumentEntry uniqueIds are ``OID`` or ``OID^extension`` (allow_extension); SubmissionSet and Folder
    uniqueIds, sourceId and repositoryUniqueId are plain OIDs.
    """
    if not value:
        return "empty uniqueId"
    if len(value) > UNIQUE_ID_MAX_LENGTH:
        return f"uniqueId longer than {UNIQUE_ID_MAX_LENGTH} characters"
    root, sep, extension = value.partition("^")
    if sep and not allow_extension:
        return "an extension (OID^ext) is not allowed here: the value must be an OID"
    if sep and (not extension or "^" in extension or any(c.isspace() for c in extension)):
        return "the extension after '^' must be one non-empty token"
    if len(root) > OID_MAX_LENGTH:
        return f"OID root longer than {OID_MAX_LENGTH} characters"
    if not _OID_RE.match(root):
        return f"{root!r} is not an OID"
    return None


@dataclass(frozen=True, slots=True)
class Cx:
    """A parsed XDS patient id: ``id^^^&authority&ISO[^id_type]``."""

    id: str
    authority: str
    id_type: str | None = None

    def format(self) -> str:
        base = f"{self.id}^^^&{self.authority}&ISO"
        return f"{base}^{self.id_type}" if self.id_type else base


class IdentifierError(ValueError):
    """An identifier that a profile does not accept; ``kind`` says why (syntax, authority, key)."""

    def __init__(self, kind: Literal["syntax", "authority", "key"], message: str) -> None:
        super().__init__(message)
        self.kind: Literal["syntax", "authority", "key"] = kind


def parse_cx(value: str) -> Cx:
    """Parse an XDS CX patient id; raise IdentifierError(kind="syntax") with the reason."""
    if len(value) > PATIENT_ID_MAX_LENGTH:
        raise IdentifierError(
            "syntax", f"patient id {value[:40]!r}... is longer than {PATIENT_ID_MAX_LENGTH} characters"
        )
    components = value.split("^")
    if len(components) not in (4, 5):
        raise IdentifierError("syntax", f"patient id {value!r} is not of the form id^^^&OID&ISO")
    ident, c2, c3, authority = components[:4]
    id_type = components[4] if len(components) == 5 else None
    if not ident or any(c.isspace() for c in ident) or "&" in ident:
        raise IdentifierError("syntax", f"patient id {value!r}: CX.1 (the id) is empty or malformed")
    if len(ident) > PATIENT_CX1_MAX_LENGTH:
        raise IdentifierError(
            "syntax",
            f"patient id {value!r}: CX.1 (the id) is longer than {PATIENT_CX1_MAX_LENGTH} characters",
        )
    if c2 or c3:
        raise IdentifierError("syntax", f"patient id {value!r}: CX.2 and CX.3 must be empty")
    hd = authority.split("&")
    if len(hd) != 3 or hd[0] or hd[2] != "ISO":
        raise IdentifierError("syntax", f"patient id {value!r}: the assigning authority must be &OID&ISO")
    if not is_oid(hd[1]):
        raise IdentifierError("syntax", f"patient id {value!r}: assigning authority {hd[1]!r} is not an OID")
    if id_type is not None and (not id_type or "&" in id_type):
        raise IdentifierError("syntax", f"patient id {value!r}: malformed identifier type code (CX.5)")
    return Cx(ident, hd[1], id_type)


def nir_key(nir13: str) -> int:
    """The INSEE control key of a 13-character NIR (Corsica 2A -> 19, 2B -> 18)."""
    department = nir13[5:7].upper()
    digits = nir13[:5] + _CORSICA.get(department, department) + nir13[7:]
    if len(digits) != 13 or not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"{nir13!r} is not a 13-character NIR")
    return 97 - int(digits) % 97


def ins_problem(value: str) -> str | None:
    """Why ``value`` is not a valid 15-character INS (NIR + key), or None when it is (dmp-rules.md §(d))."""
    if len(value) != INS_LENGTH:
        return f"INS {value!r} must have 15 characters (13 + 2-digit key)"
    match = _NIR_RE.match(value.upper())
    if match is None:
        return f"INS {value!r} is not a NIR (sex, year, month, department, commune, order, key)"
    month = int(match["month"])
    if not (1 <= month <= 12 or 20 <= month <= 42 or month >= 50):
        return f"INS {value!r}: month {match['month']} is not valid"
    expected = nir_key(value[:13])
    if int(match["key"]) != expected:
        return f"INS {value!r}: wrong control key {match['key']} (expected {expected:02d})"
    return None


def canonical_patient_id(value: str, profile: DomainProfile) -> str:
    """The one canonical spelling of an accepted patient id; raise IdentifierError when not accepted.

    Checks, in order: CX syntax (a bare INS is accepted where the profile wants INS), the assigning
    authority (profile list, test authorities only when ``accept_test_authorities``), the INS key.
    """
    value = value.strip()
    if len(value) > PATIENT_ID_MAX_LENGTH:
        raise IdentifierError(
            "syntax", f"patient id {value[:40]!r}... is longer than {PATIENT_ID_MAX_LENGTH} characters"
        )
    if profile.ins_patient_ids and "^" not in value:
        if profile.default_patient_authority is None:
            raise IdentifierError("syntax", f"patient id {value!r} has no assigning authority")
        cx = Cx(value, profile.default_patient_authority, profile.patient_id_type)
    else:
        cx = parse_cx(value)
    if not profile.accepts_authority(cx.authority):
        if cx.authority in profile.test_authorities:
            raise IdentifierError(
                "authority",
                f"patient id {value!r}: test assigning authority {cx.authority} is not accepted "
                f"by the {profile.name} profile",
            )
        raise IdentifierError(
            "authority",
            f"patient id {value!r}: assigning authority {cx.authority} is not accepted by the {profile.name} "
            "profile",
        )
    if not profile.ins_patient_ids:
        return cx.format()
    if (
        cx.id_type is not None
        and profile.patient_id_type is not None
        and cx.id_type != profile.patient_id_type
    ):
        raise IdentifierError(
            "syntax",
            f"patient id {value!r}: identifier type {cx.id_type!r}, expected {profile.patient_id_type!r}",
        )
    problem = ins_problem(cx.id)
    if problem is not None:
        raise IdentifierError("key" if "key" in problem else "syntax", problem)
    return Cx(cx.id.upper(), cx.authority, profile.patient_id_type).format()


__all__ = [
    "INS_LENGTH",
    "OID_MAX_LENGTH",
    "PATIENT_CX1_MAX_LENGTH",
    "PATIENT_ID_MAX_LENGTH",
    "UNIQUE_ID_MAX_LENGTH",
    "Cx",
    "IdentifierError",
    "canonical_patient_id",
    "ins_problem",
    "is_oid",
    "is_urn_uuid",
    "nir_key",
    "parse_cx",
    "unique_id_problem",
]
