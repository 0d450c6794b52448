"""The crash test (issue 14): concurrent ITI-41 against a real server process, SIGKILL in the middle, restart.
Every acknowledged submission is there with its bytes, no half submission is visible (each registered
DocumentEntry has its whole blob), no staging file survives the start-up sweep, and the only blobs without
metadata are those of requests in flight at the kill (collected by ``gc``). On SQLite, and on PostgreSQL
when XDS_DATABASE_URL is set. Bounded: four clients, a few seconds of load, one kill.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.pg_helpers import drop_schema, postgres_env_url
from tests.repository.messages import NIST_PATIENT, Doc, pnr_message
from tests.server_helpers import free_port
from xds_server.storage.blobs import FileBlobStore
from xds_server.storage.database import Database, sqlite_url_for
from xds_server.storage.tables import document_entry

pytestmark = pytest.mark.slow

CLIENTS = 4
LOAD_SECONDS = 3.0


def _start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "xds_server.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(log.read_text()[-2000:])


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    env |= {"XDS_DATA_DIR": str(tmp_path / "data"), "XDS_PROFILE": "ihe", "XDS_ANONYMOUS_ACTOR": "crash-test",
            "XDS_STAGING_SWEEP_AGE": "0", "XDS_LOG_LEVEL": "WARNING"}  # fmt: skip
    if request.param == "sqlite":
        yield env
        return
    url = postgres_env_url()
    if url is None:
        pytest.skip("PostgreSQL not available: set XDS_DATABASE_URL")
    schema = f"xds_crash_{secrets.token_hex(4)}"
    yield env | {"XDS_DATABASE_URL": url, "XDS_DATABASE_SCHEMA": schema}
    drop_schema(url, schema)


def _database(env: dict[str, str]) -> Database:
    url = env.get("XDS_DATABASE_URL") or sqlite_url_for(Path(env["XDS_DATA_DIR"]))
    return Database(url, schema=env.get("XDS_DATABASE_SCHEMA"))


def test_acknowledged_submissions_survive_a_kill(backend: dict[str, str], tmp_path: Path) -> None:
    env, port, log = backend, free_port(), tmp_path / "serve.log"
    Path(env["XDS_DATA_DIR"]).mkdir(exist_ok=True)  # patients add needs an existing data dir
    subprocess.run(
        [sys.executable, "-m", "xds_server.cli", "patients", "add", NIST_PATIENT, "--state", "activated"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    server = _start(env, port, log)
    acknowledged: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while not stop.is_set():
                doc = Doc(os.urandom(secrets.randbelow(60_000) + 1_000), "application/octet-stream")
                body, content_type = pnr_message([doc])
                try:
                    answer = http.post(
                        "/xds/repository", content=body, headers={"Content-Type": content_type}
                    )
                except httpx.TransportError:
                    return  # the server is gone
                if b"ResponseStatusType:Success" in answer.content:
                    with lock:
                        acknowledged[doc.unique_id] = doc.content

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(LOAD_SECONDS)
    os.killpg(server.pid, signal.SIGKILL)  # mid-flight: requests are being read, stored, committed
    server.wait(timeout=30)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert acknowledged, "no submission was acknowledged before the kill: the load did not run"

    restarted = _start(env, port, log)  # migrations, statistics, the staging sweep
    try:
        blobs = FileBlobStore(Path(env["XDS_DATA_DIR"]) / "blobs")
        assert list(blobs.staging_dir.iterdir()) == [], "staging files survived the start-up sweep"
        database = _database(env)
        try:
            with database.transaction(readonly=True) as connection:
                d = document_entry.c  # the blob key is the SHA-256, the hash the SHA-1 (XDS)
                rows = connection.execute(select(d.unique_id, d.content_sha256, d.size)).all()
        finally:
            database.dispose()
        stored = {unique_id: (hash_, size) for unique_id, hash_, size in rows}
        # every acknowledged submission is there, with its bytes
        for unique_id, content in acknowledged.items():
            assert unique_id in stored, f"acknowledged document {unique_id} is missing after the restart"
            handle = blobs.open(stored[unique_id][0])
            try:
                assert handle.read() == content
            finally:
                handle.close()
        # no half submission: every registered entry has its whole blob
        for unique_id, (hash_, size) in stored.items():
            info = blobs.info(hash_)
            assert info is not None and info.size == size, f"{unique_id} is registered without its document"
        # blobs without metadata: only the requests in flight at the kill, and gc collects them
        referenced = {hash_ for hash_, _size in stored.values()}
        orphans = [b.key for b in blobs.list() if b.key not in referenced]
        assert len(orphans) <= CLIENTS, orphans
    finally:
        os.killpg(restarted.pid, signal.SIGTERM)
        restarted.wait(timeout=30)
    collected = subprocess.run(
        [sys.executable, "-m", "xds_server.cli", "gc", "--grace-hours", "0"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert collected.returncode == 0, collected.stderr
    assert {b.key for b in blobs.list()} == referenced, "gc left a blob without metadata"
