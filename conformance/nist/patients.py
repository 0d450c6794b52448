"""Patient ids for a run, registered with the server instead of the testkit's ITI-8 feeds (15817-15822).

Each run uses fresh ids (`<run><n>^^^&<authority>&ISO`), so a run never sees data from an earlier one.
They are registered through the server's own CLI (`xds-server patients add PID... [--data-dir DIR]`),
which writes to the same database the running server reads; ids are reserved in one batch up front
(one CLI start instead of one per patient) and on demand afterwards.
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


class CliRegistrar:
    """`xds-server patients add` with the run's data dir (or the inherited XDS_* environment)."""

    def __init__(self, command: Sequence[str], data_dir: Path | None, env: dict[str, str] | None = None):
        self.command = list(command)
        self.data_dir = data_dir
        self.env = env
        self.calls = 0

    def _run(self, pids: Sequence[str]) -> subprocess.CompletedProcess[str]:
        args = [*self.command, "patients", "add", *pids]
        if self.data_dir is not None:
            args += ["--data-dir", str(self.data_dir)]
        self.calls += 1
        return subprocess.run(
            args, capture_output=True, text=True, timeout=CLI_TIMEOUT, env=self.env, stdin=subprocess.DEVNULL
        )

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
