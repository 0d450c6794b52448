"""DocumentEntry (core model) -> DocumentReference (FHIR R4 JSON), as IHE MHD 4.2 (mhd-fhir.md §3) and PDSm.

The registry's XDS metadata is the single source of truth: this is a pure view, computed per request, and
never stored. Choices where MHD leaves room (reported in issue 10):

* ``id`` is the entryUUID without ``urn:uuid:`` (36 characters, a valid FHIR id): one DocumentReference per
  metadata version, as the DMP does (a new entryUUID per version, the logicalId stable).
* ``identifier``: the entryUUID slice (``type`` MHDIdentifierType#entryUUID), the uniqueId slice (same value
  as ``masterIdentifier``), and, when the registry knows it, the logicalId (``type.text`` ``logicalId``,
  ``use`` secondary): the DMP's stable "identifier" of the document across metadata versions.
* ``status``: the registry row's status (authoritative; the stored XML keeps the one at registration):
  Approved -> current, Deprecated -> superseded.
* ``subject``: ``Patient/{OID-value}`` (mapping/patient.py, readable on this server) plus the identifier
  (``urn:oid:OID|value``), so a client can resolve it either way.
* ``date`` and ``meta.lastUpdated``: the submissionTime of the SubmissionSet that registered this version
  (the only registration time XDS keeps), when the caller knows it.
* authors: each XDS author becomes contained resources: a Practitioner (authorPerson, authorTelecom), an
  Organization per authorInstitution, and a PractitionerRole tying them with authorRole (``code``) and
  authorSpecialty (``specialty``) when there is an institution, a role or a specialty; ``author`` references
  the PractitionerRole (PDSm AsPractitionerRole) when there is one, else the Practitioner, else the
  Organization. legalAuthenticator is a contained Practitioner (``authenticator``).
* ``content.attachment.url``: the ITI-68 URL on this server, ``{base}/Binary/{entryUUID without urn:uuid:}``
  (the Responder's Binary read): stable, opaque, and resolved by the registry (repositoryUniqueId +
  uniqueId) at retrieve time. ``hash`` is the base64 of the same SHA-1 the registry keeps in hex.
* referenceIdList: every CXi is a ``context.related`` Identifier reference; the encounter ids
  (``urn:ihe:iti:xds:2015:encounterId``) are also ``context.encounter``.
* ``relatesTo``: the relationship Associations whose source is this entry (RPLC replaces, XFRM transforms,
  APND appends, XFRM_RPLC replaces, signs signs, IsSnapshotOf transforms), target
  ``DocumentReference/{id}``.
* PDSm ``isArchived``: emitted when the entry carries the ``ARCHIVED_SLOT`` slot (the registry's form of
  the extension; ``true``/``false``).
* objectType: not represented (MHD); an on-demand entry simply has no size or hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Final

from fhir_api.mapping.codes import URI_SYSTEM, hash_base64, oid_uri, system_uri
from fhir_api.mapping.hl7v2 import (
    cwe_concept,
    cx_identifier,
    cxi_type,
    dtm_to_fhir,
    xad_address,
    xcn_person,
    xon_organization,
    xpn_name,
    xtn_contact,
)
from fhir_api.mapping.patient import identifier_of, patient_logical_id
from xds_server.core.identifiers import IdentifierError
from xds_server.core.metadata import Author, Code, DocumentEntry
from xds_server.core.vocabulary import AssociationType, Status

MHD_IDENTIFIER_TYPE: Final = "https://profiles.ihe.net/ITI/MHD/CodeSystem/IHE.MHD.MHDIdentifierType"
HOME_COMMUNITY_EXTENSION: Final = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-HomeCommunityId"
IS_ARCHIVED_EXTENSION: Final = (
    "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-ext-is-archived"
)
#: The slot the registry keeps PDSm's isArchived in (ITI-57 metadata, like any extra slot).
ARCHIVED_SLOT: Final = "urn:ihe:iti:pdsm:isArchived"
ENCOUNTER_ID_TYPE: Final = "urn:ihe:iti:xds:2015:encounterId"
BINARY_PATH: Final = "Binary"

#: XDS availabilityStatus <-> DocumentReference.status (entered-in-error is not allowed by MHD).
STATUS_TO_FHIR: Final[dict[str, str]] = {
    Status.APPROVED.value: "current",
    Status.DEPRECATED.value: "superseded",
}
STATUS_FROM_FHIR: Final[dict[str, str]] = {v: k for k, v in STATUS_TO_FHIR.items()}

#: Association type -> relatesTo.code (MHD ConceptMap AssociationTypeVsRelatesTo).
RELATES_TO: Final[dict[str, str]] = {
    AssociationType.REPLACE.value: "replaces",
    AssociationType.TRANSFORM.value: "transforms",
    AssociationType.APPEND.value: "appends",
    AssociationType.TRANSFORM_REPLACE.value: "replaces",
    AssociationType.SIGNS.value: "signs",
    AssociationType.IS_SNAPSHOT_OF.value: "transforms",
}


@dataclass(frozen=True, slots=True)
class Relation:
    """A relationship Association with this entry as its source."""

    association_type: str
    target: str  # the target's entryUUID


def resource_id(entry_uuid: str) -> str:
    """The FHIR id of a registry object: its entryUUID without ``urn:uuid:``."""
    return entry_uuid.removeprefix("urn:uuid:")


def entry_uuid_of(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


def binary_url(base: str, entry_uuid: str) -> str:
    """The ITI-68 URL of the document of this entry."""
    return f"{base}/{BINARY_PATH}/{resource_id(entry_uuid)}"


def concept(code: Code | None) -> dict[str, Any] | None:
    """A coded XDS value as a CodeableConcept (system URI from the codingScheme)."""
    if code is None:
        return None
    return {"coding": [coding(code)]}


def coding(code: Code) -> dict[str, Any]:
    result: dict[str, Any] = {"system": system_uri(code.scheme), "code": code.code}
    if code.display:
        result["display"] = code.display
    return result


def uri_identifier(value: str, type_code: str | None = None) -> dict[str, Any]:
    identifier: dict[str, Any] = {"system": URI_SYSTEM, "value": oid_uri(value)}
    if type_code:
        identifier["type"] = {"coding": [{"system": MHD_IDENTIFIER_TYPE, "code": type_code}]}
    return identifier


def patient_reference(patient_id: str | None) -> dict[str, Any] | None:
    """``Patient/{id}`` plus the identifier of a registry (CX) patient id."""
    if not patient_id:
        return None
    try:
        return {
            "reference": f"Patient/{patient_logical_id(patient_id)}",
            "identifier": identifier_of(patient_id),
        }
    except IdentifierError:
        return {"display": patient_id}


class Contained:
    """The contained resources of one resource, with local ids ``#prefix-n``."""

    def __init__(self) -> None:
        self.resources: list[dict[str, Any]] = []

    def add(self, resource_type: str, content: dict[str, Any], prefix: str) -> str:
        local = f"{prefix}{len(self.resources) + 1}"
        self.resources.append({"resourceType": resource_type, "id": local, **content})
        return f"#{local}"


def author_reference(author: Author, contained: Contained) -> dict[str, Any] | None:
    """One XDS author as contained resources; the reference ``author`` points at (see the module doc)."""
    practitioner_ref: str | None = None
    if author.person or author.telecoms:
        content = xcn_person(author.person) if author.person else {}
        telecoms = [t for t in (xtn_contact(x) for x in author.telecoms) if t]
        if telecoms:
            content["telecom"] = telecoms
        practitioner_ref = contained.add("Practitioner", content, "author")
    organization_refs = [
        contained.add("Organization", xon_organization(xon), "org")
        for xon in author.institutions
        if xon.strip()
    ]
    roles = [c for c in (cwe_concept(r) for r in author.roles) if c]
    specialties = [c for c in (cwe_concept(s) for s in author.specialties) if c]
    if organization_refs or roles or specialties:
        role: dict[str, Any] = {}
        if practitioner_ref:
            role["practitioner"] = {"reference": practitioner_ref}
        if organization_refs:
            role["organization"] = {"reference": organization_refs[0]}
        if roles:
            role["code"] = roles
        if specialties:
            role["specialty"] = specialties
        return {"reference": contained.add("PractitionerRole", role, "role")}
    if practitioner_ref:
        return {"reference": practitioner_ref}
    return None


def source_patient(entry: DocumentEntry) -> dict[str, Any] | None:
    """sourcePatientId + sourcePatientInfo (PID-3, 5, 7, 8, 11) as Patient content."""
    identifiers: list[dict[str, Any]] = []
    names: list[dict[str, Any]] = []
    addresses: list[dict[str, Any]] = []
    patient: dict[str, Any] = {}
    cxs = [entry.source_patient_id] if entry.source_patient_id else []
    for line in entry.source_patient_info:
        field, _, value = line.partition("|")
        field, value = field.strip().upper(), value.strip()
        if not value:
            continue
        if field == "PID-3":
            cxs.append(value)
        elif field == "PID-5":
            name = xpn_name(value)
            if name:
                names.append(name)
        elif field == "PID-7":
            born = dtm_to_fhir(value[:8])
            if born:
                patient["birthDate"] = born
        elif field == "PID-8":
            patient["gender"] = {"M": "male", "F": "female", "O": "other", "A": "other"}.get(
                value[:1].upper(), "unknown"
            )
        elif field == "PID-11":
            address = xad_address(value)
            if address:
                addresses.append(address)
    for cx in dict.fromkeys(cxs):
        identifier = cx_identifier(cx)
        if identifier and identifier not in identifiers:
            identifiers.append(identifier)
    content: dict[str, Any] = {}
    if identifiers:
        content["identifier"] = identifiers
    if names:
        content["name"] = names
    content.update({k: patient[k] for k in ("gender", "birthDate") if k in patient})
    if addresses:
        content["address"] = addresses
    return content or None


def slot_value(entry: DocumentEntry, name: str) -> str | None:
    for slot in entry.extra_slots:
        if slot.name == name and slot.values:
            return slot.values[0]
    return None


def is_archived(entry: DocumentEntry) -> bool | None:
    value = slot_value(entry, ARCHIVED_SLOT)
    if value is None:
        return None
    return value.strip().lower() == "true"


def _attachment(entry: DocumentEntry, base: str, entry_uuid: str) -> dict[str, Any]:
    attachment: dict[str, Any] = {}
    if entry.mime_type:
        attachment["contentType"] = entry.mime_type
    if entry.language_code:
        attachment["language"] = entry.language_code
    attachment["url"] = binary_url(base, entry_uuid)
    if entry.size is not None and entry.size.strip().isdigit():
        attachment["size"] = int(entry.size.strip())
    if entry.hash:
        with suppress(ValueError):  # not hex: validation refused it at registration; nothing to show
            attachment["hash"] = hash_base64(entry.hash)
    if entry.title is not None and entry.title.value:
        attachment["title"] = entry.title.value
    creation = dtm_to_fhir(entry.creation_time)
    if creation:
        attachment["creation"] = creation
    return attachment


def _context(entry: DocumentEntry, contained: Contained) -> dict[str, Any]:
    context: dict[str, Any] = {}
    encounters = [
        {"identifier": ident}
        for ref in entry.reference_ids
        if cxi_type(ref) == ENCOUNTER_ID_TYPE and (ident := cx_identifier(ref))
    ]
    if encounters:
        context["encounter"] = encounters
    events = [c for c in (concept(code) for code in entry.event_codes) if c]
    if events:
        context["event"] = events
    period = {
        key: value
        for key, value in (
            ("start", dtm_to_fhir(entry.service_start_time)),
            ("end", dtm_to_fhir(entry.service_stop_time)),
        )
        if value
    }
    if period:
        context["period"] = period
    for key, code in (
        ("facilityType", entry.healthcare_facility_type_code),
        ("practiceSetting", entry.practice_setting_code),
    ):
        value = concept(code)
        if value:
            context[key] = value
    source = source_patient(entry)
    if source:
        context["sourcePatientInfo"] = {"reference": contained.add("Patient", source, "patient")}
    related = []
    for ref in entry.reference_ids:
        identifier = cx_identifier(ref)
        if identifier:
            kind = cxi_type(ref)
            if kind:
                identifier["type"] = {"text": kind}
            related.append({"identifier": identifier})
    if related:
        context["related"] = related
    return context


def document_reference(
    entry: DocumentEntry,
    *,
    base: str,
    status: str | None = None,
    relations: Iterable[Relation] = (),
    registered: str | None = None,
    profiles: Sequence[str] = (),
) -> dict[str, Any]:
    """The DocumentReference of a stored DocumentEntry.

    ``base``: the FHIR base URL (for the ITI-68 URL); ``status``: the registry row's status (default: the
    entry's); ``relations``: relationship Associations with this entry as source; ``registered``: the DTM
    the entry was registered (its SubmissionSet's submissionTime), for ``date`` and ``meta.lastUpdated``;
    ``profiles``: ``meta.profile`` values to claim.
    """
    contained = Contained()
    resource: dict[str, Any] = {"resourceType": "DocumentReference", "id": resource_id(entry.entry_uuid)}
    meta: dict[str, Any] = {}
    registered_at = dtm_to_fhir(registered)
    if registered_at and "T" in registered_at:
        meta["lastUpdated"] = registered_at
    if profiles:
        meta["profile"] = list(profiles)
    if meta:
        resource["meta"] = meta
    extensions: list[dict[str, Any]] = []
    if entry.home:
        extensions.append({"url": HOME_COMMUNITY_EXTENSION, "valueOid": oid_uri(entry.home)})
    archived = is_archived(entry)
    if archived is not None:
        extensions.append({"url": IS_ARCHIVED_EXTENSION, "valueBoolean": archived})
    if extensions:
        resource["extension"] = extensions
    if entry.unique_id:
        resource["masterIdentifier"] = {"system": URI_SYSTEM, "value": oid_uri(entry.unique_id)}
    identifiers = [uri_identifier(entry.entry_uuid, "entryUUID")]
    if entry.unique_id:
        identifiers.append(uri_identifier(entry.unique_id, "uniqueId"))
    if entry.logical_id:
        identifiers.append(
            {"use": "secondary", "type": {"text": "logicalId"}, **uri_identifier(entry.logical_id)}
        )
    resource["identifier"] = identifiers
    resource["status"] = STATUS_TO_FHIR.get(status or entry.status or "", "current")
    type_concept = concept(entry.type_code)
    if type_concept:
        resource["type"] = type_concept
    category = concept(entry.class_code)
    if category:
        resource["category"] = [category]
    subject = patient_reference(entry.patient_id)
    if subject:
        resource["subject"] = subject
    if registered_at and "T" in registered_at:  # an instant: a full time
        resource["date"] = registered_at
    authors = [a for a in (author_reference(author, contained) for author in entry.authors) if a]
    if authors:
        resource["author"] = authors
    if entry.legal_authenticator:
        resource["authenticator"] = {
            "reference": contained.add("Practitioner", xcn_person(entry.legal_authenticator), "authenticator")
        }
    relates = [
        {
            "code": RELATES_TO[r.association_type],
            "target": {"reference": f"DocumentReference/{resource_id(r.target)}"},
        }
        for r in relations
        if r.association_type in RELATES_TO
    ]
    if relates:
        resource["relatesTo"] = relates
    if entry.comments is not None and entry.comments.value:
        resource["description"] = entry.comments.value
    labels = [c for c in (concept(code) for code in entry.confidentiality_codes) if c]
    if labels:
        resource["securityLabel"] = labels
    content: dict[str, Any] = {"attachment": _attachment(entry, base, entry.entry_uuid)}
    if entry.format_code is not None:
        content["format"] = coding(entry.format_code)
    resource["content"] = [content]
    context = _context(entry, contained)
    if context:
        resource["context"] = context
    if contained.resources:
        # contained first in the JSON as FHIR orders elements (cosmetic; the model does not care)
        resource = {
            "resourceType": resource.pop("resourceType"),
            "id": resource.pop("id"),
            **({"meta": resource.pop("meta")} if "meta" in resource else {}),
            "contained": contained.resources,
            **resource,
        }
    return resource


__all__ = [
    "ARCHIVED_SLOT",
    "BINARY_PATH",
    "HOME_COMMUNITY_EXTENSION",
    "IS_ARCHIVED_EXTENSION",
    "MHD_IDENTIFIER_TYPE",
    "RELATES_TO",
    "STATUS_FROM_FHIR",
    "STATUS_TO_FHIR",
    "Contained",
    "Relation",
    "author_reference",
    "binary_url",
    "coding",
    "concept",
    "document_reference",
    "entry_uuid_of",
    "is_archived",
    "patient_reference",
    "resource_id",
    "uri_identifier",
]
