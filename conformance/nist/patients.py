"""Patient ids for a run, registered with the server instead of the testkit's ITI-8 feeds (15817-15822).

Each run uses fresh ids (`<run><n>^^^&<authority>&ISO`), so a run never sees data from an earlier one.
They are registered through the server's own CLI command (`xds-server patients add PID --profile ihe
[--data-dir DIR]`), which writes to the same database the running server reads: in process when the
server package is importable (one import instead of one interpreter start per patient), else as a
subprocess. Ids are reserved in one batch up front and on demand afterwards.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

#: IHE Connectathon test assigning authority; override with XDS_CONFORMANCE_PATIENT_AUTHORITY.
DEFAULT_AUTHORITY = "1.3.6.1.4.1.21367.13.20.1000"
CLI_TIMEOUT = 90.0


class RegistrationError(RuntimeError):
    """Patients could not be registered."""


class Registrar(Protocol):
    def register(self, pids: Sequence[str]) -> None: ...


def _add_args(pids: Sequence[str], data_dir: Path | None, profile: str) -> list[str]:
    args = ["patients", "add", *pids, "--profile", profile]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    return args


class CliRegistrar:
    """`xds-server patients add` as a subprocess, with the run's data dir (or the inherited XDS_* env)."""

    def __init__(
        self,
        command: Sequence[str],
        data_dir: Path | None,
        env: dict[str, str] | None = None,
        profile: str = "ihe",
    ):
        self.command = list(command)
        self.data_dir = data_dir
        self.env = env
        self.profile = profile
        self.calls = 0

    def _run(self, pids: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls += 1
        return subprocess.run(
            [*self.command, *_add_args(pids, self.data_dir, self.profile)],
            capture_output=True, text=True, timeout=CLI_TIMEOUT, env=self.env, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def register(self, pids: Sequence[str]) -> None:
        if not pids:
            return
        try:
            done = self._run(pids)
            if done.returncode == 0:
                return
            if len(pids) > 1:  # a CLI that takes one id at a time
                for pid in pids:
                    one = self._run([pid])
                    if one.returncode != 0:
                        raise RegistrationError(f"patients add {pid}: {one.stderr.strip()[-400:]}")
                return
            raise RegistrationError(f"patients add: {done.stderr.strip()[-400:]}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RegistrationError(f"patients add: {exc}") from exc


class InProcessRegistrar:
    """The same CLI command run in this process (typer's CliRunner): one import for the whole run."""

    def __init__(self, data_dir: Path | None, env: dict[str, str] | None = None, profile: str = "ihe"):
        from typer.testing import CliRunner

        from xds_server.cli import app  # the runner may use the server package; never the reverse

        self.app = app
        self.runner = CliRunner()
        self.data_dir = data_dir
        self.env = env
        self.profile = profile

    def register(self, pids: Sequence[str]) -> None:
        for pid in pids:
            done = self.runner.invoke(self.app, _add_args([pid], self.data_dir, self.profile), env=self.env)
            if done.exit_code != 0:
                detail = (done.output or repr(done.exception)).strip()[-400:]
                raise RegistrationError(f"patients add {pid}: {detail}")


def make_registrar(command: Sequence[str], data_dir: Path | None, env: dict[str, str] | None) -> Registrar:
    try:
        return InProcessRegistrar(data_dir, env)
    except ImportError:
        return CliRegistrar(command, data_dir, env)


class PatientPool:
    def __init__(self, registrar: Registrar, authority: str | None = None, run_id: str | None = None):
        self.registrar = registrar
        self.authority = authority or os.environ.get("XDS_CONFORMANCE_PATIENT_AUTHORITY", DEFAULT_AUTHORITY)
        self.run_id = run_id or secrets.token_hex(3).upper()
        self.count = 0
        self.ready: list[str] = []
        self.registered: list[str] = []

    def _next_id(self) -> str:
        self.count += 1
        return f"NIST{self.run_id}{self.count:03d}^^^&{self.authority}&ISO"

    def reserve(self, n: int) -> None:
        batch = [self._next_id() for _ in range(n)]
        self.registrar.register(batch)
        self.ready += batch
        self.registered += batch

    def new(self) -> str:
        """A fresh id the server knows."""
        if not self.ready:
            self.reserve(1)
        return self.ready.pop(0)

    def unknown(self) -> str:
        """A well-formed id the server was never told about (AltPatientId)."""
        return self._next_id()
