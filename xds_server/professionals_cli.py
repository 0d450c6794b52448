"""``xds-server professionals``: the professional directory patients find professionals in (issue 11).

Wiring (cli.py)::

    from xds_server.professionals_cli import professionals_app
    app.add_typer(professionals_app, name="professionals")

``load FILE`` replaces the directory with an Annuaire Santé extract (the RPPS
``PS_LibreAcces_Personne_activite`` file, pipe-separated, UTF-8 or, for older extracts, Windows-1252;
format in tests/data/annuaire/README.md) in one transaction: a file that fails leaves the previous
directory in place. ``search --name N (--commune C | --postal-code P)`` prints the matches as the
administrator (support) sees them, one per line. Same error conventions as access_cli: one ``error:``
line, exit 2 for bad input, 1 when the command could not be done.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from xds_server.access_cli import DataDir, fail, open_database, settings_of
from xds_server.core.professionals import (
    ExtractError,
    ProfessionalSearch,
    SearchError,
    group_runs,
    parse_extract,
)
from xds_server.storage.professionals import SqlProfessionalDirectory
from xds_server.wiring.professionals import MAX_MATCHES, describe

professionals_app = typer.Typer(
    help="The professional directory (Annuaire Santé extract) patients search to block a professional.",
    no_args_is_help=True,
)

__all__ = ["load_extract", "professionals_app", "search_of"]

NameOpt = Annotated[str, typer.Option("--name", help="The professional's name (family and/or given)")]
CommuneOpt = Annotated[str | None, typer.Option("--commune", help="The commune where he works")]
PostalCodeOpt = Annotated[str | None, typer.Option("--postal-code", help="The postal code where he works")]


def _lines(path: Path, encoding: str) -> Iterator[str]:
    with path.open("r", encoding=encoding, newline="") as text:
        yield from text


def load_extract(directory: SqlProfessionalDirectory, path: Path) -> tuple[int, int]:
    """Replace the directory with the extract at ``path``, streamed (a national extract has two million
    lines); exit 2 for an unreadable or foreign file (the caller's transaction then rolls back)."""
    if not path.is_file():
        fail(f"{path}: no such file")
    for encoding in ("utf-8-sig", "cp1252"):  # current extracts are UTF-8, older ones Windows-1252
        try:
            # replace() starts with a DELETE: a second attempt in the same transaction starts afresh
            return directory.replace(group_runs(parse_extract(_lines(path, encoding))))
        except UnicodeDecodeError:
            continue
        except ExtractError as error:
            fail(f"{path}: {error}")
        except OSError as error:
            fail(f"{path}: {error.strerror or error}", 1)
    fail(f"{path}: neither UTF-8 nor Windows-1252 text")


def search_of(name: str, commune: str | None, postal_code: str | None) -> ProfessionalSearch:
    """The search the options describe (exit 2 when incomplete or malformed)."""
    try:
        return ProfessionalSearch.of(name, commune, postal_code)
    except SearchError as error:
        fail(f"{error} (--name, and --commune or --postal-code)")


@professionals_app.command("load")
def professionals_load(
    file: Annotated[Path, typer.Argument(help="PS_LibreAcces_Personne_activite_*.txt (Annuaire Santé)")],
    data_dir: DataDir = None,
) -> None:
    """Replace the directory with an Annuaire Santé extract (all or nothing)."""
    settings = settings_of(data_dir)
    with open_database(settings) as database, database.transaction() as connection:
        people, sites = load_extract(SqlProfessionalDirectory(connection), file)
    typer.echo(f"{people} professionals ({sites} sites) loaded from {file.name}")


@professionals_app.command("search")
def professionals_search(
    name: NameOpt,
    commune: CommuneOpt = None,
    postal_code: PostalCodeOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Print the professionals a patient's search finds: IDNPS, name, profession, communes."""
    search = search_of(name, commune, postal_code)
    settings = settings_of(data_dir)
    with open_database(settings) as database, database.transaction(readonly=True) as connection:
        found, more = SqlProfessionalDirectory(connection).search(search, limit=MAX_MATCHES)
    if not found:
        fail("no professional of the directory matches this name and place", 1)
    for professional in found:
        typer.echo(describe(professional))
    if more:
        typer.echo(f"(more than {MAX_MATCHES} match: give more of the name, or the postal code)", err=True)
