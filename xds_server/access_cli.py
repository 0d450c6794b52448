"""Commands of the access rules (issue 7): the patient record settings, the local test authority and
``policy explain``. Administrators and support staff run them against the database the server uses.

Wiring (cli.py)::

    from xds_server.access_cli import dev_app, policy_app, register_patient_commands
    app.add_typer(dev_app, name="dev")
    app.add_typer(policy_app, name="policy")
    register_patient_commands(patients_app)

Every command reads the ``XDS_*`` settings (``--data-dir`` and ``--profile`` override them); patient ids
are canonicalised under the active profile (``core.identifiers.canonical_patient_id``), so a bare INS and
its CX form name the same record. Bad input ends the command with one ``error:`` line and exit status 2,
a refusal by the database (unknown patient, database down) with exit status 1; never a traceback.
"""

from __future__ import annotations

import getpass
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from lxml import etree
from pydantic import ValidationError
from sqlalchemy import Connection

from xds_server.audit import render_json
from xds_server.cli_errors import DataDirError, check_data_dir, database_problem, fail
from xds_server.config import DEFAULT_AUDIENCE, Settings, load_settings, profile_names
from xds_server.core.audit import (
    PATIENT_API,
    AuditEntity,
    AuditOutcome,
    AuditRecord,
    ClientInfo,
    EntityRole,
    Trail,
)
from xds_server.core.errors import XdsError
from xds_server.core.identifiers import IdentifierError, canonical_patient_id
from xds_server.core.metadata import DocumentEntry
from xds_server.core.policy import (
    AccessContext,
    AccessMode,
    ActorKind,
    DocumentFacts,
    RecordSettings,
    WriteOperation,
    explain,
    facts_from_entry,
)
from xds_server.core.ports import PatientState
from xds_server.core.professionals import ProfessionalSearch, SearchError
from xds_server.core.vocabulary import Status
from xds_server.ebxml.codec import decode_object_xml, encode_object_xml
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity
from xds_server.identity.policy_data import load_policy
from xds_server.storage.audit import SqlAuditStore
from xds_server.storage.database import Database, configured_database
from xds_server.storage.migrate import upgrade
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.professionals import SqlProfessionalDirectory
from xds_server.storage.records import SqlRecordStore
from xds_server.storage.registry import SqlRegistryStore
from xds_server.terminology import load_profile
from xds_server.wiring import policy_mode  # the server's choice of rule book, shared
from xds_server.wiring.professionals import (
    AmbiguousProfessional,
    ProfessionalNotFound,
    find_one,
)

dev_app = typer.Typer(
    help="The local test authority (TEST ONLY): keys, assertions, tokens.", no_args_is_help=True
)
authority_app = typer.Typer(help="Create the local test authority.", no_args_is_help=True)
dev_app.add_typer(authority_app, name="authority")
policy_app = typer.Typer(help="The DMP access rules, for support staff.", no_args_is_help=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data directory (default: $XDS_DATA_DIR or ./xds-data)", show_default=False
    ),
]


def _known_profile(value: str | None) -> str | None:
    if value is not None and value not in profile_names():
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(profile_names())}")
    return value


Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="<" + "|".join(profile_names()) + ">",
        callback=_known_profile,
        help="Affinity domain profile (default: $XDS_PROFILE or dmp)",
        show_default=False,
    ),
]
PatientArg = Annotated[str, typer.Argument(help="The patient: INS (bare or CX) or CX id^^^&OID&ISO")]
Professional = Annotated[str, typer.Option("--professional", help="The professional's national id (IDNPS)")]

_NATIONAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ALLOW = {"allow": True, "refuse": False}
_MODES = {
    "normal": AccessMode.NORMAL,
    "break-glass": AccessMode.BREAK_GLASS,
    "regulation": AccessMode.REGULATION,
}
_TTL = re.compile(r"(\d+(?:\.\d+)?)\s*([smh]?)")
_TTL_UNITS = {"s": 1, "m": 60, "": 60, "h": 3600}


# -- shared plumbing ----------------------------------------------------------------------------------


def settings_of(
    data_dir: Path | None = None,
    profile: str | None = None,
    *,
    create: bool = False,
    check_dir: bool = True,
    overrides: dict[str, object] | None = None,
) -> Settings:
    """The settings with the flags on top (exit 2 when refused); the data dir must exist unless
    ``create`` (``serve``, ``db upgrade``, ``demo``), and be a directory (``check_dir=False``: a command
    that does not use it)."""
    try:
        settings = load_settings(data_dir=data_dir, profile=profile, **(overrides or {}))
    except ValidationError as error:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()]
        fail("; ".join(problems))
    except ValueError as error:  # pydantic-settings: a value it could not parse (JSON ...)
        fail(str(error))
    try:
        if check_dir:
            check_data_dir(settings.data_dir, create=create)
    except DataDirError as error:
        fail(str(error))
    return settings


def patient_id(value: str, settings: Settings) -> str:
    """The canonical spelling of a patient id under the active profile (exit 2 when refused)."""
    try:
        return canonical_patient_id(value, load_profile(settings.profile))
    except IdentifierError as error:
        fail(str(error))


def parse_birth_date(value: str | None) -> date | None:
    """``--birth-date YYYY-MM-DD`` (exit 2 when malformed or in the future)."""
    if value is None:
        return None
    try:
        born = date.fromisoformat(value.strip())
    except ValueError:
        fail(f"--birth-date {value!r} is not a date YYYY-MM-DD")
    if born > _today():
        fail(f"--birth-date {value} is in the future")
    return born


def national_id(value: str, option: str) -> str:
    value = value.strip()
    if not _NATIONAL_ID.fullmatch(value):
        fail(f"{option} {value!r} is not a national id (letters, digits, '.', '_', '-')")
    return value


@contextmanager
def open_database(settings: Settings) -> Iterator[Database]:
    """The server's database, migrated to head; database failures end the command with one line."""
    try:
        database = configured_database(settings.database_url, settings.data_dir, settings.database_schema)
    except ValueError as error:  # unusable URL or schema name
        fail(str(error), 1)
    try:
        upgrade(database)
        yield database
    except XdsError as error:
        fail(database_problem(error, database.url), 1)
    finally:
        database.dispose()


def _today() -> date:
    return datetime.now(UTC).date()


# -- patients: record settings ------------------------------------------------------------------------


def describe(record: RecordSettings) -> list[str]:
    """The record settings as ``name: value`` lines."""

    def listed(values: frozenset[str]) -> str:
        return ", ".join(sorted(values)) or "-"

    born = record.birth_date.isoformat() if record.birth_date else "-"
    return [
        f"patient: {record.patient_id}",
        f"state: {record.state.value}",
        f"birth date: {born}" + (" (minor)" if record.minor else ""),
        f"regulation (SAMU / centre 15): {'allowed' if record.samu_allowed else 'refused'}",
        f"break-glass: {'allowed' if record.break_glass_allowed else 'refused'}",
        f"médecin traitant: {record.medecin_traitant or '-'}",
        f"administrators: {listed(record.administrators)}",
        f"authorised: {listed(record.authorised)}",
        f"blocked: {listed(record.blocked)}",
        f"legal representatives: {listed(record.legal_representatives)}",
    ]


def trace_change(
    connection: Connection, settings: Settings, patient: str, setting: str, description: str
) -> None:
    """Trace an administrator's change to a record in its own transaction (issue 11: each change traced):
    a PATIENT-API AuditEvent whose user is the ``system`` actor ``cli:<login>`` (the operator running the
    command) and whose entities are the patient and the setting (``Consent/<id>``, as the FHIR face names
    it)."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no user name (a container without passwd entry)
        login = f"uid-{os.getuid()}"
    actor = AccessContext(ActorKind.SYSTEM, f"cli:{login}", issuer="xds-server command line")
    trail = Trail(PATIENT_API)
    trail.patient(patient)
    trail.entity(AuditEntity(EntityRole.SETTING, f"Consent/{setting}", description=description))
    record = AuditRecord(
        event_id=f"urn:uuid:{uuid.uuid4()}",
        transaction=PATIENT_API,
        recorded=datetime.now(UTC),
        outcome=AuditOutcome.SUCCESS,
        outcome_description=None,
        actor=actor,
        client=ClientInfo(lps_name="xds-server CLI"),
        observer=settings.audit_observer,
        patient_id=patient,
        entities=trail.entities(),
    )
    SqlAuditStore(connection, render_json).append(record)


def _load(store: SqlRecordStore, patient: str) -> RecordSettings:
    record = store.load(patient, _today())
    if record is None:
        fail(f"unknown patient {patient}", 1)
    return record


@contextmanager
def _professional_edit(
    patient: str, professional: str, data_dir: Path | None, profile: str | None
) -> Iterator[tuple[SqlRecordStore, str, str]]:
    """The record store in one committed transaction, with the canonical patient and professional ids."""
    settings = settings_of(data_dir, profile)
    pid, who = patient_id(patient, settings), national_id(professional, "--professional")
    with open_database(settings) as database, database.transaction() as connection:
        yield SqlRecordStore(connection), pid, who


def patients_authorize(
    patient: PatientArg, professional: Professional, data_dir: DataDir = None, profile: Profile = None
) -> None:
    """Declare the patient's consent for a professional (the record's authorised list)."""
    with _professional_edit(patient, professional, data_dir, profile) as (store, pid, who):
        store.authorize(pid, who)
    typer.echo(f"{pid}: consent declared for {who}")


OptionalProfessional = Annotated[
    str | None, typer.Option("--professional", help="The professional's national id (IDNPS)")
]
FoundName = Annotated[
    str | None,
    typer.Option("--name", help="Or find him in the directory: his name, with --commune or --postal-code"),
]
FoundCommune = Annotated[str | None, typer.Option("--commune", help="The commune where he works")]
FoundPostalCode = Annotated[str | None, typer.Option("--postal-code", help="The postal code where he works")]


def designated_professional(
    connection: Connection,
    professional: str | None,
    name: str | None,
    commune: str | None,
    postal_code: str | None,
) -> str:
    """The IDNPS ``--professional`` gives, or that of the one professional of the directory ``--name`` with
    ``--commune`` / ``--postal-code`` finds (exit 2 when the options conflict or the search is ambiguous,
    listing the candidates; exit 1 when nobody matches)."""
    if (professional is None) == (name is None):
        fail("name the professional: --professional IDNPS, or --name with --commune or --postal-code")
    if professional is not None:
        if commune is not None or postal_code is not None:
            fail("--commune and --postal-code go with --name, not with --professional")
        return national_id(professional, "--professional")
    try:
        search = ProfessionalSearch.of(name or "", commune, postal_code)
    except SearchError as error:
        fail(str(error))
    try:
        return find_one(SqlProfessionalDirectory(connection), search).national_id
    except AmbiguousProfessional as error:
        fail(f"{error}; name one with --professional IDNPS")
    except ProfessionalNotFound as error:
        fail(str(error), 1)


def _block(
    patient: str,
    professional: str | None,
    name: str | None,
    commune: str | None,
    postal_code: str | None,
    data_dir: Path | None,
    profile: str | None,
    *,
    block: bool,
) -> None:
    settings = settings_of(data_dir, profile)
    pid = patient_id(patient, settings)
    with open_database(settings) as database, database.transaction() as connection:
        who = designated_professional(connection, professional, name, commune, postal_code)
        store = SqlRecordStore(connection)
        if block:
            store.block(pid, who)
            message = f"{pid}: {who} blocked"
        elif store.unblock(pid, who):
            message = f"{pid}: {who} unblocked"
        else:
            message = f"{pid}: {who} was not blocked"
        trace_change(connection, settings, pid, f"blocked-{who}", "added" if block else "removed")
    typer.echo(message)


def patients_block(
    patient: PatientArg,
    professional: OptionalProfessional = None,
    name: FoundName = None,
    commune: FoundCommune = None,
    postal_code: FoundPostalCode = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Block a professional (by IDNPS, or found by name and place): no read, no write, in any mode."""
    _block(patient, professional, name, commune, postal_code, data_dir, profile, block=True)


def patients_unblock(
    patient: PatientArg,
    professional: OptionalProfessional = None,
    name: FoundName = None,
    commune: FoundCommune = None,
    postal_code: FoundPostalCode = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Take a professional (by IDNPS, or found by name and place) off the block list."""
    _block(patient, professional, name, commune, postal_code, data_dir, profile, block=False)


def patients_oppose(
    patient: PatientArg,
    withdraw: Annotated[
        bool, typer.Option("--withdraw", help="Withdraw the opposition: the record is activated again")
    ] = False,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Record the patient's opposition to his record (no professional access or deposit, in any mode; the
    documents are kept), or withdraw it."""
    settings = settings_of(data_dir, profile)
    pid = patient_id(patient, settings)
    with open_database(settings) as database, database.transaction() as connection:
        directory = SqlPatientDirectory(connection)
        state = directory.get(pid)
        if state is None:
            fail(f"unknown patient {pid}", 1)
        if not withdraw:
            directory.set_state(pid, PatientState.OPPOSED)
            message = f"{pid}: opposed (no professional access or deposit until withdrawn)"
        elif state is PatientState.OPPOSED:
            directory.set_state(pid, PatientState.ACTIVATED)
            message = f"{pid}: opposition withdrawn, activated"
        else:
            message = f"{pid}: not opposed ({state.value})"
        trace_change(connection, settings, pid, "opposition", "withdrawn" if withdraw else "opposed")
    typer.echo(message)


def patients_settings(
    patient: PatientArg,
    samu: Annotated[
        str | None, typer.Option("--samu", help="allow|refuse emergency regulation (SAMU / centre 15)")
    ] = None,
    break_glass: Annotated[
        str | None, typer.Option("--break-glass", help="allow|refuse break-glass access")
    ] = None,
    administrator: Annotated[
        str | None, typer.Option("--administrator", help="Add an administrator doctor (IDNPS)")
    ] = None,
    remove_administrator: Annotated[
        str | None, typer.Option("--remove-administrator", help="Withdraw an administrator doctor")
    ] = None,
    medecin_traitant: Annotated[
        str | None,
        typer.Option("--medecin-traitant", help="The médecin traitant (IDNPS); 'none' removes him"),
    ] = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Change the record settings; without an option, print them."""
    settings = settings_of(data_dir, profile)
    pid = patient_id(patient, settings)
    samu_value = _choice(samu, "--samu")
    break_glass_value = _choice(break_glass, "--break-glass")
    admin = national_id(administrator, "--administrator") if administrator is not None else None
    revoked = national_id(remove_administrator, "--remove-administrator") if remove_administrator else None
    traitant = None
    if medecin_traitant is not None:
        none = medecin_traitant.strip().lower() == "none"
        traitant = "" if none else national_id(medecin_traitant, "--medecin-traitant")
    with open_database(settings) as database, database.transaction() as connection:
        store = SqlRecordStore(connection)
        store.set_settings(
            pid,
            samu=samu_value,
            break_glass=break_glass_value,
            administrator=admin,
            medecin_traitant=traitant,
        )
        if revoked is not None:
            store.revoke_administrator(pid, revoked)
        record = _load(store, pid)
    typer.echo("\n".join(describe(record)))


def _choice(value: str | None, option: str) -> bool | None:
    if value is None:
        return None
    allowed = _ALLOW.get(value.strip().lower())
    if allowed is None:
        fail(f"{option} must be allow or refuse, not {value!r}")
    return allowed


def patients_representative(
    patient: PatientArg,
    add: Annotated[str, typer.Option("--add", help="The representative's INS (bare or CX)")],
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Register a legal representative of a patient (a minor's parent, a protected adult's guardian)."""
    settings = settings_of(data_dir, profile)
    pid, representative = patient_id(patient, settings), patient_id(add, settings)
    if representative == pid:
        fail("a patient cannot be his own legal representative")
    with open_database(settings) as database, database.transaction() as connection:
        SqlRecordStore(connection).add_representative(pid, representative)
    typer.echo(f"{pid}: legal representative {representative}")


def register_patient_commands(patients: typer.Typer) -> None:
    """Add authorize, block, unblock, oppose, settings and representative to the ``patients`` group."""
    patients.command("authorize")(patients_authorize)
    patients.command("block")(patients_block)
    patients.command("unblock")(patients_unblock)
    patients.command("oppose")(patients_oppose)
    patients.command("settings")(patients_settings)
    patients.command("representative")(patients_representative)


# -- dev: the local test authority ----------------------------------------------------------------------


@authority_app.command("init")
def authority_init(
    force: Annotated[bool, typer.Option("--force", help="Replace an existing authority")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create the test authority (key + self-signed certificate) under the data dir, or keep the existing."""
    settings = settings_of(data_dir)
    existed = dev_authority.exists(settings.data_dir)
    try:
        authority = dev_authority.init(settings.data_dir, force=force)
    except OSError as error:
        fail(f"cannot create the dev authority in {settings.data_dir}: {error.strerror or error}", 1)
    verb = "kept" if existed and not force else "created"
    typer.echo(f"dev authority {verb}: {authority.folder / dev_authority.CERT_FILE}")
    typer.echo(
        "note: TEST ONLY; a server trusts it only when started after this with --dev (or "
        "XDS_DEV_AUTHORITY=on), never with the dmp profile",
        err=True,
    )


Id = Annotated[str | None, typer.Option("--id", help="National id (IDNPS) [899700000001]")]
Name = Annotated[str | None, typer.Option("--name", help="Display name (subject-id)")]
ProfessionOpt = Annotated[
    str | None, typer.Option("--profession", help="TRE_G15 profession [10, unless --role is given]")
]
SavoirFaire = Annotated[
    str | None, typer.Option("--savoir-faire", help="Savoir-faire [SM26 for profession 10]")
]
Role = Annotated[str | None, typer.Option("--role", help="TRE_R85 role (316, 317 ...)")]
Genre = Annotated[str | None, typer.Option("--genre", help="TRE_R22 genre d'activité (GENR01 ...)")]
Structure = Annotated[str | None, typer.Option("--structure", help="Identifiant_Structure")]
Sector = Annotated[str | None, typer.Option("--sector", help="Secteur_Activite (TRE_R02) [SA07]")]
PatientOpt = Annotated[str | None, typer.Option("--patient", help="The patient the request is about (INS)")]
Mode = Annotated[str, typer.Option("--mode", help="normal | break-glass | regulation")]
Reason = Annotated[str | None, typer.Option("--reason", help="Emergency reason (Mode_Acces_Raison)")]
Lps = Annotated[str | None, typer.Option("--lps", help="LPS_Nom (the client software)")]
LpsVersion = Annotated[str | None, typer.Option("--lps-version", help="LPS_Version")]
Secret = Annotated[bool, typer.Option("--secret-connection", help="A minor's secret connection")]
Ttl = Annotated[str, typer.Option("--ttl", help="Validity: 45s, 30m, 2h (a bare number is minutes)")]


def parse_ttl(value: str) -> timedelta:
    match = _TTL.fullmatch(value.strip().lower())
    seconds = float(match[1]) * _TTL_UNITS[match[2]] if match else 0.0
    if seconds <= 0:
        fail(f"--ttl {value!r} is not a positive duration (45s, 30m, 2h)")
    return timedelta(seconds=seconds)


def parse_mode(value: str) -> AccessMode:
    mode = _MODES.get(value.strip().lower().replace("_", "-"))
    if mode is None:
        fail(f"--mode must be one of {', '.join(_MODES)}, not {value!r}")
    return mode


def build_identity(
    settings: Settings,
    *,
    id: str | None,
    name: str | None,
    profession: str | None,
    savoir_faire: str | None,
    role: str | None,
    genre: str | None,
    structure: str | None,
    sector: str | None,
    patient: str | None,
    mode: str,
    reason: str | None,
    lps: str | None,
    lps_version: str | None,
    secret_connection: bool,
) -> Identity:
    """The identity of ``dev assertion`` / ``dev token`` / ``policy explain``: options given, valid defaults
    for the rest (a médecin généraliste of the test structure; a role without a profession stays so)."""
    default = Identity()
    if profession is None and role is None:
        profession, savoir_faire = default.profession, savoir_faire or default.savoir_faire
    changes: dict[str, object] = {
        "profession": profession,
        "savoir_faire": savoir_faire,
        "role": role,
        "genre_activite": genre,
        "mode": parse_mode(mode),
        "reason": reason,
        "secret_connection": secret_connection,
        "patient": patient_id(patient, settings) if patient else None,
    }
    optional = {
        "national_id": national_id(id, "--id") if id is not None else None,
        "name": name,
        "structure": national_id(structure, "--structure") if structure is not None else None,
        "sector": sector,
        "lps_name": lps,
        "lps_version": lps_version,
    }
    changes |= {key: value for key, value in optional.items() if value is not None}
    return replace(default, **changes)  # type: ignore[arg-type]


def _authority(settings: Settings) -> dev_authority.DevAuthority:
    if not dev_authority.exists(settings.data_dir):
        fail(
            f"no dev authority in {settings.data_dir}: run `xds-server dev authority init` "
            "(or start the server with --dev)",
            1,
        )
    return dev_authority.load(settings.data_dir)


@dev_app.command("assertion")
def dev_assertion(
    id: Id = None,
    name: Name = None,
    profession: ProfessionOpt = None,
    savoir_faire: SavoirFaire = None,
    role: Role = None,
    genre: Genre = None,
    structure: Structure = None,
    sector: Sector = None,
    patient: PatientOpt = None,
    mode: Mode = "normal",
    reason: Reason = None,
    lps: Lps = None,
    lps_version: LpsVersion = None,
    secret_connection: Secret = False,
    ttl: Ttl = "30m",
    one_time_use: Annotated[bool, typer.Option("--one-time-use", help="Mark it OneTimeUse")] = False,
    audience: Annotated[
        str | None, typer.Option("--audience", help="AudienceRestriction [$XDS_SAML_AUDIENCE]")
    ] = None,
    header: Annotated[bool, typer.Option("--header", help="Print it inside a wsse:Security header")] = False,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Print a signed VIHF SAML assertion (TEST ONLY)."""
    settings = settings_of(data_dir, profile)
    identity = build_identity(
        settings,
        id=id,
        name=name,
        profession=profession,
        savoir_faire=savoir_faire,
        role=role,
        genre=genre,
        structure=structure,
        sector=sector,
        patient=patient,
        mode=mode,
        reason=reason,
        lps=lps,
        lps_version=lps_version,
        secret_connection=secret_connection,
    )
    lifetime = parse_ttl(ttl)
    authority = _authority(settings)
    signed = dev_authority.mint_assertion(
        authority,
        identity,
        ttl=lifetime,
        one_time_use=one_time_use,
        audience=audience or settings.saml_audience or DEFAULT_AUDIENCE,
    )
    output = etree.tostring(dev_authority.security_header(signed)) if header else signed
    typer.echo(output.decode("utf-8"))


@dev_app.command("token")
def dev_token(
    id: Id = None,
    name: Name = None,
    profession: ProfessionOpt = None,
    savoir_faire: SavoirFaire = None,
    role: Role = None,
    genre: Genre = None,
    structure: Structure = None,
    sector: Sector = None,
    patient: PatientOpt = None,
    mode: Mode = "normal",
    reason: Reason = None,
    lps: Lps = None,
    lps_version: LpsVersion = None,
    secret_connection: Secret = False,
    ttl: Ttl = "30m",
    patient_self: Annotated[
        str | None, typer.Option("--patient-self", help="A patient token for this INS")
    ] = None,
    representative_of: Annotated[
        list[str] | None,
        typer.Option(
            "--representative-of",
            help="A legal representative's token for this INS (repeatable); --id is the representative's INS",
        ),
    ] = None,
    audience: Annotated[str | None, typer.Option("--audience", help="aud [$XDS_JWT_AUDIENCE]")] = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Print a signed JWT (TEST ONLY): a professional's, a patient's (--patient-self) or a legal
    representative's (--representative-of)."""
    settings = settings_of(data_dir, profile)
    if patient_self and representative_of:
        fail("--patient-self and --representative-of exclude each other")
    represented = [patient_id(p, settings) for p in representative_of or ()]
    if represented:
        if id is None:
            fail(
                "--representative-of needs --id, the representative's INS (as registered with "
                "patients representative --add)"
            )
        id = patient_id(id, settings)  # registered in canonical form by `patients representative --add`
    identity = build_identity(
        settings,
        id=None,
        name=name,
        profession=profession,
        savoir_faire=savoir_faire,
        role=role,
        genre=genre,
        structure=structure,
        sector=sector,
        patient=patient,
        mode=mode,
        reason=reason,
        lps=lps,
        lps_version=lps_version,
        secret_connection=secret_connection,
    )
    if id is not None:
        identity = replace(identity, national_id=id if represented else national_id(id, "--id"))
    lifetime = parse_ttl(ttl)
    authority = _authority(settings)
    claims = dev_authority.token_claims(
        identity,
        patient_self=patient_id(patient_self, settings) if patient_self else None,
        representative_of=represented,
        ttl=lifetime,
        audience=audience or settings.jwt_audience,
    )
    typer.echo(dev_authority.mint_token(authority, claims))


# -- policy explain -----------------------------------------------------------------------------------


def stored_document(registry: SqlRegistryStore, unique_id: str) -> tuple[DocumentEntry, DocumentFacts]:
    """The DocumentEntry with this uniqueId (its Approved version when there are several), with the
    registry's authoritative status."""
    identities = registry.documents_by_unique_id([unique_id])
    records = registry.xml_records([i.entry_uuid for i in identities])
    if not records:
        fail(f"no DocumentEntry with uniqueId {unique_id}", 1)
    approved = [r for r in records if r.status == Status.APPROVED.value]
    chosen = (approved or records)[-1]
    entry = decode_object_xml(chosen.xml)
    if not isinstance(entry, DocumentEntry):  # pragma: no cover - documents_by_unique_id reads document_entry
        fail(f"{unique_id} is not a DocumentEntry", 1)
    return entry, replace(facts_from_entry(entry), status=chosen.status)


@policy_app.command("explain")
def policy_explain(
    patient: Annotated[str, typer.Option("--patient", help="The patient (INS, bare or CX)")],
    actor: Annotated[str, typer.Option("--actor", help="The professional's national id (IDNPS)")],
    document: Annotated[str, typer.Option("--document", help="The document's uniqueId")],
    profession: ProfessionOpt = None,
    savoir_faire: SavoirFaire = None,
    role: Role = None,
    genre: Genre = None,
    structure: Structure = None,
    mode: Mode = "normal",
    reason: Reason = None,
    secret_connection: Secret = False,
    operation: Annotated[
        str | None,
        typer.Option(
            "--operation", help="Also explain a write: " + " | ".join(o.value for o in WriteOperation)
        ),
    ] = None,
    include_deprecated: Annotated[
        bool, typer.Option("--include-deprecated", help="As a query asking for deprecated documents")
    ] = False,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Print each rule evaluated for this professional, patient and document, and the decision."""
    settings = settings_of(data_dir, profile)
    pid = patient_id(patient, settings)
    identity = build_identity(
        settings,
        id=national_id(actor, "--actor"),
        name=None,
        profession=profession,
        savoir_faire=savoir_faire,
        role=role,
        genre=genre,
        structure=structure,
        sector=None,
        patient=None,
        mode=mode,
        reason=reason,
        lps=None,
        lps_version=None,
        secret_connection=secret_connection,
    )
    # The assertion names this patient; an unstated structure is unknown (it would grant authorship rights).
    ctx = dev_authority.context_of(replace(identity, patient=pid, structure=structure or ""))
    write: WriteOperation | None = None
    if operation is not None:
        try:
            write = WriteOperation(operation.strip().lower().replace("-", "_"))
        except ValueError:
            fail(
                f"--operation must be one of {', '.join(o.value for o in WriteOperation)}, not {operation!r}"
            )
    policy = load_policy(
        policy_mode(load_profile(settings.profile)), deposit_follows_matrix=settings.deposit_follows_matrix
    )
    with open_database(settings) as database, database.transaction(readonly=True) as connection:
        entry, facts = stored_document(SqlRegistryStore(connection, encode_object_xml), document.strip())
        if entry.patient_id != pid:
            fail(f"document {document} is not in the record of {pid}", 1)
        record = SqlRecordStore(connection).load(pid, _today())
    typer.echo(f"profile {settings.profile} ({policy.mode.value} rules); document {entry.entry_uuid}")
    facts_of_actor = (ctx.profession, ctx.savoir_faire, ctx.role, ctx.genre_activite, ctx.structure_id)
    typer.echo(
        "actor {} profession {} savoir-faire {} role {} genre {} structure {}".format(
            ctx.national_id, *(value or "-" for value in facts_of_actor)
        )
    )
    lines = explain(
        policy,
        ctx,
        record,
        facts,
        include_deprecated=include_deprecated,
        operation=write,
        original=facts if write is not None and write.touches_existing else None,
    )
    typer.echo("\n".join(lines))


__all__ = [
    "DataDir",
    "Profile",
    "authority_app",
    "build_identity",
    "describe",
    "dev_app",
    "fail",
    "open_database",
    "parse_birth_date",
    "patient_id",
    "policy_app",
    "register_patient_commands",
    "settings_of",
]
