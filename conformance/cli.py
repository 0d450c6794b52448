"""Typer sub-app mounted by the server CLI as `xds-server conformance` (imported lazily)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Conformance suites run against an XDS.b server.", no_args_is_help=True)
run_app = typer.Typer(help="Run a conformance suite.", no_args_is_help=True)
app.add_typer(run_app, name="run")


@run_app.command("nist")
def nist(
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="Server to test, e.g. http://127.0.0.1:8000.")
    ] = None,
    start: Annotated[
        bool, typer.Option("--start", help="Start a throw-away server (ihe profile, temporary data dir).")
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Test id (or id/section) to run, with what it needs.")
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the results as JSON.")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="With --base-url: the server's data dir, to register test patients."),
    ] = None,
    mllp: Annotated[
        str | None,
        typer.Option("--mllp", help="With --base-url: the server's ITI-8 MLLP listener, HOST:PORT."),
    ] = None,
) -> None:
    """Run the NIST XDS testkit (and our local cases) and print one line per step."""
    from conformance.nist.cli import run

    raise typer.Exit(run(base_url, start, list(only or []), report, data_dir=data_dir, mllp=mllp))


__all__ = ["app"]
