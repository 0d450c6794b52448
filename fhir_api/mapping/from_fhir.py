"""FHIR (MHD ITI-65 input) -> XDS core metadata: DocumentReference -> DocumentEntry, List -> SubmissionSet or
Folder. The inverse of fhir_api.mapping.document_reference / lists (the output direction).

Pure functions over the JSON-shaped resources ``formats.parse_resource`` validated. What cannot be mapped
is collected as a ``Problem`` (location + message), never raised one by one, so a client sees every defect of
its bundle at once; the provide-bundle reader turns them into one OperationOutcome.

Choices where MHD leaves room (reported in issue 10):

* Codes: a CodeableConcept is one XDS code, its first coding (XDS codes are single-coded); the system becomes
  the codingScheme through ``codes.coding_scheme`` (``http://loinc.org`` -> 2.16.840.1.113883.6.1, ANS
  canonical URLs -> their OIDs, ``urn:oid:X`` -> X), so the profile's value-set bindings see the very pair an
  ITI-41 would carry.
* Times: FHIR dateTimes with an offset become UTC DTMs to the second (XDS times are UTC).
* Authors (``author``, SubmissionSet ``source``): a contained (or bundled) Practitioner becomes authorPerson
  (XCN ``id^family^given^middle^suffix^prefix^^^&OID&ISO``), an Organization authorInstitution (XON
  ``name^^^^^&OID&ISO^^^^id``), a PractitionerRole the person and organisation it names plus authorRole
  (``code``) and authorSpecialty (``specialty``) as CWE ``code^display^scheme``, a Patient or Device
  authorPerson. A reference the bundle does not hold (UnContained) keeps its display, else the reference
  itself, as the XCN id: the registry stores no copy of resources it cannot read.
* sourcePatientInfo: the contained Patient's identifiers become sourcePatientId (the first) and PID-3, its
  name PID-5, birthDate PID-7, gender PID-8. A ``Patient/{id}`` or conditional reference names the patient
  the subject names.
* The PDSm isArchived extension is kept as the registry slot ``ARCHIVED_SLOT`` (what the output reads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from fhir_api.mapping.codes import OID_RE, URI_SYSTEM, coding_scheme, from_oid_uri, hash_hex
from fhir_api.mapping.document_reference import ARCHIVED_SLOT, IS_ARCHIVED_EXTENSION
from fhir_api.mapping.patient import cx_of_identifier, cx_of_logical_id
from xds_server.core.identifiers import IdentifierError
from xds_server.core.metadata import Author, Code, DocumentEntry, Folder, LocalizedText, Slot, SubmissionSet

EXT: Final = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
SOURCE_ID_EXTENSION: Final = EXT + "ihe-sourceId"
DESIGNATION_TYPE_EXTENSION: Final = EXT + "ihe-designationType"
INTENDED_RECIPIENT_EXTENSION: Final = EXT + "ihe-intendedRecipient"
AUTHOR_ORG_EXTENSION: Final = EXT + "ihe-authorOrg"
UNIQUE_ID_TYPE: Final = "uniqueId"
ENTRY_UUID_TYPE: Final = "entryUUID"


@dataclass(frozen=True, slots=True)
class Problem:
    location: str
    message: str


Resolver = Callable[[str], Mapping[str, Any] | None]


@dataclass(slots=True)
class Context:
    """What a mapping needs besides the resource: where it is (for messages), the resolver of references
    to other entries of the bundle (``urn:uuid:`` fullUrls), and the problems found so far."""

    location: str
    resolve: Resolver = field(default=lambda _ref: None)
    problems: list[Problem] = field(default_factory=list)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(f"{self.location}.{where}" if where else self.location, message))


# ---- datatypes -----------------------------------------------------------------------------------------


def fhir_to_dtm(value: str) -> str:
    """A FHIR date/dateTime/instant as an XDS DTM in UTC at the given precision; ValueError if not one."""
    text = value.strip()
    if "T" not in text:
        digits = text.replace("-", "")
        if not digits.isdigit() or len(digits) not in (4, 6, 8):
            raise ValueError(f"{value!r} is not a FHIR date")
        return digits
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y%m%d%H%M%S")


def _dtm(ctx: Context, where: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return fhir_to_dtm(value)
    except ValueError:
        ctx.problem(where, f"{value!r} is not a FHIR dateTime")
        return None


def code_of(concept: Mapping[str, Any] | None) -> Code | None:
    """The XDS code of a CodeableConcept (its first coding with a system and a code) or of a Coding."""
    if not concept:
        return None
    codings = concept.get("coding") if "coding" in concept else [concept]
    for coding in codings or ():
        if coding.get("code") and coding.get("system"):
            return Code(
                str(coding["code"]), coding_scheme(str(coding["system"])), str(coding.get("display", ""))
            )
    return None


def _codes_of(ctx: Context, where: str, concepts: Iterable[Mapping[str, Any]]) -> tuple[Code, ...]:
    found = []
    for index, concept in enumerate(concepts):
        code = code_of(concept)
        if code is None:
            ctx.problem(f"{where}[{index}]", "a coding with system and code is required")
        else:
            found.append(code)
    return tuple(found)


def _one_code(ctx: Context, where: str, concept: Mapping[str, Any] | None) -> Code | None:
    if concept is None:
        return None
    code = code_of(concept)
    if code is None:
        ctx.problem(where, "a coding with system and code is required")
    return code


def cwe(code: Code) -> str:
    return f"{code.code}^{code.display}^{code.scheme}"


def _hd(system: str | None) -> str:
    """An Identifier.system as an HD ``&OID&ISO`` (empty when it is not an OID)."""
    if not system:
        return ""
    oid = from_oid_uri(system)
    return f"&{oid}&ISO" if OID_RE.match(oid) else ""


def _first_identifier(resource: Mapping[str, Any]) -> tuple[str, str]:
    for identifier in resource.get("identifier", ()):
        if identifier.get("value"):
            return str(identifier["value"]), _hd(identifier.get("system"))
    return "", ""


def xcn(resource: Mapping[str, Any]) -> str:
    """A Practitioner / Patient / RelatedPerson as an XCN."""
    ident, authority = _first_identifier(resource)
    names = resource.get("name") or [{}]
    name = names[0]
    given = [*name.get("given", ()), "", ""]
    prefix = (name.get("prefix") or [""])[0]
    suffix = (name.get("suffix") or [""])[0]
    parts = [ident, name.get("family", ""), given[0], given[1], suffix, prefix, "", "", authority]
    return "^".join(parts).rstrip("^")


def xon(resource: Mapping[str, Any]) -> str:
    """An Organization as an XON ``name^^^^^&OID&ISO^^^^id``."""
    ident, authority = _first_identifier(resource)
    name = str(resource.get("name", ""))
    if not ident:
        return name
    return f"{name}^^^^^{authority}^^^^{ident}"


def xtn(telecom: Mapping[str, Any]) -> str | None:
    value = str(telecom.get("value", "")).strip()
    if not value:
        return None
    if telecom.get("system") == "email":
        return f"^NET^Internet^{value}"
    return "^PRN^PH" + "^" * 9 + value


def _external(reference: Mapping[str, Any]) -> str:
    return str(reference.get("display") or reference.get("reference") or "")


class AuthorBuilder:
    """Authors from references: contained (``#id``) or bundled (``urn:uuid:``) resources."""

    def __init__(self, ctx: Context, owner: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.contained = {f"#{r.get('id')}": r for r in owner.get("contained", ()) if r.get("id")}

    def target(self, reference: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if not reference:
            return None
        ref = str(reference.get("reference", ""))
        if ref.startswith("#"):
            found = self.contained.get(ref)
            if found is None:
                self.ctx.problem("contained", f"{ref} names no contained resource")
            return found
        return self.ctx.resolve(ref) if ref else None

    def person(self, reference: Mapping[str, Any] | None) -> str | None:
        """An XCN for a reference to a person (legalAuthenticator, authorPerson)."""
        if not reference:
            return None
        found = self.target(reference)
        if found is None:
            text = _external(reference)
            return text or None
        if found.get("resourceType") == "Organization":
            return None
        if found.get("resourceType") == "PractitionerRole":
            return self.person(found.get("practitioner"))
        if found.get("resourceType") == "Device":
            name = (found.get("deviceName") or [{}])[0].get("name") or found.get("id", "")
            return str(name)
        return xcn(found)

    def author(self, reference: Mapping[str, Any], org: Mapping[str, Any] | None = None) -> Author:
        found = self.target(reference)
        institutions: list[str] = []
        roles: list[str] = []
        specialties: list[str] = []
        telecoms: list[str] = []
        person: str | None = None
        if found is None:
            kind = str(reference.get("reference", "")).split("/", 1)[0]
            if kind == "Organization":
                institutions.append(_external(reference))
            else:
                person = _external(reference) or None
        else:
            kind = str(found.get("resourceType"))
            if kind == "Organization":
                institutions.append(xon(found))
            elif kind == "PractitionerRole":
                person = self.person(found.get("practitioner"))
                organisation = self.target(found.get("organization"))
                if organisation is not None:
                    institutions.append(xon(organisation))
                elif found.get("organization"):
                    institutions.append(_external(found["organization"]))
                roles.extend(cwe(c) for c in _codes_of(self.ctx, "author.code", found.get("code", ())))
                specialties.extend(
                    cwe(c) for c in _codes_of(self.ctx, "author.specialty", found.get("specialty", ()))
                )
                telecoms.extend(t for t in map(xtn, found.get("telecom", ())) if t)
                practitioner = self.target(found.get("practitioner"))
                if practitioner is not None:
                    telecoms.extend(t for t in map(xtn, practitioner.get("telecom", ())) if t)
            else:
                person = self.person(reference)
                telecoms.extend(t for t in map(xtn, found.get("telecom", ())) if t)
        if org is not None:
            organisation = self.target(org)
            institutions.append(xon(organisation) if organisation is not None else _external(org))
        return Author(
            person=person,
            institutions=tuple(i for i in institutions if i),
            roles=tuple(roles),
            specialties=tuple(specialties),
            telecoms=tuple(telecoms),
        )


# ---- patients ------------------------------------------------------------------------------------------


def patient_cx(ctx: Context, where: str, reference: Mapping[str, Any] | None) -> str | None:
    """The CX (not yet canonical: the registry canonicalises, as for ITI-41) a subject reference names:
    ``Patient?identifier=SYSTEM|VALUE``, ``Patient/{id}`` (absolute or relative), ``reference.identifier``,
    or a Patient of the bundle (``urn:uuid:``) by its first ``urn:oid:`` identifier."""
    if not reference:
        return None
    try:
        ref = str(reference.get("reference", "")).strip()
        if not ref and reference.get("identifier"):
            identifier = reference["identifier"]
            return cx_of_identifier(str(identifier.get("system", "")), str(identifier.get("value", "")))
        if "Patient?" in ref:
            query = ref.split("Patient?", 1)[1]
            for pair in query.split("&"):
                name, _, value = pair.partition("=")
                if name == "identifier":
                    system, sep, code = value.partition("|")
                    if not sep:
                        raise IdentifierError("syntax", "identifier=SYSTEM|VALUE is expected")
                    return cx_of_identifier(system, code)
            raise IdentifierError("syntax", "a conditional Patient reference needs identifier=SYSTEM|VALUE")
        if ref.startswith("urn:uuid:"):
            bundled = ctx.resolve(ref)
            if bundled is None or bundled.get("resourceType") != "Patient":
                raise IdentifierError("syntax", f"{ref} names no Patient of the bundle")
            return bundled_patient_cx(bundled)
        if "Patient/" in ref:
            logical = ref.rsplit("Patient/", 1)[1].split("/", 1)[0]
            return cx_of_logical_id(logical)
        raise IdentifierError("syntax", f"{ref!r} is not a Patient reference")
    except IdentifierError as error:
        ctx.problem(where, f"subject: {error}")
        return None


def bundled_patient_cx(patient: Mapping[str, Any]) -> str:
    """A bundled Patient names a registry patient by an identifier whose system is ``urn:oid:``."""
    for identifier in patient.get("identifier", ()):
        system = str(identifier.get("system", ""))
        if system.startswith("urn:oid:") and identifier.get("value"):
            return cx_of_identifier(system, str(identifier["value"]))
    raise IdentifierError(
        "syntax", "the Patient of the bundle has no urn:oid: identifier: this server does not create patients"
    )


def _source_patient(
    ctx: Context, doc: Mapping[str, Any], authors: AuthorBuilder, subject: str | None
) -> tuple[str | None, tuple[str, ...]]:
    reference = (doc.get("context") or {}).get("sourcePatientInfo")
    if not reference:
        return None, ()
    ref = str(reference.get("reference", ""))
    found = authors.target(reference) if ref.startswith(("#", "urn:uuid:")) else None
    if found is None:
        if ref.startswith("#"):
            return None, ()
        return patient_cx(ctx, "context.sourcePatientInfo", reference), ()
    pid: list[str] = []
    source_id: str | None = None
    for identifier in found.get("identifier", ()):
        value = str(identifier.get("value", "")).strip()
        if not value:
            continue
        authority = _hd(identifier.get("system"))
        cx = f"{value}^^^{authority}" if authority else value
        pid.append(f"PID-3|{cx}")
        if source_id is None and authority:
            source_id = cx
    for name in found.get("name", ()):
        given = [*name.get("given", ()), ""]
        pid.append(f"PID-5|{name.get('family', '')}^{given[0]}")
    if found.get("birthDate"):
        pid.append(f"PID-7|{str(found['birthDate']).replace('-', '')}")
    gender = {"male": "M", "female": "F", "other": "O", "unknown": "U"}.get(str(found.get("gender", "")))
    if gender:
        pid.append(f"PID-8|{gender}")
    return source_id or subject, tuple(pid)


# ---- identifiers -----------------------------------------------------------------------------------------


def _identifier_type(identifier: Mapping[str, Any]) -> str:
    for coding in (identifier.get("type") or {}).get("coding", ()):
        if coding.get("code"):
            return str(coding["code"])
    return ""


def list_unique_id(resource: Mapping[str, Any]) -> str | None:
    """The uniqueId of a SubmissionSet / Folder List: the identifier typed uniqueId, else ``use=usual``,
    else the first that is not an entryUUID (``urn:uuid:`` with ``use=official``)."""
    identifiers = list(resource.get("identifier", ()))
    for test in (
        lambda i: _identifier_type(i) == UNIQUE_ID_TYPE,
        lambda i: i.get("use") == "usual",
        lambda i: _identifier_type(i) != ENTRY_UUID_TYPE and i.get("use") != "official",
    ):
        for identifier in identifiers:
            if test(identifier) and identifier.get("value"):
                return from_oid_uri(str(identifier["value"]))
    return None


def _extensions(resource: Mapping[str, Any], url: str) -> list[Mapping[str, Any]]:
    return [e for e in resource.get("extension", ()) if e.get("url") == url]


def archived_slot(resource: Mapping[str, Any]) -> tuple[Slot, ...]:
    found = _extensions(resource, IS_ARCHIVED_EXTENSION)
    if not found or "valueBoolean" not in found[0]:
        return ()
    return (Slot(ARCHIVED_SLOT, ("true" if found[0]["valueBoolean"] else "false",)),)


def _text(value: Any) -> LocalizedText | None:
    return LocalizedText(str(value)) if value else None


# ---- the resources -------------------------------------------------------------------------------------


def document_entry(
    ctx: Context, entry_id: str, doc: Mapping[str, Any], *, measured_hash: str | None = None
) -> DocumentEntry:
    """The DocumentEntry a DocumentReference describes (symbolic id ``entry_id``; hash and size as the
    attachment states them, checked against the bytes by the caller)."""
    authors = AuthorBuilder(ctx, doc)
    contents = list(doc.get("content", ()))
    if len(contents) != 1:
        ctx.problem("content", f"an XDS document entry has exactly one content, found {len(contents)}")
    content = contents[0] if contents else {}
    attachment = content.get("attachment", {})
    context = doc.get("context") or {}
    period = context.get("period") or {}
    subject = patient_cx(ctx, "subject", doc.get("subject"))
    source_id, source_info = _source_patient(ctx, doc, authors, subject)
    attachment_hash: str | None = None
    if attachment.get("hash"):
        try:
            attachment_hash = hash_hex(str(attachment["hash"]))
        except ValueError as error:
            ctx.problem("content.attachment.hash", str(error))
    master = doc.get("masterIdentifier") or {}
    references = []
    for related in context.get("related", ()):
        identifier = related.get("identifier") or {}
        if identifier.get("value"):
            authority = _hd(identifier.get("system"))
            kind = _identifier_type(identifier) or "urn:ihe:iti:xds:2013:uniqueId"
            references.append(f"{from_oid_uri(str(identifier['value']))}^^^{authority}^{kind}")
    return DocumentEntry(
        entry_uuid=entry_id,
        title=_text(attachment.get("title")),
        comments=_text(doc.get("description")),
        extra_slots=archived_slot(doc),
        mime_type=str(attachment.get("contentType", "")),
        patient_id=subject,
        unique_id=from_oid_uri(str(master["value"])) if master.get("value") else None,
        creation_time=_dtm(ctx, "content.attachment.creation", attachment.get("creation")),
        language_code=attachment.get("language"),
        source_patient_id=source_id,
        source_patient_info=source_info,
        service_start_time=_dtm(ctx, "context.period.start", period.get("start")),
        service_stop_time=_dtm(ctx, "context.period.end", period.get("end")),
        hash=measured_hash or attachment_hash,
        size=str(attachment["size"]) if "size" in attachment else None,
        legal_authenticator=authors.person(doc.get("authenticator")),
        reference_ids=tuple(references),
        authors=tuple(authors.author(a) for a in doc.get("author", ())),
        class_code=_one_code(ctx, "category[0]", (doc.get("category") or [None])[0]),
        confidentiality_codes=tuple(
            code for label in doc.get("securityLabel", ()) for code in _all_codings(label)
        ),
        event_codes=_codes_of(ctx, "context.event", context.get("event", ())),
        format_code=_one_code(ctx, "content.format", content.get("format")),
        healthcare_facility_type_code=_one_code(ctx, "context.facilityType", context.get("facilityType")),
        practice_setting_code=_one_code(ctx, "context.practiceSetting", context.get("practiceSetting")),
        type_code=_one_code(ctx, "type", doc.get("type")),
    )


def _all_codings(concept: Mapping[str, Any]) -> list[Code]:
    """securityLabel: every coding is one confidentialityCode (a DMP document carries N plus a masking code
    in one label or in two)."""
    return [
        Code(str(c["code"]), coding_scheme(str(c["system"])), str(c.get("display", "")))
        for c in concept.get("coding", ())
        if c.get("code") and c.get("system")
    ]


def submission_set(ctx: Context, entry_id: str, resource: Mapping[str, Any]) -> SubmissionSet:
    authors = AuthorBuilder(ctx, resource)
    source = resource.get("source")
    author_list: tuple[Author, ...] = ()
    if source:
        orgs = [
            e.get("valueReference")
            for e in source.get("extension", ())
            if e.get("url") == AUTHOR_ORG_EXTENSION
        ]
        author = authors.author(source)
        for org in orgs:
            target = authors.target(org)
            extra = xon(target) if target is not None else _external(org or {})
            if extra:
                author = Author(
                    author.person,
                    (*author.institutions, extra),
                    author.roles,
                    author.specialties,
                    author.telecoms,
                )
        author_list = (author,)
    source_ids = _extensions(resource, SOURCE_ID_EXTENSION)
    source_id = None
    if source_ids:
        value = (source_ids[0].get("valueIdentifier") or {}).get("value")
        source_id = from_oid_uri(str(value)) if value else None
    designation = _extensions(resource, DESIGNATION_TYPE_EXTENSION)
    recipients = []
    for extension in _extensions(resource, INTENDED_RECIPIENT_EXTENSION):
        target = authors.target(extension.get("valueReference"))
        if target is None:
            continue
        if target.get("resourceType") == "Organization":
            recipients.append(xon(target))
        else:
            telecom = next((t for t in map(xtn, target.get("telecom", ())) if t), "")
            person = xcn(target) if target.get("identifier") or target.get("name") else ""
            recipients.append(f"|{person}|{telecom}".rstrip("|"))
    notes = resource.get("note") or []
    return SubmissionSet(
        entry_uuid=entry_id,
        title=_text(resource.get("title")),
        comments=_text(notes[0].get("text") if notes else None),
        extra_slots=archived_slot(resource),
        patient_id=patient_cx(ctx, "subject", resource.get("subject")),
        unique_id=list_unique_id(resource),
        source_id=source_id,
        submission_time=_dtm(ctx, "date", resource.get("date")),
        intended_recipients=tuple(recipients),
        authors=author_list,
        content_type_code=_one_code(
            ctx,
            "extension(designationType)",
            designation[0].get("valueCodeableConcept") if designation else None,
        ),
    )


def folder(ctx: Context, entry_id: str, resource: Mapping[str, Any]) -> Folder:
    notes = resource.get("note") or []
    return Folder(
        entry_uuid=entry_id,
        title=_text(resource.get("title")),
        comments=_text(notes[0].get("text") if notes else None),
        patient_id=patient_cx(ctx, "subject", resource.get("subject")),
        unique_id=list_unique_id(resource),
        codes=_codes_of(
            ctx,
            "extension(designationType)",
            (e.get("valueCodeableConcept") or {} for e in _extensions(resource, DESIGNATION_TYPE_EXTENSION)),
        ),
    )


__all__ = [
    "ARCHIVED_SLOT",
    "IS_ARCHIVED_EXTENSION",
    "URI_SYSTEM",
    "AuthorBuilder",
    "Context",
    "Problem",
    "Resolver",
    "archived_slot",
    "bundled_patient_cx",
    "code_of",
    "document_entry",
    "fhir_to_dtm",
    "folder",
    "list_unique_id",
    "patient_cx",
    "submission_set",
    "xcn",
    "xon",
]
