"""The HL7 v2 data types XDS metadata carries (DTM, XCN, XON, CWE, XTN, XPN, CXi) as FHIR datatypes.

XDS keeps these as strings (``core.metadata``); FHIR wants structured datatypes. Every function here is
total: a value it cannot read is dropped from the FHIR view (never an exception), because a search answer
must not fail on one odd legacy entry. Times: XDS DTMs are UTC (ITI TF-3 4.2.3.1.5), so a DTM with a time
part becomes a FHIR dateTime with ``Z``; ``fhir_to_dtm`` is the inverse (converting any offset to UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir_api.mapping.codes import OID_RE, system_uri


def dtm_to_fhir(value: str | None) -> str | None:
    """An XDS DTM (``YYYY[MM[DD[hh[mm[ss]]]]]``, UTC) as a FHIR dateTime; None when it is not a DTM."""
    if not value:
        return None
    digits = value.strip().split(".", 1)[0]
    if not digits.isdigit() or len(digits) not in (4, 6, 8, 10, 12, 14):
        return None
    year, month, day = digits[0:4], digits[4:6], digits[6:8]
    if len(digits) == 4:
        return year
    if len(digits) == 6:
        return f"{year}-{month}"
    if len(digits) == 8:
        return f"{year}-{month}-{day}"
    padded = digits.ljust(14, "0")
    return f"{year}-{month}-{day}T{padded[8:10]}:{padded[10:12]}:{padded[12:14]}Z"


def fhir_to_dtm(value: str) -> str:
    """A FHIR date/dateTime/instant as an XDS DTM in UTC, keeping the given precision (ValueError if not
    one). A time with an offset is converted to UTC; a time without one is taken as UTC."""
    text = value.strip()
    if len(text) in (4, 7, 10) and "T" not in text:
        digits = text.replace("-", "")
        if not digits.isdigit():
            raise ValueError(f"{value!r} is not a FHIR date")
        return digits
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not a FHIR dateTime") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y%m%d%H%M%S")


def _components(value: str, separator: str = "^") -> list[str]:
    return value.split(separator)


def _part(parts: list[str], index: int) -> str:
    return parts[index].strip() if index < len(parts) else ""


def _authority_system(authority: str) -> str | None:
    """HD ``&OID&ISO`` (or a bare OID) as ``urn:oid:OID``."""
    pieces = authority.split("&")
    oid = pieces[1] if len(pieces) > 1 else pieces[0]
    oid = oid.strip()
    return f"urn:oid:{oid}" if OID_RE.match(oid) else None


def xcn_person(xcn: str) -> dict[str, Any]:
    """XCN ``id^family^given^middle^suffix^prefix^^^&OID&ISO`` as Practitioner content (identifier, name)."""
    parts = _components(xcn)
    resource: dict[str, Any] = {}
    ident, family, given, middle = _part(parts, 0), _part(parts, 1), _part(parts, 2), _part(parts, 3)
    suffix, prefix = _part(parts, 4), _part(parts, 5)
    if ident:
        identifier: dict[str, Any] = {"value": ident}
        system = _authority_system(_part(parts, 8))
        if system:
            identifier["system"] = system
        resource["identifier"] = [identifier]
    name: dict[str, Any] = {}
    if family:
        name["family"] = family
    givens = [g for g in (given, middle) if g]
    if givens:
        name["given"] = givens
    if prefix:
        name["prefix"] = [prefix]
    if suffix:
        name["suffix"] = [suffix]
    if name:
        resource["name"] = [name]
    return resource


def xcn_id(xcn: str) -> str:
    return _part(_components(xcn), 0)


def xon_organization(xon: str) -> dict[str, Any]:
    """XON ``name^^^^^&OID&ISO^^^^id`` as Organization content (name, identifier)."""
    parts = _components(xon)
    resource: dict[str, Any] = {}
    name = _part(parts, 0)
    ident = _part(parts, 9)
    if ident:
        identifier: dict[str, Any] = {"value": ident}
        system = _authority_system(_part(parts, 5))
        if system:
            identifier["system"] = system
        resource["identifier"] = [identifier]
    if name:
        resource["name"] = name
    return resource


def cwe_concept(cwe: str) -> dict[str, Any] | None:
    """CWE ``code^text^system`` (system an OID or a name) as a CodeableConcept; a bare text as ``text``."""
    parts = _components(cwe)
    code, text, scheme = _part(parts, 0), _part(parts, 1), _part(parts, 2)
    if len(parts) == 1:  # free text (authorRole "Médecin"), no code
        return {"text": code} if code else None
    if not code:
        return {"text": text} if text else None
    coding: dict[str, Any] = {}
    if scheme:
        coding["system"] = system_uri(scheme.split("&")[1] if "&" in scheme else scheme)
    coding["code"] = code
    if text:
        coding["display"] = text
    return {"coding": [coding]}


def xtn_contact(xtn: str) -> dict[str, Any] | None:
    """XTN as a ContactPoint: ``^^Internet^address`` an email, else the unformatted or composed number."""
    parts = _components(xtn)
    if _part(parts, 2).lower() == "internet" and _part(parts, 3):
        return {"system": "email", "value": _part(parts, 3)}
    number = _part(parts, 0) or "".join(p for p in (_part(parts, 4), _part(parts, 5), _part(parts, 6)) if p)
    if not number:
        return None
    return {"system": "phone", "value": number}


def xpn_name(xpn: str) -> dict[str, Any] | None:
    """XPN ``family^given^middle^suffix^prefix`` as a HumanName."""
    parts = _components(xpn)
    name: dict[str, Any] = {}
    if _part(parts, 0):
        name["family"] = _part(parts, 0)
    givens = [g for g in (_part(parts, 1), _part(parts, 2)) if g]
    if givens:
        name["given"] = givens
    if _part(parts, 3):
        name["suffix"] = [_part(parts, 3)]
    if _part(parts, 4):
        name["prefix"] = [_part(parts, 4)]
    return name or None


def xad_address(xad: str) -> dict[str, Any] | None:
    """XAD ``street^other^city^state^zip^country`` as an Address."""
    parts = _components(xad)
    address: dict[str, Any] = {}
    lines = [p for p in (_part(parts, 0), _part(parts, 1)) if p]
    if lines:
        address["line"] = lines
    for index, key in ((2, "city"), (3, "state"), (4, "postalCode"), (5, "country")):
        if _part(parts, index):
            address[key] = _part(parts, index)
    return address or None


def cx_identifier(cx: str) -> dict[str, Any] | None:
    """CX / CXi ``value^^^&OID&ISO[^type]`` as an Identifier (system ``urn:oid:OID``)."""
    parts = _components(cx)
    value = _part(parts, 0)
    if not value:
        return None
    identifier: dict[str, Any] = {"value": value}
    system = _authority_system(_part(parts, 3))
    if system:
        identifier["system"] = system
    return identifier


def cxi_type(cxi: str) -> str:
    """The CXi.5 identifier type (``urn:ihe:iti:xds:2013:accession`` ...), "" when absent."""
    return _part(_components(cxi), 4)


__all__ = [
    "cwe_concept",
    "cx_identifier",
    "cxi_type",
    "dtm_to_fhir",
    "fhir_to_dtm",
    "xad_address",
    "xcn_id",
    "xcn_person",
    "xon_organization",
    "xpn_name",
    "xtn_contact",
]
