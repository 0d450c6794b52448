"""`--start`: a throw-away server for one run.

`xds-server serve --profile ihe --port <free> --data-dir <tmp> --mllp-port <free>` as a subprocess with
XDS_MULTI_PATIENT_QUERY=on (ITI-51 is off by default), its output to `<tmp>/server.log`; ready once the
port answers HTTP; stopped (SIGTERM, then SIGKILL) when the run ends. Other XDS_* settings are inherited:
with a PostgreSQL XDS_DATABASE_URL and no XDS_DATABASE_SCHEMA the server gets a fresh schema, dropped
afterwards, so every run starts from an empty registry (the multi-patient tests count across patients).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

START_TIMEOUT = 60.0


def xds_server_command() -> list[str]:
    """The console script next to this interpreter (a venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "xds-server"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("xds-server")
    if found:
        return [found]
    return [sys.executable, "-m", "xds_server.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerStartError(RuntimeError):
    pass


class LocalServer:
    def __init__(self, profile: str = "ihe", keep: bool = False):
        self.profile = profile
        self.keep = keep
        self.tmp = Path(tempfile.mkdtemp(prefix="xds-conformance-"))
        self.data_dir = self.tmp / "data"
        self.data_dir.mkdir()
        self.log_path = self.tmp / "server.log"
        self.port = free_port()
        self.mllp_port = free_port()  # the ITI-8 listener (`serve --mllp-port`)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "XDS_MULTI_PATIENT_QUERY": "on"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.schema: str | None = None
        url = self.env.get("XDS_DATABASE_URL", "")
        if url.startswith("postgres") and not self.env.get("XDS_DATABASE_SCHEMA"):
            self.schema = f"xds_conformance_{secrets.token_hex(6)}"
            self.env["XDS_DATABASE_SCHEMA"] = self.schema

    def start(self) -> None:
        cmd = [*xds_server_command(), "serve", "--profile", self.profile, "--port", str(self.port),
               "--data-dir", str(self.data_dir), "--mllp-port", str(self.mllp_port)]  # fmt: skip
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(f"server exited with {self.proc.returncode}; log: {self.tail()}")
            try:
                httpx.get(self.base_url + "/", timeout=2.0)
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise ServerStartError(f"server not answering after {START_TIMEOUT:.0f}s; log: {self.tail()}")

    def tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self) -> None:
        if self.schema is not None:
            self._drop_schema(self.schema)
            self.schema = None
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _drop_schema(self, schema: str) -> None:
        from sqlalchemy import text

        from xds_server.storage.database import Database  # the runner may use the server package

        admin = Database(self.env["XDS_DATABASE_URL"])
        try:
            with admin.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            admin.dispose()

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
