"""``xds-server serve`` as a subprocess: HTTPS with a required client certificate (a request without one is
refused, one with a certificate of the client CA works), the dev-authority warning on start and in
``/health``; and one subprocess run of the record-settings commands as an administrator types them."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from tests.server_helpers import free_port
from xds_server.config import Settings
from xds_server.transport import tls_extension, tls_options

from .conftest import DOCTOR, PATIENT, PATIENT_INS, Cli

pytestmark = pytest.mark.slow

START_TIMEOUT = 60.0
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
MESSAGE_ID = "urn:uuid:7c0a4f0e-0000-4000-8000-000000000018"
REQUEST_TIMEOUT = 10.0


def xds_server() -> list[str]:
    script = Path(sys.executable).with_name("xds-server")
    return [str(script)] if script.exists() else [sys.executable, "-m", "xds_server.cli"]


def subprocess_env(cli: Cli) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    env |= {k: v for k, v in cli.env.items() if v is not None}
    return env


# -- a small PKI: one CA for the server certificate, one for clients -----------------------------------


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(folder: Path, stem: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Issued:
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Issued(cert_path, key_path)


def make_ca(folder: Path, stem: str) -> tuple[Issued, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{stem} CA"))
        .issuer_name(_name(f"{stem} CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write(folder, stem, certificate, key), certificate, key


def issue(
    folder: Path,
    stem: str,
    ca: tuple[Issued, x509.Certificate, ec.EllipticCurvePrivateKey],
    *,
    server: bool,
) -> Issued:
    _, ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1" if server else "structure 3900000000001"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return _write(folder, stem, builder.sign(ca_key, hashes.SHA256()), key)


@dataclass(frozen=True)
class Pki:
    server_ca: Issued
    server: Issued
    client_ca: Issued
    client: Issued
    stranger: Issued  # a client certificate from a CA the server does not trust


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    server_ca, client_ca, other_ca = (make_ca(folder, n) for n in ("server-ca", "client-ca", "other-ca"))
    return Pki(
        server_ca=server_ca[0],
        server=issue(folder, "server", server_ca, server=True),
        client_ca=client_ca[0],
        client=issue(folder, "client", client_ca, server=False),
        stranger=issue(folder, "stranger", other_ca, server=False),
    )


# -- the server process ---------------------------------------------------------------------------------


@dataclass
class Running:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start(cli: Cli, *options: str, scheme: str = "http", verify: ssl.SSLContext | bool = False) -> Running:
    port = free_port()
    log = cli.data_dir.parent / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*xds_server(), "serve", "--port", str(port), *options],
            env=subprocess_env(cli),
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=cli.data_dir.parent,
        )
    running = Running(f"{scheme}://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode}):\n{running.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return running
        except OSError:
            time.sleep(0.1)
    stop(running)
    pytest.fail(f"the server did not listen within {START_TIMEOUT}s:\n{running.output()}")


def stop(running: Running) -> None:
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGINT)
        try:
            running.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait(timeout=5)


@pytest.fixture
def serving(cli: Cli) -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for running in started:
        stop(running)


def health(url: str, **client: object) -> httpx.Response:
    """GET /health, retried while the application finishes its start-up (bounded)."""
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=REQUEST_TIMEOUT, **client) as http:  # type: ignore[arg-type]
        while True:
            response = http.get(f"{url}/health")
            if response.status_code == 200 or time.monotonic() > deadline:
                return response
            time.sleep(0.2)


def start_mutual_tls(cli: Cli, pki: Pki) -> Running:
    """``serve`` over HTTPS with the test server certificate, requiring client certificates of the test CA."""
    return start(
        cli,
        "--tls-cert",
        str(pki.server.cert),
        "--tls-key",
        str(pki.server.key),
        "--tls-client-ca",
        str(pki.client_ca.cert),
        scheme="https",
    )


def client_context(pki: Pki, identity: Issued | None = None) -> ssl.SSLContext:
    """A client TLS context trusting the test server CA, presenting ``identity``'s certificate if given."""
    context = ssl.create_default_context(cafile=str(pki.server_ca.cert))
    if identity is not None:
        context.load_cert_chain(str(identity.cert), str(identity.key))
    return context


class TestTls:
    def test_client_certificate_required(self, cli: Cli, pki: Pki, serving: list[Running]) -> None:
        running = start_mutual_tls(cli, pki)
        serving.append(running)
        trust = client_context(pki)
        with_cert = client_context(pki, pki.client)
        response = health(running.url, verify=with_cert)
        assert response.status_code == 200, response.text
        assert "https://" in running.output() and "client certificates required" in running.output()

        with pytest.raises(httpx.TransportError), httpx.Client(verify=trust, timeout=REQUEST_TIMEOUT) as http:
            http.get(f"{running.url}/health")
        stranger = client_context(pki, pki.stranger)
        with (
            pytest.raises(httpx.TransportError),
            httpx.Client(verify=stranger, timeout=REQUEST_TIMEOUT) as http,
        ):
            http.get(f"{running.url}/health")
        with pytest.raises(httpx.TransportError), httpx.Client(timeout=REQUEST_TIMEOUT) as http:
            http.get(running.url.replace("https://", "http://") + "/health")  # plain HTTP is not served

    def test_client_certificate_subject_on_the_soap_request_line(
        self, cli: Cli, pki: Pki, serving: list[Running]
    ) -> None:
        running = start_mutual_tls(cli, pki)
        serving.append(running)
        with_cert = client_context(pki, pki.client)
        assert health(running.url, verify=with_cert).status_code == 200
        response = post_soap(running.url, verify=with_cert)
        assert response.status_code == 400  # no WS-Security header: refused, but after the request line
        assert (
            f"SOAP {STORED_QUERY} message {MESSAGE_ID}, TLS client {subject(pki.client)}" in running.output()
        )

    def test_https_without_client_ca_from_settings(self, cli: Cli, pki: Pki, serving: list[Running]) -> None:
        cli.env |= {"XDS_TLS_CERT": str(pki.server.cert), "XDS_TLS_KEY": str(pki.server.key)}
        running = start(cli, scheme="https")
        serving.append(running)
        trust = client_context(pki)
        assert health(running.url, verify=trust).status_code == 200
        post_soap(running.url, verify=trust)
        assert f"SOAP {STORED_QUERY} message {MESSAGE_ID}, TLS client -" in running.output()

    def test_missing_files_and_half_configurations_are_refused(self, cli: Cli, pki: Pki) -> None:
        missing = str(pki.server.cert.parent / "missing.pem")
        run = cli("serve", "--tls-cert", missing, "--tls-key", str(pki.server.key))
        assert run.code == 1 and run.exception is None
        assert run.stderr.strip().splitlines() == [f"error: --tls-cert {missing}: no such file"]
        swapped = cli("serve", "--tls-cert", str(pki.server.key), "--tls-key", str(pki.server.cert))
        assert swapped.code == 1 and swapped.stderr.startswith("error: TLS files not usable")
        for options in (("--tls-key", str(pki.server.key)), ("--tls-client-ca", str(pki.client_ca.cert))):
            half = cli("serve", *options)
            assert half.code != 0 and half.exception is None and "Traceback" not in half.stderr


class TestTlsOptions:
    def test_plain_http_by_default(self) -> None:
        assert tls_options(Settings()) == {}

    def test_the_protocol_fills_the_tls_extension(self, pki: Pki) -> None:
        options = tls_options(Settings(tls_cert=pki.server.cert, tls_key=pki.server.key))
        assert issubclass(options["http"], AutoHTTPProtocol)

    def test_client_ca_requires_certificates(self, pki: Pki) -> None:
        options = tls_options(
            Settings(tls_cert=pki.server.cert, tls_key=pki.server.key, tls_client_ca=pki.client_ca.cert)
        )
        assert options["ssl_cert_reqs"] == ssl.CERT_REQUIRED
        assert options["ssl_ca_certs"] == str(pki.client_ca.cert)
        assert options["ssl_certfile"] == str(pki.server.cert)


class TestDevAuthority:
    def test_serve_dev_creates_trusts_and_warns(self, cli: Cli, serving: list[Running]) -> None:
        running = start(cli, "--dev")
        serving.append(running)
        assert health(running.url).json()["warnings"]
        assert "dev authority created" in running.output()
        assert "WARNING: the dev authority" in running.output()
        assert (cli.data_dir / "dev-authority" / "cert.pem").is_file()

    def test_an_authority_in_the_data_dir_is_not_trusted_without_dev(
        self, cli: Cli, serving: list[Running]
    ) -> None:
        cli.ok("dev", "authority", "init")
        running = start(cli)
        serving.append(running)
        assert "warnings" not in health(running.url).json()
        assert "WARNING" not in running.output()

    @pytest.mark.parametrize("how", ["flag", "environment"])
    def test_the_production_profile_refuses_to_start_with_it(self, cli: Cli, how: str) -> None:
        if how == "environment":
            cli.env["XDS_DEV_AUTHORITY"] = "on"
        options = ("--dev",) if how == "flag" else ()
        line = cli.error("serve", "--profile", "dmp", *options, code=2)
        assert "never trusted with the production profile 'dmp'" in line
        assert not (cli.data_dir / "dev-authority").exists()


class TestAudience:
    """Issue 14, item 3: the production profile never falls back to a default SAML audience."""

    def test_the_production_profile_refuses_to_start_without_an_audience(self, cli: Cli) -> None:
        line = cli.error("serve", "--profile", "dmp", code=2)
        assert "XDS_SAML_AUDIENCE" in line and "'dmp'" in line

    def test_a_blank_audience_is_no_audience(self, cli: Cli) -> None:
        cli.env["XDS_SAML_AUDIENCE"] = "  "
        assert "XDS_SAML_AUDIENCE" in cli.error("serve", "--profile", "dmp", code=2)

    def test_the_production_profile_starts_with_an_audience(self, cli: Cli, serving: list[Running]) -> None:
        cli.env["XDS_SAML_AUDIENCE"] = "https://xds.example.org"
        running = start(cli, "--profile", "dmp")
        serving.append(running)
        assert health(running.url).json()["profile"] == "dmp"


class TestSubprocess:
    def test_an_administrator_session(self, cli: Cli) -> None:
        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*xds_server(), *args],
                env=subprocess_env(cli),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )

        assert (
            run(
                "patients", "add", PATIENT_INS, "--state", "activated", "--birth-date", "2015-03-01"
            ).returncode
            == 0
        )
        assert run("patients", "authorize", PATIENT_INS, "--professional", DOCTOR).returncode == 0
        shown = run("patients", "settings", PATIENT_INS, "--break-glass", "refuse")
        assert shown.returncode == 0, shown.stderr
        assert f"patient: {PATIENT}" in shown.stdout and "break-glass: refused" in shown.stdout
        assert f"authorised: {DOCTOR}" in shown.stdout and "(minor)" in shown.stdout
        refused = run("patients", "block", PATIENT_INS[:-2] + "00", "--professional", DOCTOR)
        assert (
            refused.returncode == 2 and refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        )


class TestWorkers:
    def test_two_workers_serve_one_port_and_stop_together(self, cli: Cli, serving: list[Running]) -> None:
        running = start(cli, "--workers", "2")
        serving.append(running)
        assert health(running.url).status_code == 200
        deadline = time.monotonic() + START_TIMEOUT
        while running.output().count("Application startup complete") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert running.output().count("Application startup complete") == 2, running.output()
        children = _children(running.process.pid)
        assert len(children) >= 2, children
        stop(running)
        assert running.process.returncode is not None
        deadline = time.monotonic() + 15
        while any(_alive(child) for child in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(child) for child in children), children

    def test_workers_refuse_tls(self, cli: Cli, pki: Pki) -> None:
        done = subprocess.run(
            [
                *xds_server(), "serve", "--workers", "2", "--port", str(free_port()),
                "--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key),
            ],
            env=subprocess_env(cli),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        assert done.returncode == 2 and "--workers needs plain HTTP" in done.stderr


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    """The worker processes of a uvicorn parent (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


class TestTlsExtension:
    """``tls_extension`` on both ends of a real (in-memory) TLS 1.3 handshake with the test PKI."""

    def test_client_certificate_subject_and_chain(self, pki: Pki) -> None:
        server = handshake(pki, client_certificate=True)
        tls = tls_extension(server)
        assert tls is not None
        assert tls["client_cert_name"] == subject(pki.client) == "CN=structure 3900000000001"
        (pem,) = tls["client_cert_chain"]
        assert x509.load_pem_x509_certificate(pem.encode()) == load(pki.client)
        assert tls["tls_version"] == 0x0304 and tls["client_cert_error"] is None

    def test_no_client_certificate(self, pki: Pki) -> None:
        tls = tls_extension(handshake(pki, client_certificate=False))
        assert tls is not None and tls["client_cert_name"] is None and tls["client_cert_chain"] == []

    def test_plain_connection_has_no_extension(self) -> None:
        assert tls_extension(None) is None


def load(issued: Issued) -> x509.Certificate:
    return x509.load_pem_x509_certificate(issued.cert.read_bytes())


def subject(issued: Issued) -> str:
    return load(issued).subject.rfc4514_string()


def handshake(pki: Pki, *, client_certificate: bool) -> ssl.SSLObject:
    """The server end of a completed TLS handshake over memory BIOs (client CA optional on the server)."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(pki.server.cert), str(pki.server.key))
    server_context.load_verify_locations(str(pki.client_ca.cert))
    server_context.verify_mode = ssl.CERT_OPTIONAL
    client_context = ssl.create_default_context(cafile=str(pki.server_ca.cert))
    if client_certificate:
        client_context.load_cert_chain(str(pki.client.cert), str(pki.client.key))
    pipes = [ssl.MemoryBIO() for _ in range(4)]  # client -> server, server -> client (in, out each)
    server = server_context.wrap_bio(pipes[0], pipes[1], server_side=True)
    client = client_context.wrap_bio(pipes[1], pipes[0], server_hostname="127.0.0.1")
    done = {id(server): False, id(client): False}
    for _ in range(10):  # a TLS 1.3 handshake takes two or three flights each way
        for end in (client, server):
            if done[id(end)]:
                continue
            try:
                end.do_handshake()
                done[id(end)] = True
            except ssl.SSLWantReadError:
                pass
        if all(done.values()):
            client.write(b"x")  # TLS 1.3: the server checks the client certificate on the client's Finished
            server.read(1)
            return server
    raise AssertionError("the in-memory TLS handshake did not complete")


def post_soap(url: str, **client: object) -> httpx.Response:
    """An ITI-18 envelope without any WS-Security header (the dmp-test profile refuses it)."""
    body = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{STORED_QUERY}</wsa:Action>'
        f"<wsa:MessageID>{MESSAGE_ID}</wsa:MessageID></env:Header>"
        '<env:Body><query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"/>'
        "</env:Body></env:Envelope>"
    )
    with httpx.Client(timeout=REQUEST_TIMEOUT, **client) as http:  # type: ignore[arg-type]
        return http.post(
            f"{url}/xds/registry",
            content=body.encode(),
            headers={"Content-Type": "application/soap+xml; charset=UTF-8"},
        )
