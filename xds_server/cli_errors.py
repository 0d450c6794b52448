"""How every ``xds-server`` command fails: one ``error:`` line on stderr and an exit status, never a traceback
(``xds-server --debug ...`` or ``XDS_DEBUG=1`` shows it).

* ``ErrorReportingGroup``: the click group of the ``xds-server`` command. Usage errors (unknown option, a
  value out of range, a bad choice) become ``error: <what> (see xds-server <command> --help)``, exit 2;
  an exception no command caught becomes ``error: <type>: <message>``, exit 1. Log records of the
  package are not printed by the commands (the server configures its own logging), so a database error
  logged with its traceback by ``storage`` does not reach the terminal either.
* ``check_data_dir``: a missing ``--data-dir`` is an error (a typo must not show an empty patient list)
  except for the commands that create it (``serve``, ``db upgrade``, ``demo``); a file is never one.
* ``database_problem``: the one line that says why the configured database could not be used.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import typer
from sqlalchemy import exc
from typer._click import exceptions as click  # typer vendors click: its exception classes, not click's
from typer.core import TyperGroup

from xds_server.core.errors import XdsError

DEBUG_FLAG = "--debug"


class DataDirError(Exception):
    """The data directory cannot be used (exit 2: the command line names a wrong path)."""


def check_data_dir(path: Path, *, create: bool) -> Path:
    """``path`` as a usable data directory; created when ``create`` (serve, db upgrade, demo)."""
    if path.exists() and not path.is_dir():
        raise DataDirError(f"data dir {path} is a file, not a directory")
    if path.is_dir():
        return path
    if not create:
        raise DataDirError(
            f"data dir {path} does not exist (a typo?): `xds-server db upgrade --data-dir {path}`, "
            "`serve` or `demo` create one"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataDirError(f"cannot create data dir {path}: {error.strerror or error}") from None
    return path


def database_problem(error: BaseException, url: str | None = None) -> str:
    """One line for a database that could not be used (unreachable, refused credentials, broken URL)."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, exc.SQLAlchemyError):
        cause = cause.__cause__
    where = f" {url}" if url else ""
    if isinstance(cause, exc.OperationalError | exc.InterfaceError):
        detail = str(cause.orig if cause.orig is not None else cause).strip().splitlines()
        reason = detail[0] if detail else type(cause).__name__
        return f"database{where} not usable: {reason}"
    if isinstance(error, XdsError):
        return "; ".join(issue.message for issue in error.issues) + (f" ({url})" if url else "")
    return f"database{where}: {error}"


_debug = False


def fail(message: str, code: int = 2) -> NoReturn:
    """One ``error:`` line on stderr, then exit (2: bad input; 1: the command could not be done). Under
    ``--debug``, the traceback of the exception being handled comes first."""
    if _debug and sys.exc_info()[1] is not None:
        traceback.print_exc(file=sys.stderr)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _debugging(args: Sequence[str]) -> bool:
    flag = os.environ.get("XDS_DEBUG", "").strip().lower() in ("1", "true", "on", "yes")
    return flag or DEBUG_FLAG in args


def _quiet_package_logs() -> None:
    # A NullHandler on the package logger: its records stop there unless a handler is configured (serve
    # configures the root logger and still sees them through propagation); no traceback on the terminal.
    logger = logging.getLogger("xds_server")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


class ErrorReportingGroup(TyperGroup):
    """The ``xds-server`` group: every failure is one ``error:`` line (see the module docstring)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        global _debug
        debug = _debug = _debugging(argv)
        if debug:
            logging.basicConfig(level=logging.DEBUG)
        else:
            _quiet_package_logs()
        try:
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except click.NoArgsIsHelpError as error:
            typer.echo(error.format_message(), err=True)  # the help text itself
            result = 2
        except click.UsageError as error:
            path = error.ctx.command_path if error.ctx is not None else "xds-server"
            typer.echo(f"error: {error.format_message()} (see {path} --help)", err=True)
            result = error.exit_code
        except click.ClickException as error:
            typer.echo(f"error: {error.format_message()}", err=True)
            result = error.exit_code
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            result = 1
        except DataDirError as error:
            typer.echo(f"error: {error}", err=True)
            result = 2
        except Exception as error:
            if debug:
                raise
            first = (str(error).strip().splitlines() or [""])[0]
            typer.echo(
                f"error: {type(error).__name__}: {first} (xds-server --debug ... shows the traceback)",
                err=True,
            )
            result = 1
        code = result if isinstance(result, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


__all__ = [
    "DEBUG_FLAG",
    "DataDirError",
    "ErrorReportingGroup",
    "check_data_dir",
    "database_problem",
    "fail",
]
