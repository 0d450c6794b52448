"""The registry's patients as FHIR Patient resources (PDQm ITI-78 subset) and patient references.

A registry patient is a canonical CX ``id^^^&OID&ISO[^type]``. In FHIR it is
* an Identifier ``{system: urn:oid:OID, value: id}`` (the FR Core INS slices: ``urn:oid:1.2.250.1.213.1.4.8``
  INS-NIR, ``.9`` INS-NIA, ``.10``/``.11`` test), the form of ``patient.identifier=SYSTEM|VALUE`` searches and
  of conditional references ``Patient?identifier=SYSTEM|VALUE``;
* a logical id ``OID-id`` (``1.2.250.1.213.1.4.8-279035121518989``): FHIR ids allow ``[A-Za-z0-9.-]{1,64}``,
  an OID has no ``-``, so the first ``-`` splits it back without a lookup table (stateless, no second copy).
  The CX type (``^NH``) is left out: canonicalisation puts back what the profile requires. A CX whose id part
  holds other characters gets ``cx-`` + base32 of the whole CX instead.

The caller canonicalises the CX it builds (``core.identifiers.canonical_patient_id``) exactly as the SOAP
face does, so every spelling of one patient names one record.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Final

from fhir_api.mapping.codes import OID_RE
from xds_server.core.identifiers import Cx, IdentifierError, parse_cx
from xds_server.core.patient_feed import Sex, StoredPatient
from xds_server.core.ports import PatientState

_PLAIN_ID: Final = re.compile(r"^[A-Za-z0-9.]+(-[A-Za-z0-9.]+)*$")
_BASE32_PREFIX: Final = "cx-"


def patient_logical_id(cx: str) -> str:
    """The FHIR logical id of a canonical CX patient id."""
    parsed = parse_cx(cx)
    candidate = f"{parsed.authority}-{parsed.id}"
    if _PLAIN_ID.match(parsed.id) and len(candidate) <= 64:
        return candidate
    encoded = base64.b32encode(cx.encode("utf-8")).decode("ascii").rstrip("=").lower()
    return _BASE32_PREFIX + encoded


def cx_of_logical_id(logical_id: str) -> str:
    """The CX a logical id names (not yet canonicalised); IdentifierError when it names none."""
    if logical_id.startswith(_BASE32_PREFIX):
        encoded = logical_id.removeprefix(_BASE32_PREFIX).upper()
        try:
            return base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise IdentifierError("syntax", f"Patient/{logical_id} names no patient") from None
    authority, sep, value = logical_id.partition("-")
    if not sep or not value or not OID_RE.match(authority):
        raise IdentifierError("syntax", f"Patient/{logical_id} names no patient")
    return Cx(value, authority).format()


def cx_of_identifier(system: str, value: str) -> str:
    """The CX an Identifier names (``urn:oid:OID|value``); IdentifierError for another kind of system."""
    system, value = system.strip(), value.strip()
    authority = system.removeprefix("urn:oid:")
    if not system.startswith("urn:oid:") or not OID_RE.match(authority):
        raise IdentifierError(
            "authority", f"patient identifier system {system!r}: an assigning authority as urn:oid:OID"
        )
    if not value:
        raise IdentifierError("syntax", "the patient identifier has no value")
    return Cx(value, authority).format()


def identifier_of(cx: str) -> dict[str, Any]:
    parsed = parse_cx(cx)
    return {"system": f"urn:oid:{parsed.authority}", "value": parsed.id}


_SEX_TO_GENDER: Final = {Sex.MALE: "male", Sex.FEMALE: "female", Sex.OTHER: "other"}


def patient_resource(stored: StoredPatient) -> dict[str, Any]:
    """The Patient resource of a registry patient as the directory holds it: the PDQm read (ITI-78), the
    ITI-104 answer and the patient's own PATCH all answer this one mapping. ``active`` is false once the
    record is closed or opposed, or the id merged into another (FHIR: "whether this patient record is in
    active use"); the identifier of the domain is ``official``, the feed's cross-references ``secondary``;
    name, gender and birth date as the identity feed gave them; a merged id links to its survivor."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_logical_id(stored.patient_id),
        "identifier": [{"use": "official", **identifier_of(stored.patient_id)}],
        "active": stored.merged_into is None
        and stored.state in (PatientState.CREATED, PatientState.ACTIVATED),
    }
    for reference in stored.cross_references:
        system, sep, value = reference.partition("|")
        if sep and system and value:
            resource["identifier"].append({"use": "secondary", "system": system, "value": value})
    d = stored.demographics
    if d.family or d.given:
        name: dict[str, Any] = {}
        if d.family:
            name["family"] = d.family
        if d.given:
            name["given"] = list(d.given)
        resource["name"] = [name]
    if d.sex is not None:
        resource["gender"] = _SEX_TO_GENDER.get(d.sex, "unknown")
    if d.birth_date is not None:
        resource["birthDate"] = d.birth_date.isoformat()
    if stored.merged_into is not None:
        resource["link"] = [
            {
                "type": "replaced-by",
                "other": {"reference": f"Patient/{patient_logical_id(stored.merged_into)}"},
            }
        ]
    return resource


__all__ = [
    "cx_of_identifier",
    "cx_of_logical_id",
    "identifier_of",
    "patient_logical_id",
    "patient_resource",
]
