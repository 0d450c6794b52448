"""Commands of the access trail and the patient notices (issue 11).

Wiring (cli.py)::

    from xds_server.audit_cli import audit_app, notify_app, register_audit_patient_commands
    app.add_typer(audit_app, name="audit")
    app.add_typer(notify_app, name="notify")
    register_audit_patient_commands(patients_app)

``audit export --since T`` writes the trail as NDJSON (``--push ARR`` also feeds it to an Audit Record
Repository, ITI-20 FHIR feed form); ``notify run`` delivers the outbox by SMTP (``serve`` does it too, in the
background, when ``XDS_SMTP_HOST`` is set); ``patients contact`` registers the patient's e-mail address;
``patients statement`` prints (or renders as PDF) the patient's yearly statement from the trail. Same error
conventions as access_cli: one ``error:`` line, exit 2 for bad input, 1 when the command could not be done.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from xds_server.access_cli import (
    DataDir,
    PatientArg,
    Professional,
    Profile,
    fail,
    national_id,
    open_database,
    patient_id,
    settings_of,
)
from xds_server.audit import render_json
from xds_server.audit.feed import FeedError, push, write_ndjson
from xds_server.audit.patient_view import (
    messages_sentence,
    render_pdf,
    render_text,
    trail_line,
    visible_to_patient,
)
from xds_server.core.errors import XdsError
from xds_server.core.policy.record import INVISIBLE_PATIENT
from xds_server.identity import dev_authority
from xds_server.identity.dev_authority import Identity
from xds_server.storage.audit import SqlAuditStore, contact_email, documents_hidden_from, set_contact_email
from xds_server.storage.mailbox import SqlMailbox
from xds_server.storage.outbox import SqlOutbox
from xds_server.storage.records import SqlRecordStore

audit_app = typer.Typer(help="The access trail (AuditEvents): export and feed.", no_args_is_help=True)
notify_app = typer.Typer(help="Patient notices (e-mail outbox).", no_args_is_help=True)

__all__ = ["audit_app", "notify_app", "register_audit_patient_commands"]


def _instant(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option} {value!r} is not a date or time (ISO 8601, e.g. 2026-01-31 or 2026-01-31T12:00:00Z)")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@audit_app.command("export")
def audit_export(
    since: Annotated[str, typer.Option("--since", help="First recorded time (ISO 8601, inclusive)")],
    until: Annotated[str | None, typer.Option("--until", help="End (ISO 8601, exclusive)")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="NDJSON file (default: stdout)")
    ] = None,
    push_to: Annotated[
        str | None,
        typer.Option("--push", help="Also POST each event to this ARR base URL (ITI-20 FHIR feed)"),
    ] = None,
    attempts: Annotated[int, typer.Option("--attempts", min=1, help="Tries per event when pushing")] = 5,
    data_dir: DataDir = None,
) -> None:
    """Write the AuditEvents recorded since a time as NDJSON (one FHIR R4 AuditEvent per line)."""
    start, end = _instant(since, "--since"), _instant(until, "--until")
    settings = settings_of(data_dir)
    with open_database(settings) as database, database.transaction(readonly=True) as connection:
        trail = SqlAuditStore(connection, render_json)
        if output is None:
            count = write_ndjson(trail.events(since=start, until=end), sys.stdout)
        else:
            with output.open("w", encoding="utf-8") as out:
                count = write_ndjson(trail.events(since=start, until=end), out)
        typer.echo(f"{count} AuditEvent(s) exported", err=True)
        if push_to is not None:
            try:
                report = push(trail.events(since=start, until=end), push_to, attempts=attempts)
            except FeedError as error:
                fail(f"{error} ({error.delivered} delivered before it)", 1)
            typer.echo(
                f"{report.delivered} AuditEvent(s) pushed to {push_to} ({report.retries} retries)", err=True
            )


@audit_app.command("dev-token")
def audit_dev_token(
    id: Annotated[str, typer.Option("--id", help="The auditor's id (list it in XDS_AUDITORS)")],
    data_dir: DataDir = None,
) -> None:
    """Print a signed JWT of a ``system`` actor (TEST ONLY: the local test authority signs it), for
    ``GET /fhir/AuditEvent`` as an auditor."""
    settings = settings_of(data_dir)
    who = national_id(id, "--id")
    if not dev_authority.exists(settings.data_dir):
        fail(f"no dev authority in {settings.data_dir}: run `xds-server dev authority init`", 1)
    claims = dev_authority.token_claims(Identity(national_id=who), audience=settings.jwt_audience)
    typer.echo(dev_authority.mint_token(dev_authority.load(settings.data_dir), claims | {"actor": "system"}))
    if who not in settings.auditors:
        typer.echo(f"note: {who} is not in XDS_AUDITORS: the server will refuse it the trail", err=True)


@notify_app.command("run")
def notify_run(
    once: Annotated[bool, typer.Option("--once", help="One pass over the outbox, then exit")] = False,
    data_dir: DataDir = None,
) -> None:
    """Deliver the patient notices by e-mail (XDS_SMTP_*), every XDS_NOTIFY_INTERVAL seconds."""
    from xds_server.app import build_dispatcher

    settings = settings_of(data_dir)
    with open_database(settings) as database:
        dispatcher = build_dispatcher(settings, database)
        if dispatcher is None:
            fail("no SMTP relay is configured (XDS_SMTP_HOST)")
        while True:
            report = dispatcher.run_once()
            typer.echo(str(report))
            for error in report.errors:
                typer.echo(f"  {error}", err=True)
            if once:
                return
            time.sleep(settings.notify_interval)


@notify_app.command("status")
def notify_status(data_dir: DataDir = None) -> None:
    """How many notices are in each state of the outbox."""
    with open_database(settings_of(data_dir)) as database, database.transaction(readonly=True) as connection:
        counts = SqlOutbox(connection).counts()
    for state in ("pending", "sending", "sent", "failed", "no_address", "uncertain"):
        typer.echo(f"{state}: {counts.get(state, 0)}")


def patients_contact(
    patient: PatientArg,
    email: Annotated[str | None, typer.Option("--email", help="Where the patient's notices go")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the registered address")] = False,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """Register (or remove) the e-mail address the patient's notices are sent to."""
    if (email is None) == (not remove):
        fail("give --email ADDRESS or --remove")
    if email is not None and ("@" not in email or any(c.isspace() for c in email.strip())):
        fail(f"--email {email!r} is not an e-mail address")
    settings = settings_of(data_dir, profile)
    pid = patient_id(patient, settings)
    with open_database(settings) as database:
        try:
            with database.transaction() as connection:
                set_contact_email(connection, pid, email.strip() if email else None)
        except XdsError as error:
            fail("; ".join(issue.message for issue in error.issues), 1)
    typer.echo(f"{pid}: contact e-mail {email.strip() if email else 'removed'}")


def patients_statement(
    patient: PatientArg,
    year: Annotated[int, typer.Option("--year", min=2000, max=9999, help="Calendar year (UTC)")],
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Also write the statement as a PDF")] = None,
    data_dir: DataDir = None,
    profile: Profile = None,
) -> None:
    """The patient's yearly statement: what professionals did on his record, from the trail."""
    settings = settings_of(data_dir, profile)
    pid = patient_id(patient, settings)
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    with open_database(settings) as database, database.transaction(readonly=True) as connection:
        hidden = documents_hidden_from(connection, pid, [INVISIBLE_PATIENT])
        events = SqlAuditStore(connection, render_json).events(since=start, until=end, patient_id=pid)
        lines = [trail_line(r) for r in (e.json() for e in events) if visible_to_patient(r, hidden)]
        # without an e-mail address he was told of no new message: the statement counts them (issue 16)
        received = (
            None if contact_email(connection, pid) else SqlMailbox(connection).count_inbound(pid, start, end)
        )
    for text in render_text(lines):
        typer.echo(text)
    if received:  # a year without any message says nothing of the mailbox
        typer.echo(messages_sentence(received, year))
    typer.echo(f"{len(lines)} access(es) in {year}", err=True)
    if pdf is not None:
        render_pdf(lines, pid, year, pdf, messages=received or None)
        typer.echo(f"statement written to {pdf}", err=True)


def patients_professionals(patient: PatientArg, data_dir: DataDir = None, profile: Profile = None) -> None:
    """The professionals who accessed the record (from the trail) and those the patient authorised,
    blocked or chose as administrator doctors."""
    settings = settings_of(data_dir, profile)
    pid = patient_id(patient, settings)
    with open_database(settings) as database, database.transaction(readonly=True) as connection:
        record = SqlRecordStore(connection).load(pid, datetime.now(UTC).date())
        if record is None:
            fail(f"unknown patient {pid}", 1)
        accessed = SqlAuditStore(connection, render_json).professionals_who_accessed(pid)
    typer.echo("accessed:" if accessed else "accessed: -")
    for who, last, count in accessed:
        typer.echo(f"  {who}  last {last.isoformat(timespec='seconds')}  ({count} access(es))")
    for title, people in (
        ("authorised", record.authorised),
        ("blocked", record.blocked),
        ("administrators", record.administrator_doctors),
    ):
        typer.echo(f"{title}: {', '.join(sorted(people)) or '-'}")


def patients_revoke(
    patient: PatientArg, professional: Professional, data_dir: DataDir = None, profile: Profile = None
) -> None:
    """Withdraw the consent declared for a professional (he keeps access only through another basis)."""
    settings = settings_of(data_dir, profile)
    pid, who = patient_id(patient, settings), national_id(professional, "--professional")
    with open_database(settings) as database:
        try:
            with database.transaction() as connection:
                revoked = SqlRecordStore(connection).revoke(pid, who)
        except XdsError as error:
            fail("; ".join(issue.message for issue in error.issues), 1)
    typer.echo(f"{pid}: consent for {who} {'revoked' if revoked else 'was not declared'}")


def register_audit_patient_commands(patients_app: typer.Typer) -> None:
    patients_app.command("contact")(patients_contact)
    patients_app.command("statement")(patients_statement)
    patients_app.command("professionals")(patients_professionals)
    patients_app.command("revoke")(patients_revoke)
