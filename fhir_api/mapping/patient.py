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
from datetime import date
from typing import Any, Final

from fhir_api.mapping.codes import OID_RE
from xds_server.core.identifiers import Cx, IdentifierError, parse_cx
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


def patient_resource(cx: str, state: PatientState, birth_date: date | None = None) -> dict[str, Any]:
    """The Patient resource of a registry patient. ``active`` is false once the record is closed or
    opposed (FHIR: "whether this patient record is in active use")."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient_logical_id(cx),
        "identifier": [{"use": "official", **identifier_of(cx)}],
        "active": state in (PatientState.CREATED, PatientState.ACTIVATED),
    }
    if birth_date is not None:
        resource["birthDate"] = birth_date.isoformat()
    return resource


__all__ = [
    "cx_of_identifier",
    "cx_of_logical_id",
    "identifier_of",
    "patient_logical_id",
    "patient_resource",
]
