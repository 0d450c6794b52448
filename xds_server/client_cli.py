"""``xds-server send | find | get``: a Document Source and Consumer for people without IHE software.

Wiring (cli.py)::

    from xds_server.client_cli import register_client_commands
    register_client_commands(app)

They talk to a running server over HTTP (``--url``, default ``$XDS_URL`` or http://127.0.0.1:8080) with the
builders of ``xds_server.client``. ``--dev`` signs each request with a fresh VIHF assertion of the local
test authority of ``--data-dir`` (the server must trust it: ``serve --dev``), for the document's patient;
``--assertion FILE`` sends a ready-made assertion (``xds-server dev assertion --patient INS > FILE``).
Exit 0 when the server says Success, 1 when it refuses (each RegistryError printed), 2 for bad input.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import httpx
import typer

from xds_server.access_cli import DataDir, Profile, build_identity, patient_id, settings_of
from xds_server.cli_errors import fail
from xds_server.client import cda, messages, responses
from xds_server.client.metadata import (
    CLASS_SYSTEM,
    FACILITY_SYSTEM,
    FORMAT_SYSTEM,
    LOINC,
    PRACTICE_SYSTEM,
    DocumentFacts,
    Professional,
    facts_from_cda,
    parse_code,
    submission_for,
)
from xds_server.client.session import Security, XdsClient
from xds_server.config import Settings
from xds_server.core.metadata import DocumentEntry
from xds_server.identity import dev_authority

DEFAULT_URL = "http://127.0.0.1:8080"
_MIME = {".pdf": "application/pdf", ".txt": "text/plain", ".xml": "text/xml"}
_STATUSES = {
    "approved": (messages.APPROVED,),
    "deprecated": (messages.DEPRECATED,),
    "all": (messages.APPROVED, messages.DEPRECATED),
}

Url = Annotated[str | None, typer.Option("--url", help=f"Server base URL [$XDS_URL or {DEFAULT_URL}]")]
Dev = Annotated[
    bool,
    typer.Option("--dev", help="Sign with a fresh assertion of the data dir's test authority (TEST ONLY)"),
]
AssertionFile = Annotated[
    Path | None,
    typer.Option("--assertion", help="Send this SAML assertion (xds-server dev assertion ... > FILE)"),
]
Actor = Annotated[str | None, typer.Option("--id", help="With --dev: the acting professional (IDNPS)")]
ActorProfession = Annotated[
    str | None, typer.Option("--profession", help="With --dev: his profession (TRE_G15) [10]")
]
ActorStructure = Annotated[
    str | None, typer.Option("--structure", help="With --dev: his structure (Identifiant_Structure)")
]


def _url(url: str | None) -> str:
    return (url or os.environ.get("XDS_URL") or DEFAULT_URL).rstrip("/")


def _security(
    settings: Settings,
    *,
    dev: bool,
    assertion: Path | None,
    patient: str | None,
    actor: str | None = None,
    profession: str | None = None,
    structure: str | None = None,
) -> Security:
    """How each request is signed: a fresh dev assertion, a given one, or not at all."""
    if dev and assertion is not None:
        fail("--dev and --assertion exclude each other")
    if assertion is not None:
        try:
            given = assertion.read_bytes()
        except OSError as error:
            fail(f"--assertion {assertion}: {error.strerror or error}")
        return lambda: given
    if not dev:
        return lambda: None
    if not dev_authority.exists(settings.data_dir):
        fail(f"no dev authority in {settings.data_dir}: start the server with `serve --dev` first", 1)
    authority = dev_authority.load(settings.data_dir)
    identity = build_identity(
        settings,
        id=actor,
        name=None,
        profession=profession,
        savoir_faire=None,
        role=None,
        genre=None,
        structure=structure,
        sector=None,
        patient=None,
        mode="normal",
        reason=None,
        lps="xds-server-client",
        lps_version=None,
        secret_connection=False,
    )
    identity = replace(identity, patient=patient)
    return lambda: dev_authority.mint_assertion(authority, identity)


def _refused(outcome: responses.Outcome) -> None:
    typer.echo(f"{outcome.status_name}", err=True)
    for error in outcome.errors:
        typer.echo(f"  {error}", err=True)
    raise typer.Exit(1)


def _report_transport(error: BaseException, url: str) -> None:
    if isinstance(error, responses.SoapFault):
        fail(str(error), 1)
    if isinstance(error, httpx.ConnectError):
        fail(f"no server answers at {url} ({error}): is `xds-server serve` running?", 1)
    fail(f"{url}: {error}", 1)


def send(
    file: Annotated[Path, typer.Argument(help="The document: a CDA R2 (its header is read), a PDF or text")],
    patient: Annotated[
        str | None, typer.Option("--patient", help="The patient (INS or CX); read from a CDA header")
    ] = None,
    type_code: Annotated[
        str | None, typer.Option("--type", help="typeCode, LOINC by default: CODE or CODE^SYSTEM [11488-4]")
    ] = None,
    class_code: Annotated[
        str | None,
        typer.Option(
            "--class", help="classCode (TRE_A03); default: the class the habilitation matrix gives the type"
        ),
    ] = None,
    format_code: Annotated[
        str | None, typer.Option("--format", help="formatCode; default: from the file (PDF, text, CDA)")
    ] = None,
    facility: Annotated[
        str | None, typer.Option("--facility", help="healthcareFacilityTypeCode (TRE_R02) [SA07]")
    ] = None,
    practice: Annotated[
        str | None, typer.Option("--practice", help="practiceSettingCode [AMBULATOIRE]")
    ] = None,
    confidentiality: Annotated[
        str | None, typer.Option("--confidentiality", metavar="N|R|V", help="HL7 confidentiality [N]")
    ] = None,
    mask: Annotated[
        list[str] | None,
        typer.Option("--mask", help="DMP masking code, repeatable: MASQUE_PS, INVISIBLE_PATIENT ..."),
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Title; default: from the CDA header, else the file name")
    ] = None,
    author: Annotated[
        str | None,
        typer.Option(
            "--author", help="Author's IDNPS; default: from the CDA header, else the signing professional"
        ),
    ] = None,
    mime_type: Annotated[
        str | None, typer.Option("--mime-type", help="MIME type; default: from the file name")
    ] = None,
    url: Url = None,
    dev: Dev = False,
    assertion: AssertionFile = None,
    actor: Actor = None,
    profession: ActorProfession = None,
    structure: ActorStructure = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Send a document (ITI-41 Provide and Register) and print the uniqueId it was stored under."""
    settings = settings_of(data_dir, profile, check_dir=dev)  # the data dir serves --dev only
    try:
        content = file.read_bytes()
    except OSError as error:
        fail(f"{file}: {error.strerror or error}")
    base = DocumentFacts(patient_id="", title=file.stem)
    if cda.looks_like_cda(content):
        try:
            base = facts_from_cda(cda.read_header(content), base)
        except cda.CdaError as error:
            fail(f"{file}: {error}")
    else:
        base = replace(
            base, mime_type=mime_type or _MIME.get(file.suffix.lower(), "application/octet-stream")
        )
    signer = Professional()
    if actor or profession or structure:
        signer = replace(
            signer,
            national_id=actor or signer.national_id,
            profession=profession or signer.profession,
            structure=structure or signer.structure,
        )
    if base.author == Professional():  # not given by a CDA header: the signing professional
        base = replace(base, author=signer)
    changes: dict[str, object] = {}
    if patient:
        changes["patient_id"] = patient
    if type_code:
        changes["type_code"] = parse_code(type_code, LOINC)
    if class_code:
        changes["class_code"] = parse_code(class_code, CLASS_SYSTEM)
    if format_code:
        changes["format_code"] = parse_code(format_code, FORMAT_SYSTEM)
    if facility:
        changes["facility"] = parse_code(facility, FACILITY_SYSTEM)
    if practice:
        changes["practice"] = parse_code(practice, PRACTICE_SYSTEM)
    if confidentiality:
        if confidentiality not in ("N", "R", "V"):
            fail(f"--confidentiality must be N, R or V, not {confidentiality!r}")
        changes["confidentiality"] = confidentiality
    if mask:
        changes["masks"] = tuple(mask)
    if title:
        changes["title"] = title
    if author:
        changes["author"] = replace(base.author, national_id=author)
    if mime_type:
        changes["mime_type"] = mime_type
    facts = replace(base, **changes)  # type: ignore[arg-type]
    if not facts.patient_id:
        fail("no patient: give --patient (a CDA header names it in recordTarget)")
    facts = replace(facts, patient_id=patient_id(facts.patient_id, settings))
    request = submission_for(facts, content, repository_unique_id=settings.repository_unique_id)
    security = _security(
        settings,
        dev=dev,
        assertion=assertion,
        patient=facts.patient_id,
        actor=actor,
        profession=profession,
        structure=structure,
    )
    base_url = _url(url)
    try:
        outcome = XdsClient(base_url, security).provide_and_register(request, facts.mime_type)
    except (httpx.HTTPError, responses.ResponseError, responses.SoapFault) as error:
        _report_transport(error, base_url)
    if not outcome.success:
        _refused(outcome)
    entry = request.submission.documents[0]
    typer.echo(f"Success: {request.unique_id}")
    klass = entry.class_code.code if entry.class_code else "-"
    typer.echo(
        f"  patient {facts.patient_id}, type {facts.type_code.code}, class {klass}, "
        f"{facts.mime_type}, {len(content)} bytes"
    )


def _describe(entry: DocumentEntry) -> str:
    masks = [c.code for c in entry.confidentiality_codes if c.scheme == "1.2.250.1.213.1.1.4.13"]
    type_code = entry.type_code.code if entry.type_code else "-"
    title = entry.title.value if entry.title else ""
    status = (entry.status or "").rsplit(":", 1)[-1]
    parts = [entry.unique_id or "-", entry.creation_time or "-", type_code, status, entry.mime_type, title]
    return "  ".join(parts) + (f"  [{', '.join(masks)}]" if masks else "")


def find(
    patient: Annotated[str, typer.Option("--patient", help="The patient (INS or CX)")],
    status: Annotated[
        str, typer.Option("--status", metavar="approved|deprecated|all", help="Document status")
    ] = "approved",
    class_code: Annotated[
        list[str] | None, typer.Option("--class", help="classCode CODE^^SYSTEM or CODE (TRE_A03), repeatable")
    ] = None,
    type_code: Annotated[
        list[str] | None, typer.Option("--type", help="typeCode CODE^^SYSTEM or CODE (LOINC), repeatable")
    ] = None,
    created_from: Annotated[
        str | None, typer.Option("--from", metavar="YYYYMMDD[hhmmss]", help="creationTime from")
    ] = None,
    created_to: Annotated[
        str | None, typer.Option("--to", metavar="YYYYMMDD[hhmmss]", help="creationTime before")
    ] = None,
    url: Url = None,
    dev: Dev = False,
    assertion: AssertionFile = None,
    actor: Actor = None,
    profession: ActorProfession = None,
    structure: ActorStructure = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Find a patient's documents (ITI-18 FindDocuments); one line per document:
    uniqueId, creationTime, typeCode, status, MIME type, title, then the masking codes if any."""
    settings = settings_of(data_dir, profile, check_dir=dev)  # the data dir serves --dev only
    pid = patient_id(patient, settings)
    statuses = _STATUSES.get(status.strip().lower())
    if statuses is None:
        fail(f"--status must be one of {', '.join(_STATUSES)}, not {status!r}")
    for value in (created_from, created_to):
        if value is not None and not (value.isdigit() and 4 <= len(value) <= 14):
            fail(f"{value!r} is not a date YYYYMMDD[hhmmss]")

    def coded(values: list[str] | None, system: str) -> tuple[str, ...]:
        return tuple(v if "^^" in v else f"{v}^^{system}" for v in values or ())

    security = _security(
        settings,
        dev=dev,
        assertion=assertion,
        patient=pid,
        actor=actor,
        profession=profession,
        structure=structure,
    )
    base_url = _url(url)
    try:
        outcome, entries = XdsClient(base_url, security).find_documents(
            pid,
            statuses=statuses,
            class_codes=coded(class_code, CLASS_SYSTEM),
            type_codes=coded(type_code, LOINC),
            created_from=created_from,
            created_to=created_to,
        )
    except (httpx.HTTPError, responses.ResponseError, responses.SoapFault) as error:
        _report_transport(error, base_url)
    if not outcome.success:
        _refused(outcome)
    for entry in sorted(entries, key=lambda e: e.creation_time or ""):
        typer.echo(_describe(entry))
    typer.echo(f"{len(entries)} document(s)", err=True)


def get(
    unique_id: Annotated[str, typer.Argument(help="The document's uniqueId (as find prints it)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Write the document to this file")],
    patient: Annotated[
        str | None, typer.Option("--patient", help="With --dev: the patient the assertion names (dmp)")
    ] = None,
    repository: Annotated[
        str | None, typer.Option("--repository", help="repositoryUniqueId [$XDS_REPOSITORY_UNIQUE_ID]")
    ] = None,
    url: Url = None,
    dev: Dev = False,
    assertion: AssertionFile = None,
    actor: Actor = None,
    profession: ActorProfession = None,
    structure: ActorStructure = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Retrieve a document (ITI-43) into a file."""
    settings = settings_of(data_dir, profile, check_dir=dev)  # the data dir serves --dev only
    pid = patient_id(patient, settings) if patient else None
    security = _security(
        settings,
        dev=dev,
        assertion=assertion,
        patient=pid,
        actor=actor,
        profession=profession,
        structure=structure,
    )
    base_url = _url(url)
    try:
        outcome, documents = XdsClient(base_url, security).retrieve(
            repository or settings.repository_unique_id, [unique_id]
        )
    except (httpx.HTTPError, responses.ResponseError, responses.SoapFault) as error:
        _report_transport(error, base_url)
    if not outcome.success or not documents:
        _refused(outcome)
    document = documents[0]
    try:
        output.write_bytes(document.content)
    except OSError as error:
        fail(f"{output}: {error.strerror or error}", 1)
    typer.echo(f"{output}: {len(document.content)} bytes, {document.mime_type or 'unknown type'}")


def register_client_commands(app: typer.Typer) -> None:
    app.command("send")(send)
    app.command("find")(find)
    app.command("get")(get)


__all__ = ["find", "get", "register_client_commands", "send"]
