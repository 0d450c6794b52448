"""The real server, as a user starts it: ``xds-server`` subprocesses from a temporary working directory.

``xds-server patients add`` feeds a patient, ``xds-server serve --profile ihe`` listens on a free port, and an
ITI-42 Register built like NIST 12346/single_doc (ebRIM 3.0) goes over real HTTP. On PostgreSQL
(``XDS_DATABASE_URL`` set) the server gets a fresh schema through ``XDS_DATABASE_SCHEMA``, dropped after.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
import pytest
from lxml import etree

from tests.identity_helpers import install_authority, sign
from tests.pg_helpers import scratch_schema
from tests.server_helpers import free_port
from xds_server.identity.dev_authority import DevAuthority

pytestmark = pytest.mark.slow

SINGLE_DOC = Path(__file__).parents[1] / "soap" / "data" / "nist_12346_single_doc.xml"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
NS = {"env": SOAP12, "wsa": WSA, "rs": RS, "rim": RIM, "query": QUERY}
REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
START_TIMEOUT = 60.0


def xds_server_command() -> list[str]:
    """The installed console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("xds-server")
    if script.exists():
        return [str(script)]
    found = shutil.which("xds-server")
    if found is None:
        pytest.fail("the xds-server console script is not installed (pip install -e .)")
    return [found]


@dataclass
class Server:
    url: str
    cwd: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    #: the dev authority in the server's data dir (no identity, no transaction): post() signs with it
    authority: DevAuthority

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*xds_server_command(), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def server_env() -> Iterator[dict[str, str]]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("XDS_")}
    with scratch_schema("xds_e2e") as schema:
        yield env if schema is None else {**env, **schema.env}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, server_env: dict[str, str]) -> Iterator[Server]:
    """One server for the module (each test uses its own patient ids)."""
    tmp_path = tmp_path_factory.mktemp("e2e")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    authority = install_authority(cwd / "xds-data")
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [*xds_server_command(), "serve", "--profile", "ihe", "--port", str(port), "--dev"],
        cwd=cwd,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, process, tmp_path / "server.log")
        yield Server(url, cwd, server_env, process, authority)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_health(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server did not answer /health within {START_TIMEOUT} s:\n{log.read_text()}")


def new_oid() -> str:
    return f"1.3.6.1.4.1.21367.2005.3.99.{secrets.randbelow(10**9)}.{secrets.randbelow(10**6)}"


def register_envelope(patient_id: str, message_id: str) -> bytes:
    body = SINGLE_DOC.read_text(encoding="utf-8").split("?>", 1)[1]
    body = body.replace("$patientid$", escape(patient_id)).replace("$docuid$", new_oid())
    body = body.replace("$ssuid$", new_oid())
    return soap_envelope(REGISTER, message_id, body)


def soap_envelope(action: str, message_id: str, body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}">'
        f'<env:Header><wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>{message_id}</wsa:MessageID></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def post(server: Server, data: bytes) -> etree._Element:
    response = httpx.post(
        f"{server.url}/xds/registry",
        content=sign(data, server.authority),
        headers={"Content-Type": "application/soap+xml; charset=UTF-8"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content)


def post_register(server: Server, patient_id: str) -> tuple[etree._Element, str]:
    message_id = f"urn:uuid:{uuid.uuid4()}"
    return post(server, register_envelope(patient_id, message_id)), message_id


def find_documents(server: Server, patient_id: str) -> etree._Element:
    """ITI-18 FindDocuments (LeafClass, Approved) for the patient."""
    body = (
        f'<query:AdhocQueryRequest xmlns:query="{QUERY}" xmlns:rim="{RIM}">'
        '<query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>'
        f'<rim:AdhocQuery id="{FIND_DOCUMENTS}">'
        f"<rim:Slot name=\"$XDSDocumentEntryPatientId\"><rim:ValueList><rim:Value>'{escape(patient_id)}'"
        "</rim:Value></rim:ValueList></rim:Slot>"
        '<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList>'
        "<rim:Value>('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')</rim:Value>"
        "</rim:ValueList></rim:Slot></rim:AdhocQuery></query:AdhocQueryRequest>"
    )
    return post(server, soap_envelope(STORED_QUERY, f"urn:uuid:{uuid.uuid4()}", body))


class TestServe:
    def test_health(self, server: Server) -> None:
        health = httpx.get(f"{server.url}/health").json()
        expected = "postgresql" if "XDS_DATABASE_URL" in server.env else "sqlite"
        assert health["status"] == "ok"
        assert health["profile"] == "ihe"
        assert health["database"] == expected

    def test_embedded_default_lives_in_the_data_dir(self, server: Server) -> None:
        if "XDS_DATABASE_URL" in server.env:
            pytest.skip("PostgreSQL run: no embedded database")
        assert (server.cwd / "xds-data" / "registry.sqlite3").exists()


class TestRegisterOverHttp:
    def test_nist_12346_single_doc_after_patients_add(self, server: Server) -> None:
        patient_id = f"e2e{secrets.token_hex(4)}^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
        added = server.cli("patients", "add", patient_id, "--state", "activated", "--profile", "ihe")
        assert added.returncode == 0, added.stderr
        listed = server.cli("patients", "list")
        assert f"{patient_id} activated" in listed.stdout

        root, message_id = post_register(server, patient_id)
        assert root.xpath("string(env:Header/wsa:Action)", namespaces=NS) == f"{REGISTER}Response"
        assert root.xpath("string(env:Header/wsa:RelatesTo)", namespaces=NS) == message_id
        status = root.xpath("string(env:Body/rs:RegistryResponse/@status)", namespaces=NS)
        assert status == SUCCESS, etree.tostring(root)

        found = find_documents(server, patient_id)
        assert found.xpath("string(env:Body/query:AdhocQueryResponse/@status)", namespaces=NS) == SUCCESS
        documents = found.xpath(
            "env:Body/query:AdhocQueryResponse/rim:RegistryObjectList/rim:ExtrinsicObject", namespaces=NS
        )
        assert len(documents) == 1
        assert documents[0].xpath("string(rim:Name/rim:LocalizedString/@value)", namespaces=NS) == "DocA"

    def test_concurrent_registrations_all_commit(self, server: Server) -> None:
        # Several writers at once (SQLite: one writer at a time, the others wait on the lock, none fails).
        patient_id = f"conc{secrets.token_hex(4)}^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
        assert server.cli("patients", "add", patient_id, "--profile", "ihe").returncode == 0
        with ThreadPoolExecutor(max_workers=6) as pool:
            roots = list(pool.map(lambda _: post_register(server, patient_id)[0], range(12)))
        statuses = [r.xpath("string(env:Body/rs:RegistryResponse/@status)", namespaces=NS) for r in roots]
        assert statuses == [SUCCESS] * 12
        found = find_documents(server, patient_id)
        documents = found.xpath(
            "env:Body/query:AdhocQueryResponse/rim:RegistryObjectList/rim:ExtrinsicObject", namespaces=NS
        )
        assert len(documents) == 12

    def test_unknown_patient_is_a_registry_failure(self, server: Server) -> None:
        root, _ = post_register(server, f"nobody{secrets.token_hex(4)}^^^&1.3.6.1.4.1.21367.13.20.1000&ISO")
        assert root.xpath("string(env:Body/rs:RegistryResponse/@status)", namespaces=NS) == FAILURE
        codes = root.xpath(
            "env:Body/rs:RegistryResponse/rs:RegistryErrorList/rs:RegistryError/@errorCode", namespaces=NS
        )
        assert "XDSUnknownPatientId" in codes

    def test_soap11_gets_version_mismatch(self, server: Server) -> None:
        soap11 = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>'
        response = httpx.post(
            f"{server.url}/xds/registry", content=soap11, headers={"Content-Type": "text/xml"}
        )
        assert response.status_code == 500
        assert b"VersionMismatch" in response.content
