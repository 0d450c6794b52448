"""``xds-server mssante ...``: the administrator's side of the patient mailbox.

``directory add ADDRESS --idnps ... --kind personal|organisational [--pharmacy --finess ...]`` adds (or
changes) a mailbox of the MSSanté directory, the only senders the patient mailbox accepts; ``--password-env
VAR`` sets its SMTP AUTH password from that environment variable (never on the command line, where ``ps``
shows it). ``directory list`` / ``directory remove``. ``history load FILE`` loads the pharmacies of the
patients' reimbursement history (CSV: patient,pharmacy address[,last dispensing date YYYY-MM-DD]), ``history
add PATIENT ADDRESS`` one line of it. ``dev-certificate ADDRESS`` has the test authority issue a client
certificate naming the mailbox (TEST ONLY). Same conventions as the other commands: one ``error:`` line, exit
2 for bad input, 1 when the command could not be done.
"""

from __future__ import annotations

import csv
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from xds_server.access_cli import DataDir, Profile, fail, open_database, patient_id, settings_of
from xds_server.core.mailbox import DirectoryEntry, MailboxKind, split_address
from xds_server.identity import dev_authority
from xds_server.mailbox.credentials import hash_password, issue_certificate
from xds_server.storage.mailbox import SqlMailbox

mssante_app = typer.Typer(
    help="The patient mailbox: MSSanté directory, reimbursement history.", no_args_is_help=True
)
directory_app = typer.Typer(help="The MSSanté mailboxes allowed to write to patients.", no_args_is_help=True)
history_app = typer.Typer(help="Pharmacies of the patients' reimbursement history.", no_args_is_help=True)
mssante_app.add_typer(directory_app, name="directory")
mssante_app.add_typer(history_app, name="history")

__all__ = ["mssante_app"]


def _address(value: str) -> str:
    try:
        local, domain = split_address(value)
    except ValueError:
        fail(f"{value!r} is not an e-mail address")
    if any(c.isspace() for c in value.strip()) or "@" in local:
        fail(f"{value!r} is not an e-mail address")
    return f"{local}@{domain}".lower()


@directory_app.command("add")
def directory_add(
    address: Annotated[str, typer.Argument(help="The MSSanté mailbox address")],
    idnps: Annotated[str, typer.Option("--idnps", help="IDNPS of the professional or structure")],
    kind: Annotated[MailboxKind, typer.Option("--kind", help="personal or organisational")],
    name: Annotated[str, typer.Option("--name", help="Name shown to the patient")] = "",
    pharmacy: Annotated[bool, typer.Option("--pharmacy", help="A pharmacy (officine)")] = False,
    finess: Annotated[str | None, typer.Option("--finess", help="FINESS of the pharmacy")] = None,
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", metavar="VAR", help="Set the SMTP AUTH password from this variable"),
    ] = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Add or change a mailbox of the MSSanté directory."""
    settings = settings_of(data_dir, profile)
    mailbox = _address(address)
    if not idnps.strip() or len(idnps.strip()) > 64:
        fail("--idnps is required (at most 64 characters)")
    if pharmacy and not (finess and finess.strip().isdigit() and len(finess.strip()) == 9):
        fail("a pharmacy needs --finess (9 digits)")
    password = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            fail(f"the environment variable {password_env} is empty or not set")
    entry = DirectoryEntry(
        mailbox,
        idnps.strip(),
        kind,
        name=name.strip() or mailbox,
        pharmacy=pharmacy,
        finess=finess.strip() if finess else None,
    )
    with open_database(settings) as database, database.transaction() as connection:
        SqlMailbox(connection).directory_add(
            entry, hash_password(password) if password else None, datetime.now(UTC)
        )
    what = "pharmacy " if pharmacy else ""
    typer.echo(f"{mailbox} {kind.value} {what}{entry.idnps}" + (" (password set)" if password else ""))


@directory_app.command("list")
def directory_list(data_dir: DataDir = None) -> None:
    """Print the directory, one mailbox a line."""
    settings = settings_of(data_dir)
    with open_database(settings) as database, database.transaction(readonly=True) as connection:
        for e in SqlMailbox(connection).directory():
            extra = f" pharmacy FINESS {e.finess}" if e.pharmacy else ""
            typer.echo(f"{e.address} {e.kind.value} {e.idnps} {e.name!r}{extra}")


@directory_app.command("remove")
def directory_remove(address: Annotated[str, typer.Argument()], data_dir: DataDir = None) -> None:
    """Remove a mailbox: it can no longer write to patients."""
    settings = settings_of(data_dir)
    with open_database(settings) as database, database.transaction() as connection:
        removed = SqlMailbox(connection).directory_remove(_address(address))
    if not removed:
        fail(f"{address} is not in the directory", 1)
    typer.echo(f"{_address(address)} removed")


def _day(value: str | None, where: str) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(f"{where}: {value!r} is not a date YYYY-MM-DD")


@history_app.command("add")
def history_add(
    patient: Annotated[str, typer.Argument(help="The patient: INS (bare or CX)")],
    pharmacy: Annotated[str, typer.Argument(help="The pharmacy's mailbox address")],
    last_seen: Annotated[str | None, typer.Option("--last-seen", help="Last dispensing (YYYY-MM-DD)")] = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Add one pharmacy to a patient's reimbursement history."""
    settings = settings_of(data_dir, profile)
    canonical = patient_id(patient, settings)
    with open_database(settings) as database, database.transaction() as connection:
        SqlMailbox(connection).history_add(
            canonical, _address(pharmacy), _day(last_seen, "--last-seen"), datetime.now(UTC)
        )
    typer.echo(f"{canonical} {_address(pharmacy)}")


@history_app.command("load")
def history_load(
    source: Annotated[Path, typer.Argument(help="CSV: patient,pharmacy address[,last dispensing date]")],
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Load the reimbursement-history pharmacies of many patients (one transaction: all lines or none)."""
    settings = settings_of(data_dir, profile)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        fail(f"{source}: {error.strerror or error}")
    rows: list[tuple[str, str, date | None]] = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or row[0].strip().startswith("#") or row[0].strip().lower() == "patient":
            continue
        if len(row) < 2:
            fail(f"{source}:{number}: expected patient,pharmacy[,date]")
        rows.append(
            (
                patient_id(row[0].strip(), settings),
                _address(row[1]),
                _day(row[2] if len(row) > 2 else None, f"{source}:{number}"),
            )
        )
    now = datetime.now(UTC)
    with open_database(settings) as database, database.transaction() as connection:
        store = SqlMailbox(connection)
        for patient, pharmacy, seen in rows:
            store.history_add(patient, pharmacy, seen, now)
    typer.echo(f"{len(rows)} history line(s) loaded")


@mssante_app.command("dev-certificate")
def dev_certificate(
    address: Annotated[str, typer.Argument(help="The mailbox the certificate names")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for cert.pem and key.pem")],
    data_dir: DataDir = None,
) -> None:
    """A client certificate of the test authority naming the mailbox (TEST ONLY)."""
    settings = settings_of(data_dir)
    try:
        authority = dev_authority.load(settings.data_dir)
    except FileNotFoundError:
        fail("no test authority in the data dir: run `xds-server dev authority init` (TEST ONLY)", 1)
    mailbox = _address(address)
    cert, key = issue_certificate(authority, mailbox, email=mailbox)
    output.mkdir(parents=True, exist_ok=True)
    (output / "key.pem").write_bytes(key)
    (output / "key.pem").chmod(0o600)
    (output / "cert.pem").write_bytes(cert)
    typer.echo(f"{output / 'cert.pem'} {output / 'key.pem'}")
