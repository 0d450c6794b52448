"""ITI-65 Provide Document Bundle -> the core Submission an ITI-41 carries, plus the documents, staged.

Theory of operation (MHD 4.2 ITI TF-2 3.65; mhd-fhir.md §1, §5):

1. The Bundle must be a ``transaction`` (a FHIR ``document`` Bundle: FHIRDocumentNotSupported, this
   Recipient does not declare the FHIR Document Publish option); ``meta.profile`` declares Minimal,
   Comprehensive, UnContained Comprehensive or the PDSm comprehensive bundle, and picks the cardinalities
   checked here (``checks``): Minimal = the XDR metadata-limited set, Comprehensive = what XDS requires
   (author, authenticator and sourcePatientInfo contained), UnContained = the same cardinalities with
   references allowed, PDSm = Comprehensive plus its own minimums. Minimal metadata is then refused by
   the XDS registry rules themselves (an XDS registry requires the full set: the same errors an ITI-41
   with those attributes missing gets).
2. Entries: exactly one SubmissionSet List (POST); DocumentReferences (POST) with their Binary (POST) in
   the bundle (``attachment.url`` = the Binary's fullUrl; the document is never fetched from elsewhere);
   Folder Lists (POST new, PUT an existing one to add members); PATCH Parameters that set a replaced
   DocumentReference ``superseded`` (the registry deprecates the target of an RPLC itself: the PATCH must
   match a ``replaces`` of the bundle and is answered without a separate write); Patient entries naming a
   registry patient by a ``urn:oid:`` identifier (this server does not create patients). Anything else is
   refused: nothing is silently ignored.
3. ``urn:uuid:`` references between entries are resolved through the fullUrls; a reference to an existing
   DocumentReference is ``DocumentReference/{id}`` (id = entryUUID without ``urn:uuid:``, as the output
   mapping writes it) or its identifier (entryUUID, or uniqueId looked up in the registry).
4. Binary.data is decoded in slices to a file in the blob store's staging folder, hashed as it is written
   (SHA-1, size); ``attachment.hash`` (base64 SHA-1) and ``size`` must equal the measured ones
   (XDSNonIdenticalHash / XDSNonIdenticalSize).
5. Associations as ITI-41 carries them: SS -> DocumentEntry / Folder HasMember (SubmissionSetStatus
   Original), SS -> existing entry HasMember (Reference) for an existing DocumentReference the SubmissionSet
   lists, Folder -> DocumentEntry HasMember filed in the SubmissionSet, and relatesTo as RPLC / APND / XFRM /
   XFRM_RPLC (replaces + transforms) / signs.

Nothing here writes: the caller runs the ITI-41 use case on the result and removes the staged files.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from fhir_api.mapping import from_fhir
from fhir_api.mapping.codes import from_oid_uri, hash_hex
from fhir_api.mapping.from_fhir import Context, Problem
from fhir_api.mapping.patient import patient_logical_id
from fhir_api.outcome import FhirError, OutcomeIssue
from xds_server.core.errors import ErrorCode
from xds_server.core.identifiers import IdentifierError
from xds_server.core.metadata import Association, DocumentEntry, Folder, Slot, Submission
from xds_server.core.usecases.provide import IncomingDocument
from xds_server.core.vocabulary import AssociationType

MHD_SD: Final = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
MINIMAL: Final = MHD_SD + "IHE.MHD.Minimal.ProvideBundle"
COMPREHENSIVE: Final = MHD_SD + "IHE.MHD.Comprehensive.ProvideBundle"
UNCONTAINED: Final = MHD_SD + "IHE.MHD.UnContained.Comprehensive.ProvideBundle"
PDSM: Final = "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-provide-document-bundle"
PROFILES: Final = (MINIMAL, COMPREHENSIVE, UNCONTAINED, PDSM)
LIST_TYPES: Final = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"

#: MHD error codes (ITI TF-2 3.65.4.2.3) beside the XDS ones.
FHIR_DOCUMENT_NOT_SUPPORTED: Final = "FHIRDocumentNotSupported"
PARTIAL_REPLACE: Final = "PartialReplaceContentNotProcessed"

_UUID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RELATION: Final[dict[str, str]] = {
    "replaces": AssociationType.REPLACE.value,
    "appends": AssociationType.APPEND.value,
    "transforms": AssociationType.TRANSFORM.value,
    "signs": AssociationType.SIGNS.value,
}
_HAS_MEMBER: Final = AssociationType.HAS_MEMBER.value
_SPACE: Final = re.compile(r"\s+")
#: base64 is decoded in slices of this many characters (a multiple of 4): bounded extra memory.
_SLICE: Final = 4 * 1024 * 1024


class RegistryLookup(Protocol):
    """What resolving a bundle needs from the registry (read-only)."""

    def document_by_unique_id(self, unique_id: str) -> str | None: ...

    def folder_by_unique_id(self, unique_id: str) -> str | None: ...

    def folder_members(self, folder_uuid: str) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class Answer:
    """One response entry: the symbolic id whose final id makes the location, or a fixed location."""

    status: str
    resource_type: str
    symbolic: str | None = None
    location: str | None = None


@dataclass(slots=True)
class ProvideRequest:
    submission: Submission
    documents: list[IncomingDocument]
    answers: list[Answer]
    staged: list[Path] = field(default_factory=list)
    profile: str = COMPREHENSIVE
    #: the patients the bundle's Patient entries name (CX, not yet canonical)
    patients: list[str] = field(default_factory=list)

    def discard(self) -> None:
        """Remove what is left in staging (stored documents were moved away already)."""
        for path in self.staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _issue(
    message: str, location: str = "", *, code: str = ErrorCode.REGISTRY_METADATA_ERROR
) -> OutcomeIssue:
    return OutcomeIssue("invalid", message, error_code=code, expression=location or None)


def _fail(issues: list[OutcomeIssue], status: int = 422) -> FhirError:
    return FhirError(status, issues)


# ---- profile cardinalities -------------------------------------------------------------------------------


def _get(resource: Any, path: str) -> list[Any]:
    """The values at a dotted path (lists flattened)."""
    values = [resource]
    for step in path.split("."):
        found: list[Any] = []
        for value in values:
            if isinstance(value, Mapping) and step in value:
                inner = value[step]
                found.extend(inner if isinstance(inner, list) else [inner])
        values = found
    return [v for v in values if v not in (None, "", [], {})]


def _extension(resource: Mapping[str, Any], url: str) -> list[Any]:
    return [e for e in resource.get("extension", ()) if e.get("url") == url]


#: (path, what) that each option requires on a DocumentReference (1..), after FHIR core.
_DOC_MINIMAL: Final = (
    ("masterIdentifier", "masterIdentifier (uniqueId)"),
    ("status", "status"),
    ("content.attachment.contentType", "content.attachment.contentType (mimeType)"),
    ("content.attachment.url", "content.attachment.url (the Binary of the bundle)"),
)
_DOC_COMPREHENSIVE: Final = (
    *_DOC_MINIMAL,
    ("type", "type (typeCode)"),
    ("category", "category (classCode)"),
    ("subject", "subject (patientId)"),
    ("securityLabel", "securityLabel (confidentialityCode)"),
    ("content.attachment.language", "content.attachment.language (languageCode)"),
    ("content.attachment.creation", "content.attachment.creation (creationTime)"),
    ("content.format", "content.format (formatCode)"),
    ("context.facilityType", "context.facilityType (healthcareFacilityTypeCode)"),
    ("context.practiceSetting", "context.practiceSetting (practiceSettingCode)"),
    ("context.sourcePatientInfo", "context.sourcePatientInfo (sourcePatientId)"),
)
_DOC_PDSM: Final = (
    *_DOC_COMPREHENSIVE,
    ("author", "author"),
    ("custodian", "custodian"),
    ("date", "date"),
    ("context.period.start", "context.period.start (serviceStartTime)"),
    ("content.attachment.size", "content.attachment.size"),
    ("content.attachment.hash", "content.attachment.hash"),
    ("content.attachment.title", "content.attachment.title"),
)
_SS_MINIMAL: Final = (("date", "date (submissionTime)"),)
_SS_COMPREHENSIVE: Final = (*_SS_MINIMAL, ("subject", "subject (patientId)"))
_FOLDER_COMPREHENSIVE: Final = (("title", "title"), ("subject", "subject (patientId)"))


def _require(resource: Mapping[str, Any], rules: Iterable[tuple[str, str]], where: str) -> list[OutcomeIssue]:
    return [
        _issue(f"{where}: {what} is required by the declared profile", f"{where}.{path}")
        for path, what in rules
        if not _get(resource, path)
    ]


def _contained_only(resource: Mapping[str, Any], paths: Iterable[str], where: str) -> list[OutcomeIssue]:
    """Comprehensive (not UnContained): author, authenticator, sourcePatientInfo must be contained."""
    issues = []
    for path in paths:
        for reference in _get(resource, path):
            ref = str(reference.get("reference", "")) if isinstance(reference, Mapping) else ""
            if ref and not ref.startswith("#"):
                issues.append(
                    _issue(
                        f"{where}: {path} must be a contained resource in a Comprehensive bundle "
                        f"(declare {UNCONTAINED} for references)",
                        f"{where}.{path}",
                    )
                )
    return issues


def _profile_checks(
    profile: str, docs: list[tuple[str, Mapping[str, Any]]], lists: list[tuple[str, Mapping[str, Any], str]]
) -> list[OutcomeIssue]:
    issues: list[OutcomeIssue] = []
    doc_rules = {MINIMAL: _DOC_MINIMAL, PDSM: _DOC_PDSM}.get(profile, _DOC_COMPREHENSIVE)
    for where, doc in docs:
        issues += _require(doc, doc_rules, where)
        if profile in (COMPREHENSIVE, PDSM):
            issues += _contained_only(doc, ("author", "authenticator", "context.sourcePatientInfo"), where)
    for where, resource, kind in lists:
        if kind == "submissionset":
            issues += _require(resource, _SS_MINIMAL if profile == MINIMAL else _SS_COMPREHENSIVE, where)
            if not from_fhir.list_unique_id(resource):
                issues.append(_issue(f"{where}: identifier (uniqueId) is required", f"{where}.identifier"))
            if not _extension(resource, from_fhir.SOURCE_ID_EXTENSION):
                issues.append(_issue(f"{where}: extension ihe-sourceId is required", f"{where}.extension"))
            if profile != MINIMAL and not _extension(resource, from_fhir.DESIGNATION_TYPE_EXTENSION):
                issues.append(
                    _issue(f"{where}: extension ihe-designationType is required", f"{where}.extension")
                )
            if profile == PDSM and not resource.get("source"):
                issues.append(_issue(f"{where}: source is required by PDSm", f"{where}.source"))
            if profile in (COMPREHENSIVE, PDSM):
                issues += _contained_only(resource, ("source",), where)
        elif profile != MINIMAL:
            issues += _require(resource, _FOLDER_COMPREHENSIVE, where)
            if not _extension(resource, from_fhir.DESIGNATION_TYPE_EXTENSION):
                issues.append(
                    _issue(f"{where}: extension ihe-designationType is required", f"{where}.extension")
                )
    if profile == PDSM and not docs:
        issues.append(_issue("a PDSm provide bundle holds at least one DocumentReference", "Bundle.entry"))
    return issues


def declared_profile(bundle: Mapping[str, Any]) -> str:
    declared = [str(p).split("|", 1)[0] for p in (bundle.get("meta") or {}).get("profile", ())]
    for profile in (PDSM, UNCONTAINED, COMPREHENSIVE, MINIMAL):  # the most demanding declared one wins
        if profile in declared:
            return profile
    raise _fail(
        [
            _issue(
                "Bundle.meta.profile must declare the MHD option of the bundle: " + ", ".join(PROFILES),
                "Bundle.meta.profile",
            )
        ]
    )


# ---- the documents ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Staged:
    path: Path
    sha1: str
    size: int
    sha256: str  # the blob key


def stage_base64(data: str, spool_dir: Path) -> Staged:
    """Decode ``data`` to a staging file in slices, hashing as it goes (ValueError if not base64)."""
    text = _SPACE.sub("", data) if _SPACE.search(data) else data  # XML may wrap base64 in lines
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="fhir-", suffix=".tmp", dir=spool_dir)
    path = Path(name)
    digest, key = hashlib.sha1(), hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for start in range(0, len(text), _SLICE):
                chunk = base64.b64decode(text[start : start + _SLICE], validate=True)
                digest.update(chunk)
                key.update(chunk)
                size += len(chunk)
                handle.write(chunk)
    except (binascii.Error, ValueError):
        os.unlink(path)
        raise ValueError("Binary.data is not base64") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    return Staged(path, digest.hexdigest(), size, key.hexdigest())


# ---- the reader ------------------------------------------------------------------------------------------


def _list_kind(resource: Mapping[str, Any]) -> str:
    for coding in (resource.get("code") or {}).get("coding", ()):
        if coding.get("code") in ("submissionset", "folder"):
            return str(coding["code"])
    return ""


def _uuid_of_reference(reference: str, resource_type: str) -> str | None:
    """``DocumentReference/{id}`` (relative or absolute, optional ``/_history``) -> ``urn:uuid:{id}``."""
    marker = f"{resource_type}/"
    if marker not in reference:
        return None
    logical = reference.rsplit(marker, 1)[1].split("/", 1)[0]
    return f"urn:uuid:{logical.lower()}" if _UUID.match(logical) else unknown_uuid(logical)


def unknown_uuid(name: str) -> str:
    """An id that names no registry object (the id of this server's resources is an entryUUID): the
    registry then reports it exactly as any absent object, and as a document the actor may not see."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'xds-server:unknown:' + name)}"


@dataclass(slots=True)
class _Entry:
    index: int
    full_url: str
    resource: dict[str, Any]
    method: str
    url: str

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


class BundleReader:
    """One ITI-65 request being read (see the module docstring)."""

    def __init__(self, bundle: Mapping[str, Any], *, spool_dir: Path, registry: RegistryLookup) -> None:
        self.bundle = bundle
        self.spool_dir = spool_dir
        self.registry = registry
        self.issues: list[OutcomeIssue] = []
        self.by_url: dict[str, _Entry] = {}
        self.staged: list[Path] = []

    def resolve(self, reference: str) -> Mapping[str, Any] | None:
        found = self.by_url.get(reference)
        return found.resource if found is not None else None

    def problems(self, problems: Iterable[Problem]) -> None:
        self.issues.extend(_issue(p.message, p.location) for p in problems)

    def read(self) -> ProvideRequest:
        try:
            return self._read()
        except BaseException:
            for path in self.staged:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            raise

    def _entries(self) -> list[_Entry]:
        entries = []
        for index, raw in enumerate(self.bundle.get("entry", ())):
            resource = raw.get("resource")
            request = raw.get("request") or {}
            where = f"Bundle.entry[{index}]"
            if not isinstance(resource, dict):
                self.issues.append(_issue(f"{where}: an ITI-65 entry carries a resource", where))
                continue
            if not request.get("method"):
                self.issues.append(_issue(f"{where}: request.method is required in a transaction", where))
                continue
            entry = _Entry(
                index,
                str(raw.get("fullUrl", "")),
                resource,
                str(request["method"]),
                str(request.get("url", "")),
            )
            if entry.full_url:
                if entry.full_url in self.by_url:
                    self.issues.append(_issue(f"{where}: fullUrl {entry.full_url} is used twice", where))
                self.by_url[entry.full_url] = entry
            entries.append(entry)
        return entries

    def _read(self) -> ProvideRequest:
        if self.bundle.get("type") == "document":
            raise _fail(
                [
                    _issue(
                        "a FHIR document Bundle is not accepted: this Recipient does not support the FHIR "
                        "Document Publish option",
                        "Bundle.type",
                        code=FHIR_DOCUMENT_NOT_SUPPORTED,
                    )
                ]
            )
        if self.bundle.get("type") != "transaction":
            raise _fail(
                [
                    _issue(
                        f"ITI-65 expects a transaction Bundle, not {self.bundle.get('type')!r}", "Bundle.type"
                    )
                ],
                400,
            )
        entries = self._entries()
        profile_issue: FhirError | None = None
        try:
            profile = declared_profile(self.bundle)
        except FhirError as error:
            profile_issue, profile = error, COMPREHENSIVE
        ss_entries: list[_Entry] = []
        docs: list[_Entry] = []
        binaries: dict[str, _Entry] = {}
        folders: list[_Entry] = []
        folder_updates: list[_Entry] = []
        patches: list[_Entry] = []
        patients: list[_Entry] = []
        for entry in entries:
            kind, method = entry.resource.get("resourceType"), entry.method.upper()
            if kind == "List" and _list_kind(entry.resource) == "submissionset" and method == "POST":
                ss_entries.append(entry)
            elif kind == "List" and _list_kind(entry.resource) == "folder" and method == "POST":
                folders.append(entry)
            elif kind == "List" and _list_kind(entry.resource) == "folder" and method == "PUT":
                folder_updates.append(entry)
            elif kind == "DocumentReference" and method == "POST":
                docs.append(entry)
            elif kind == "Binary" and method == "POST":
                binaries[entry.full_url] = entry
            elif kind == "Parameters" and method == "PATCH":
                patches.append(entry)
            elif kind == "Patient" and method in ("POST", "PUT", "GET"):
                patients.append(entry)
            elif kind == "Bundle":
                self.issues.append(
                    _issue(
                        "a FHIR document Bundle is not accepted as content: this Recipient does not support "
                        "the FHIR Document Publish option",
                        entry.where,
                        code=FHIR_DOCUMENT_NOT_SUPPORTED,
                    )
                )
            else:
                self.issues.append(
                    _issue(
                        f"{entry.where}: {method} {kind} is not part of an ITI-65 Provide Document Bundle",
                        entry.where,
                    )
                )
        if len(ss_entries) != 1:
            self.issues.append(
                _issue(
                    f"an ITI-65 bundle holds exactly one SubmissionSet List (POST, code submissionset), "
                    f"found {len(ss_entries)}",
                    "Bundle.entry",
                )
            )
        if profile_issue is not None:
            self.issues.extend(profile_issue.issues)
        self.issues += _profile_checks(
            profile,
            [(e.where, e.resource) for e in docs],
            [(e.where, e.resource, "submissionset") for e in ss_entries]
            + [(e.where, e.resource, "folder") for e in folders + folder_updates],
        )
        if any(i.error_code == FHIR_DOCUMENT_NOT_SUPPORTED for i in self.issues):
            raise _fail([i for i in self.issues if i.error_code == FHIR_DOCUMENT_NOT_SUPPORTED])
        if self.issues:
            raise _fail(self.issues)
        return self._map(profile, ss_entries[0], docs, binaries, folders, folder_updates, patches, patients)

    # -- mapping ---------------------------------------------------------------------------------------

    def _context(self, entry: _Entry) -> Context:
        return Context(entry.where, self.resolve)

    def _map(
        self,
        profile: str,
        ss_entry: _Entry,
        docs: list[_Entry],
        binaries: dict[str, _Entry],
        folders: list[_Entry],
        folder_updates: list[_Entry],
        patches: list[_Entry],
        patients: list[_Entry],
    ) -> ProvideRequest:
        symbolic: dict[str, str] = {}  # fullUrl -> symbolic id of the new object
        ss_id = "SubmissionSet01"
        symbolic[ss_entry.full_url] = ss_id
        for number, entry in enumerate(docs, start=1):
            symbolic[entry.full_url] = f"Document{number:02d}"
        for number, entry in enumerate(folders, start=1):
            symbolic[entry.full_url] = f"Folder{number:02d}"
        answers: dict[int, Answer] = {}
        associations: list[Association] = []
        counter = iter(range(1, 1_000_000))

        def association(kind: str, source: str, target: str, slots: tuple[Slot, ...] = ()) -> str:
            name = f"Association{next(counter):02d}"
            associations.append(
                Association(entry_uuid=name, association_type=kind, source=source, target=target, slots=slots)
            )
            return name

        ctx = self._context(ss_entry)
        package = from_fhir.submission_set(ctx, ss_id, ss_entry.resource)
        self.problems(ctx.problems)
        answers[ss_entry.index] = Answer("201 Created", "List", symbolic=ss_id)

        documents: list[DocumentEntry] = []
        incoming: list[IncomingDocument] = []
        binary_answers: dict[str, str] = {}  # Binary fullUrl -> symbolic doc id
        replaced: dict[str, str] = {}  # entryUUID of a replaced document -> where
        for entry in docs:
            doc_id = symbolic[entry.full_url]
            ctx = self._context(entry)
            staged = self._document(entry, binaries, doc_id, binary_answers)
            document = from_fhir.document_entry(ctx, doc_id, entry.resource)
            self.problems(ctx.problems)
            if staged is not None:
                document = self._checked_bytes(entry, document, staged)
                incoming.append(
                    IncomingDocument(
                        doc_id,
                        staged.path,
                        staged.sha1,
                        staged.size,
                        document.mime_type or None,
                        staged.sha256,
                    )
                )
            documents.append(document)
            answers[entry.index] = Answer("201 Created", "DocumentReference", symbolic=doc_id)
            association(_HAS_MEMBER, ss_id, doc_id, (Slot("SubmissionSetStatus", ("Original",)),))
            for kind, target in self._relations(entry):
                association(kind, doc_id, target)
                if kind in (AssociationType.REPLACE.value, AssociationType.TRANSFORM_REPLACE.value):
                    replaced[target] = entry.where
        for url, binary in binaries.items():
            if url not in binary_answers:
                self.issues.append(
                    _issue(
                        f"{binary.where}: the Binary is the content of no DocumentReference of the bundle",
                        binary.where,
                    )
                )
            else:
                answers[binary.index] = Answer("201 Created", "Binary", symbolic=binary_answers[url])

        new_folders: list[Folder] = []
        for entry in folders:
            folder_id = symbolic[entry.full_url]
            ctx = self._context(entry)
            new_folders.append(from_fhir.folder(ctx, folder_id, entry.resource))
            self.problems(ctx.problems)
            answers[entry.index] = Answer("201 Created", "List", symbolic=folder_id)
            association(_HAS_MEMBER, ss_id, folder_id)
            for target in self._members(entry, symbolic, frozenset()):
                filed = association(_HAS_MEMBER, folder_id, target)
                association(_HAS_MEMBER, ss_id, filed)
        for entry in folder_updates:
            existing = self._existing_folder(entry)
            if existing is None:
                continue
            answers[entry.index] = Answer(
                "200 OK", "List", location=f"List/{existing.removeprefix('urn:uuid:')}"
            )
            for target in self._members(entry, symbolic, self.registry.folder_members(existing)):
                filed = association(_HAS_MEMBER, existing, target)
                association(_HAS_MEMBER, ss_id, filed)

        # the SubmissionSet's own entries: new objects (filed above) or existing DocumentReferences
        for index, item in enumerate(ss_entry.resource.get("entry", ())):
            ref = str((item.get("item") or {}).get("reference", ""))
            where = f"{ss_entry.where}.resource.entry[{index}]"
            if ref in symbolic or any(ref == e.full_url for e in folder_updates):
                continue
            member = _uuid_of_reference(ref, "DocumentReference")
            if member is None:
                self.issues.append(
                    _issue(f"{where}: {ref!r} names no entry of the bundle nor a DocumentReference", where)
                )
            else:
                association(_HAS_MEMBER, ss_id, member, (Slot("SubmissionSetStatus", ("Reference",)),))

        for entry in patches:
            self._patch(entry, replaced, answers)
        subject_ids: list[str] = []
        for entry in patients:
            cx = self._patient(entry)
            if cx is not None:
                subject_ids.append(cx)
                answers[entry.index] = Answer(
                    "200 OK", "Patient", location=f"Patient/{patient_logical_id(cx)}"
                )
        if self.issues:
            raise _fail(self.issues)
        submission = Submission(
            submission_sets=(package,),
            documents=tuple(documents),
            folders=tuple(new_folders),
            associations=tuple(associations),
        )
        return ProvideRequest(
            submission,
            incoming,
            [answers[i] for i in sorted(answers)],
            staged=list(self.staged),
            profile=profile,
            patients=subject_ids,
        )

    def _document(
        self, entry: _Entry, binaries: dict[str, _Entry], doc_id: str, used: dict[str, str]
    ) -> Staged | None:
        urls = _get(entry.resource, "content.attachment.url")
        if not urls:
            return None  # reported by the profile checks
        url = str(urls[0])
        found = self.by_url.get(url)
        if found is not None and found.resource.get("resourceType") == "Bundle":
            self.issues.append(
                _issue(
                    f"{entry.where}: the content is a FHIR document: the FHIR Document Publish option "
                    "is not supported",
                    entry.where,
                    code=FHIR_DOCUMENT_NOT_SUPPORTED,
                )
            )
            return None
        binary = binaries.get(url)
        if binary is None:
            self.issues.append(
                _issue(
                    f"{entry.where}: content.attachment.url {url!r} names no Binary of the bundle "
                    "(this Recipient does not fetch documents)",
                    f"{entry.where}.resource.content.attachment.url",
                )
            )
            return None
        if url in used:
            self.issues.append(
                _issue(f"{binary.where}: the Binary is the content of two DocumentReferences", binary.where)
            )
            return None
        used[url] = doc_id
        data = binary.resource.get("data")
        if not isinstance(data, str) or not data:
            self.issues.append(
                _issue(f"{binary.where}: Binary.data is required (the document)", binary.where)
            )
            return None
        try:
            staged = stage_base64(data, self.spool_dir)
        except ValueError as error:
            self.issues.append(_issue(f"{binary.where}: {error}", binary.where))
            return None
        self.staged.append(staged.path)
        return staged

    def _checked_bytes(self, entry: _Entry, document: DocumentEntry, staged: Staged) -> DocumentEntry:
        attachment = (entry.resource.get("content") or [{}])[0].get("attachment", {})
        where = f"{entry.where}.resource.content.attachment"
        if attachment.get("hash"):
            try:
                claimed = hash_hex(str(attachment["hash"]))
            except ValueError:
                claimed = None  # reported by the mapping
            if claimed is not None and claimed != staged.sha1:
                self.issues.append(
                    _issue(
                        f"{entry.where}: attachment.hash does not match the Binary (SHA-1 {staged.sha1})",
                        f"{where}.hash",
                        code=ErrorCode.NON_IDENTICAL_HASH,
                    )
                )
        if "size" in attachment and str(attachment["size"]) != str(staged.size):
            self.issues.append(
                _issue(
                    f"{entry.where}: attachment.size {attachment['size']} is not the Binary's "
                    f"size {staged.size}",
                    f"{where}.size",
                    code=ErrorCode.NON_IDENTICAL_SIZE,
                )
            )
        return dataclasses.replace(document, hash=staged.sha1, size=str(staged.size))

    def _target(self, where: str, target: Mapping[str, Any]) -> str | None:
        ref = str(target.get("reference", ""))
        if ref:
            if ref in self.by_url:
                self.issues.append(
                    _issue(
                        f"{where}: relatesTo names a DocumentReference of the same bundle: XDS relates a new "
                        "document to an existing one",
                        where,
                    )
                )
                return None
            uuid = _uuid_of_reference(ref, "DocumentReference")
            if uuid is None:
                self.issues.append(_issue(f"{where}: {ref!r} is not a DocumentReference reference", where))
            return uuid
        identifier = target.get("identifier") or {}
        value = str(identifier.get("value", "")).strip()
        if value.startswith("urn:uuid:"):
            return value.lower()
        if value:
            found = self.registry.document_by_unique_id(from_oid_uri(value))
            return found or unknown_uuid(value)
        self.issues.append(_issue(f"{where}: relatesTo.target needs a reference or an identifier", where))
        return None

    def _relations(self, entry: _Entry) -> list[tuple[str, str]]:
        found: dict[str, set[str]] = {}
        for index, relation in enumerate(entry.resource.get("relatesTo", ())):
            where = f"{entry.where}.resource.relatesTo[{index}]"
            kind = _RELATION.get(str(relation.get("code")))
            target = self._target(where, relation.get("target") or {})
            if kind is None or target is None:
                continue
            found.setdefault(target, set()).add(kind)
        relations: list[tuple[str, str]] = []
        for target, kinds in found.items():
            if {AssociationType.REPLACE.value, AssociationType.TRANSFORM.value} <= kinds:
                kinds -= {AssociationType.REPLACE.value, AssociationType.TRANSFORM.value}
                kinds.add(AssociationType.TRANSFORM_REPLACE.value)
            relations.extend((kind, target) for kind in sorted(kinds))
        return relations

    def _members(self, entry: _Entry, symbolic: Mapping[str, str], existing: frozenset[str]) -> list[str]:
        members = []
        for index, item in enumerate(entry.resource.get("entry", ())):
            ref = str((item.get("item") or {}).get("reference", ""))
            where = f"{entry.where}.resource.entry[{index}]"
            if ref in symbolic and symbolic[ref].startswith("Document"):
                members.append(symbolic[ref])
                continue
            uuid = _uuid_of_reference(ref, "DocumentReference")
            if uuid is None:
                self.issues.append(
                    _issue(f"{where}: a Folder's entries are DocumentReferences; {ref!r} is none", where)
                )
            elif uuid not in existing:
                members.append(uuid)
        return members

    def _existing_folder(self, entry: _Entry) -> str | None:
        found = _uuid_of_reference(entry.url, "List")
        if found is None:
            unique_id = from_fhir.list_unique_id(entry.resource)
            found = self.registry.folder_by_unique_id(unique_id) if unique_id else None
        if found is None:
            self.issues.append(
                _issue(
                    f"{entry.where}: PUT updates an existing Folder: none matches {entry.url!r} "
                    "or the List's uniqueId",
                    entry.where,
                    code=ErrorCode.UNRESOLVED_REFERENCE,
                )
            )
        return found

    def _patch(self, entry: _Entry, replaced: Mapping[str, str], answers: dict[int, Answer]) -> None:
        target = _uuid_of_reference(entry.url, "DocumentReference")
        operations = [p for p in entry.resource.get("parameter", ()) if p.get("name") == "operation"]
        parts = [{p.get("name"): p for p in op.get("part", ())} for op in operations]
        supersedes = len(parts) == 1 and (
            (parts[0].get("type") or {}).get("valueCode") == "replace"
            and (parts[0].get("path") or {}).get("valueString") == "DocumentReference.status"
            and (parts[0].get("value") or {}).get("valueCode") == "superseded"
        )
        if not supersedes:
            self.issues.append(
                _issue(
                    f"{entry.where}: the only PATCH an ITI-65 bundle may carry sets "
                    "DocumentReference.status to superseded (one replace operation)",
                    entry.where,
                    code=PARTIAL_REPLACE,
                )
            )
        elif target is None or target not in replaced:
            self.issues.append(
                _issue(
                    f"{entry.where}: PATCH {entry.url!r} supersedes no DocumentReference that a "
                    "DocumentReference of the bundle replaces",
                    entry.where,
                    code=PARTIAL_REPLACE,
                )
            )
        else:
            # the registry deprecates the target of the replacement itself (RPLC): nothing more to write
            answers[entry.index] = Answer(
                "200 OK",
                "DocumentReference",
                location=f"DocumentReference/{target.removeprefix('urn:uuid:')}",
            )

    def _patient(self, entry: _Entry) -> str | None:
        try:
            return from_fhir.bundled_patient_cx(entry.resource)
        except IdentifierError as error:
            self.issues.append(
                _issue(f"{entry.where}: {error}", entry.where, code=ErrorCode.UNKNOWN_PATIENT_ID)
            )
            return None


def locations(request: ProvideRequest, final_id: Callable[[str], str]) -> list[dict[str, Any]]:
    """The transaction-response entries, in request order."""
    entries = []
    for answer in request.answers:
        if answer.location is not None:
            location = answer.location
        else:
            assert answer.symbolic is not None
            location = f"{answer.resource_type}/{final_id(answer.symbolic).removeprefix('urn:uuid:')}"
        entries.append({"response": {"status": answer.status, "location": location}})
    return entries


__all__ = [
    "COMPREHENSIVE",
    "FHIR_DOCUMENT_NOT_SUPPORTED",
    "MINIMAL",
    "PARTIAL_REPLACE",
    "PDSM",
    "PROFILES",
    "UNCONTAINED",
    "Answer",
    "BundleReader",
    "ProvideRequest",
    "RegistryLookup",
    "declared_profile",
    "locations",
    "stage_base64",
]
