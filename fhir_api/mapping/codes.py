"""Code systems, identifiers and hashes between XDS (OIDs, CX, hex SHA-1) and FHIR (URIs, Identifier, base64).

Code systems (mhd-fhir.md §3, issue 10): an XDS codingScheme is an OID (or, for a few ANS nomenclatures, a
name such as ``ASTM``); FHIR wants a URI. ``system_uri(scheme)`` and ``coding_scheme(system)`` are inverse on
every pair this server knows:

* the HL7 / IHE systems MHD uses: LOINC, SNOMED CT, v3-Confidentiality, the IHE format codes, UCUM, v3
  ActCode, v2-0203 identifier types;
* every (system_oid, system_uri) pair of the ANS value sets shipped in terminologies/ (NOS canonical URLs);
* any other OID as ``urn:oid:OID``, and back.

Inputs accept a few spellings beyond the canonical one (``urn:oid:`` for any known system, the ANS URL of
the IHE format code system, the ``TRE_A07-StatusVisibiliteDocument`` typo of the PDSm examples); outputs use
one spelling per system, so a round trip is stable.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import re
from collections.abc import Iterable
from functools import cache
from typing import Final

from xds_server.resources import terminologies_dir

OID_RE: Final = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")

#: (XDS codingScheme, FHIR system) for the systems MHD names; the first spelling of a system is emitted.
_FIXED: Final[tuple[tuple[str, str], ...]] = (
    ("2.16.840.1.113883.6.1", "http://loinc.org"),
    ("2.16.840.1.113883.6.96", "http://snomed.info/sct"),
    ("2.16.840.1.113883.5.25", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"),
    ("1.3.6.1.4.1.19376.1.2.3", "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"),
    ("2.16.840.1.113883.6.8", "http://unitsofmeasure.org"),
    ("2.16.840.1.113883.5.4", "http://terminology.hl7.org/CodeSystem/v3-ActCode"),
    ("2.16.840.1.113883.5.8", "http://terminology.hl7.org/CodeSystem/v3-ActReason"),
    ("2.16.840.1.113883.6.3", "http://hl7.org/fhir/sid/icd-10"),
)
#: Other spellings accepted on input only.
_ALIASES: Final[tuple[tuple[str, str], ...]] = (
    (
        "1.2.250.1.213.1.1.4.13",
        "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument",
    ),
    ("2.16.840.1.113883.5.25", "http://hl7.org/fhir/v3/Confidentiality"),
)

#: FHIR Identifier.system of the RFC 3986 URIs XDS ids are written as (``urn:oid:...``, ``urn:uuid:...``).
URI_SYSTEM: Final = "urn:ietf:rfc:3986"


@cache
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    """(scheme -> system, system -> scheme), the fixed pairs first, then the ANS value sets."""
    to_uri: dict[str, str] = {}
    to_scheme: dict[str, str] = {}

    def add(pairs: Iterable[tuple[str, str]], emit: bool) -> None:
        for scheme, uri in pairs:
            if emit:
                to_uri.setdefault(scheme, uri)
            to_scheme.setdefault(uri, scheme)

    add(_FIXED, emit=True)
    ans: list[tuple[str, str]] = []
    for entry in sorted(terminologies_dir().iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".csv"):
            continue
        rows = csv.DictReader(io.StringIO(entry.read_text(encoding="utf-8")))
        if rows.fieldnames is None or not {"system_oid", "system_uri"} <= set(rows.fieldnames):
            continue
        ans.extend(
            (row["system_oid"].strip(), row["system_uri"].strip())
            for row in rows
            if row["system_oid"] and row["system_uri"]
        )
    add(ans, emit=True)
    add(_ALIASES, emit=False)
    return to_uri, to_scheme


def system_uri(coding_scheme: str) -> str:
    """The FHIR system of an XDS codingScheme."""
    scheme = coding_scheme.strip()
    known = _tables()[0].get(scheme)
    if known is not None:
        return known
    if OID_RE.match(scheme):
        return f"urn:oid:{scheme}"
    return scheme  # a URI already, or a scheme name with no URI: kept as given, never lost


def coding_scheme(system: str) -> str:
    """The XDS codingScheme of a FHIR system (``urn:oid:X`` -> X)."""
    uri = system.strip()
    known = _tables()[1].get(uri)
    if known is not None:
        return known
    if uri.startswith("urn:oid:"):
        return uri.removeprefix("urn:oid:")
    return uri


def oid_uri(value: str) -> str:
    """An XDS id (OID or ``urn:uuid:``) as an RFC 3986 URI (``urn:oid:`` prefixed when an OID)."""
    value = value.strip()
    if value.startswith(("urn:", "http:", "https:")):
        return value
    return f"urn:oid:{value}" if OID_RE.match(value) else value


def from_oid_uri(value: str) -> str:
    """Inverse of ``oid_uri``: ``urn:oid:X`` -> X; ``urn:uuid:`` and others unchanged."""
    value = value.strip()
    return value.removeprefix("urn:oid:") if value.startswith("urn:oid:") else value


def hash_base64(hex_sha1: str) -> str:
    """XDS hash (hex SHA-1) -> FHIR Attachment.hash (base64 of the same 20 bytes)."""
    return base64.b64encode(bytes.fromhex(hex_sha1.strip())).decode("ascii")


def hash_hex(b64_sha1: str) -> str:
    """FHIR Attachment.hash (base64) -> XDS hash (lowercase hex); ValueError when it is not 20 bytes."""
    try:
        raw = base64.b64decode(b64_sha1.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("attachment.hash is not base64") from None
    if len(raw) != 20:
        raise ValueError(f"attachment.hash is {len(raw)} bytes: a SHA-1 digest has 20")
    return raw.hex()


__all__ = [
    "OID_RE",
    "URI_SYSTEM",
    "coding_scheme",
    "from_oid_uri",
    "hash_base64",
    "hash_hex",
    "oid_uri",
    "system_uri",
]
