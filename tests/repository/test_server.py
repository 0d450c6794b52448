"""The repository in a real server (uvicorn): a client that goes away mid-upload leaves nothing behind, and
the server keeps serving (SQLite, or PostgreSQL in its own schema when XDS_DATABASE_URL is set)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lxml import etree
from sqlalchemy import text

from tests.identity_helpers import install_authority, sign
from tests.server_helpers import free_port
from xds_server.identity.dev_authority import DevAuthority
from xds_server.storage.database import Database

from .conftest import REPOSITORY_ID, RS
from .messages import NIST_PATIENT, PDF, RETRIEVE, Doc, envelope, pnr_message, retrieve_request

pytestmark = pytest.mark.slow


@dataclass
class Server:
    url: str
    port: int
    data_dir: Path
    env: dict[str, str]
    #: the dev authority in the server's data dir (no identity, no transaction): post() signs with it
    authority: DevAuthority

    def post(self, body: bytes, content_type: str) -> tuple[str, list[str]]:
        response = httpx.post(
            f"{self.url}/xds/repository",
            content=sign(body, self.authority),
            headers={"Content-Type": content_type},
            timeout=30,
        )
        root = response.content
        if response.headers["content-type"].startswith("multipart/related"):
            start = root.index(b"<?xml") if b"<?xml" in root else root.index(b"<")
            root = root[start : root.index(b"Envelope>", start) + len(b"Envelope>")]
        found = next(etree.fromstring(root).iter(f"{{{RS}}}RegistryResponse"))
        codes = [e.get("errorCode", "") for e in found.iter(f"{{{RS}}}RegistryError")]
        return found.get("status", "").rsplit(":", 1)[-1], codes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("repo-server")
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDS_")}
    env.update(XDS_DATA_DIR=str(tmp / "data"), XDS_PROFILE="ihe", XDS_REPOSITORY_UNIQUE_ID=REPOSITORY_ID)
    postgres = os.environ.get("XDS_DATABASE_URL")
    schema = f"xds_repo_{secrets.token_hex(6)}"
    if postgres:
        env.update(XDS_DATABASE_URL=postgres, XDS_DATABASE_SCHEMA=schema)
    cli = [sys.executable, "-m", "xds_server.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    subprocess.run(
        [*cli, "patients", "add", NIST_PATIENT, "--state", "activated"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    authority = install_authority(tmp / "data")
    port = free_port()
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--dev"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail((tmp / "server.log").read_text())
            time.sleep(0.2)
        yield Server(url, port, tmp / "data", env, authority)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if postgres:
            admin = Database(postgres)
            with admin.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


def staging(server: Server) -> list[str]:
    folder = server.data_dir / "blobs" / ".staging"
    return sorted(os.listdir(folder)) if folder.exists() else []


class TestClientGoesAway:
    def test_cut_connection_leaves_no_spool_file_and_no_metadata(self, server: Server) -> None:
        doc = Doc(PDF.read_bytes() * 40, "application/pdf")  # ~1.5 MB, several network chunks
        body, content_type = pnr_message([doc])
        signed = sign(body, server.authority)  # credentials are checked before the parts are read
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            head = (
                f"POST /xds/repository HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(signed)}\r\n\r\n"
            ).encode()
            sock.sendall(head + signed[: len(signed) // 2])
            deadline = time.monotonic() + 10
            while not staging(server) and time.monotonic() < deadline:
                time.sleep(0.05)  # the server is spooling the document part
            assert staging(server), "the part was never spooled"
        deadline = time.monotonic() + 10
        while staging(server) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert staging(server) == []

        # nothing was registered, and the server still serves: the same document goes in whole
        retrieve = envelope(RETRIEVE, retrieve_request(REPOSITORY_ID, doc.unique_id))
        assert server.post(retrieve, "application/soap+xml") == ("Failure", ["XDSDocumentUniqueIdError"])
        assert server.post(body, content_type) == ("Success", [])
        assert server.post(retrieve, "application/soap+xml") == ("Success", [])
