"""No identity, no transaction: the router authenticates every request (soap.security), in both profiles.

The DMP rules themselves are exercised end to end in tests/e2e/test_dmp_policy.py.
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.identity_helpers import install_authority, security_block, sign
from xds_server.app import DEV_AUTHORITY_WARNING, create_app
from xds_server.config import Settings
from xds_server.core.policy import ActorKind, PolicyMode
from xds_server.core.profile import DomainProfile
from xds_server.core.vocabulary import SoapAction
from xds_server.identity import dev_authority
from xds_server.soap.router import Router
from xds_server.storage.database import Database
from xds_server.terminology import load_profile
from xds_server.wiring import anonymous_actor, policy_mode

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS = {"env": SOAP12, "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"}
QUERY = (
    '<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
    'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"><query:ResponseOption returnType="ObjectRef"/>'
    '<rim:AdhocQuery id="urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4">'
    '<rim:Slot name="$XDSDocumentEntryEntryUUID">'
    "<rim:ValueList><rim:Value>('urn:uuid:00000000-0000-4000-8000-000000000000')</rim:Value></rim:ValueList>"
    "</rim:Slot></rim:AdhocQuery></query:AdhocQueryRequest>"
)


def message(action: str = SoapAction.STORED_QUERY.value) -> bytes:
    return (
        f'<env:Envelope xmlns:env="{SOAP12}" xmlns:wsa="{WSA}"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{action}</wsa:Action>'
        f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID></env:Header>"
        f"<env:Body>{QUERY}</env:Body></env:Envelope>"
    ).encode()


def post(client: TestClient, data: bytes) -> tuple[int, etree._Element]:
    response = client.post("/xds/registry", content=data, headers={"Content-Type": "application/soap+xml"})
    return response.status_code, etree.fromstring(response.content)


def subcode(root: etree._Element) -> str | None:
    return root.findtext("env:Body/env:Fault/env:Code/env:Subcode/env:Value", namespaces=NS)


def answered(root: etree._Element) -> bool:
    return root.find("env:Body/query:AdhocQueryResponse", NS) is not None


@pytest.fixture
def ihe(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(data_dir=tmp_path, profile="ihe"), database=database)) as client:
        yield client


class TestNoIdentity:
    def test_missing_header_is_invalid_security_400(self, ihe: TestClient) -> None:
        status, root = post(ihe, message())
        assert status == 400
        assert root.findtext("env:Body/env:Fault/env:Code/env:Value", namespaces=NS) == "env:Sender"
        assert subcode(root) == "wsse:InvalidSecurity"
        assert not answered(root)

    def test_untrusted_signer_is_failed_authentication(self, ihe: TestClient, tmp_path: Path) -> None:
        # an authority in ANOTHER data dir: well formed, signed, not trusted by this server
        stranger = install_authority(tmp_path / "elsewhere")
        assert not (tmp_path / "dev-authority").exists()
        status, root = post(ihe, sign(message(), stranger))
        assert (status, subcode(root)) == (400, "wsse:FailedAuthentication")

    def test_unknown_action_is_answered_before_identity(self, ihe: TestClient) -> None:
        status, root = post(ihe, message("urn:example:Nothing"))
        assert (status, subcode(root)) == (400, "wsa:ActionNotSupported")


def trusting(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, profile="ihe", dev_authority="on", **values)  # type: ignore[arg-type]


class TestDevAuthority:
    """The test authority is trusted only when asked for, and only the one present at start."""

    def test_off_by_default_even_when_present_at_start(self, database: Database, tmp_path: Path) -> None:
        authority = install_authority(tmp_path)
        assert Settings().dev_authority == "off"
        with TestClient(create_app(Settings(data_dir=tmp_path, profile="ihe"), database=database)) as client:
            status, root = post(client, sign(message(), authority))
            assert (status, subcode(root)) == (400, "wsse:FailedAuthentication")
            assert "warnings" not in client.get("/health").json()

    def test_asked_for_and_present_at_start_is_trusted_and_reported(
        self, database: Database, tmp_path: Path
    ) -> None:
        authority = install_authority(tmp_path)
        with TestClient(create_app(trusting(tmp_path), database=database)) as client:
            status, root = post(client, sign(message(), authority))
            assert status == 200 and answered(root)
            assert client.get("/health").json()["warnings"] == [DEV_AUTHORITY_WARNING]

    def test_folder_appearing_after_start_is_not_trusted(self, database: Database, tmp_path: Path) -> None:
        with TestClient(create_app(trusting(tmp_path), database=database)) as client:
            planted = install_authority(tmp_path)  # whoever can write the data dir, while it runs
            status, root = post(client, sign(message(), planted))
            assert (status, subcode(root)) == (400, "wsse:FailedAuthentication")
            assert "warnings" not in client.get("/health").json()

    def test_certificate_replaced_after_start_is_not_trusted(
        self, database: Database, tmp_path: Path
    ) -> None:
        install_authority(tmp_path)
        with TestClient(create_app(trusting(tmp_path), database=database)) as client:
            swapped = dev_authority.init(tmp_path, force=True)  # a new key pair in the same folder
            status, root = post(client, sign(message(), swapped))
            assert (status, subcode(root)) == (400, "wsse:FailedAuthentication")

    def test_deleting_the_folder_withdraws_it(self, database: Database, tmp_path: Path) -> None:
        authority = install_authority(tmp_path)
        with TestClient(create_app(trusting(tmp_path), database=database)) as client:
            shutil.rmtree(dev_authority.authority_dir(tmp_path))
            status, root = post(client, sign(message(), authority))
            assert (status, subcode(root)) == (400, "wsse:FailedAuthentication")
            assert "warnings" not in client.get("/health").json()

    def test_off_is_not_trusted(self, database: Database, tmp_path: Path) -> None:
        authority = install_authority(tmp_path)
        settings = Settings(data_dir=tmp_path, profile="ihe", dev_authority="off")
        with TestClient(create_app(settings, database=database)) as client:
            status, root = post(client, sign(message(), authority))
        assert (status, subcode(root)) == (400, "wsse:FailedAuthentication")

    def test_production_profile_refuses_to_start_with_it(self, database: Database, tmp_path: Path) -> None:
        install_authority(tmp_path)
        with pytest.raises(ValueError, match="never trusted with the production profile 'dmp'"):
            create_app(Settings(data_dir=tmp_path, profile="dmp", dev_authority="on"), database=database)
        create_app(Settings(data_dir=tmp_path, profile="dmp-test", dev_authority="on"), database=database)


class TestTrustedCertificates:
    def test_configured_certificate_is_trusted_without_the_dev_authority(
        self, database: Database, tmp_path: Path
    ) -> None:
        signer = install_authority(tmp_path / "signer")  # any key pair whose certificate is configured
        cert = tmp_path / "signer" / "dev-authority" / "cert.pem"
        settings = Settings(
            data_dir=tmp_path / "data", profile="ihe", dev_authority="off", trusted_certs=[cert]
        )
        with TestClient(create_app(settings, database=database)) as client:
            status, root = post(client, sign(message(), signer))
            assert status == 200 and answered(root)
            assert "warnings" not in client.get("/health").json()


class TestAnonymousActor:
    def test_ihe_admits_unauthenticated_requests_as_the_named_actor(
        self, database: Database, tmp_path: Path
    ) -> None:
        settings = Settings(data_dir=tmp_path, profile="ihe", anonymous_actor="nist-runner")
        app = create_app(settings, database=database)
        access = app.state.services.access
        assert access.anonymous == anonymous_actor("nist-runner")
        assert access.anonymous.actor_kind is ActorKind.SYSTEM
        with TestClient(app) as client:
            status, root = post(client, message())
            assert status == 200 and answered(root)
            # a header that is present is verified all the same
            empty = b"<wsse:Security xmlns:wsse='" + WSSE.encode() + b"'/>"
            forged = message().replace(b"<env:Header>", b"<env:Header>" + empty)
            status, root = post(client, forged)
            assert (status, subcode(root)) == (400, "wsse:InvalidSecurity")

    def test_dmp_never_admits_anonymous_requests(self, database: Database, tmp_path: Path) -> None:
        app = create_app(Settings(data_dir=tmp_path, profile="dmp"), database=database)
        assert app.state.services.access.anonymous is None
        with TestClient(app) as client:
            status, root = post(client, message())
        assert (status, subcode(root)) == (400, "wsse:InvalidSecurity")

    def test_dmp_requires_the_patient_in_the_assertion(self, database: Database, tmp_path: Path) -> None:
        authority = install_authority(tmp_path)
        settings = Settings(data_dir=tmp_path, profile="dmp-test", dev_authority="on")
        with TestClient(create_app(settings, database=database)) as client:
            # the default dev identity names no patient (resource-id)
            status, root = post(client, sign(message(), authority))
        assert (status, subcode(root)) == (400, "wsse:InvalidSecurity")


class TestWithoutAccessControl:
    def test_router_refuses_everything(self, database: Database, tmp_path: Path) -> None:
        authority = install_authority(tmp_path)
        app = create_app(trusting(tmp_path), database=database)
        services = app.state.services
        router = Router(dataclasses.replace(services, access=None))
        answer = router.handle(sign(message(), authority))
        assert answer.status == 500
        assert isinstance(answer.body, bytes) and b"env:Receiver" in answer.body


class TestProfiles:
    def test_policy_modes(self) -> None:
        dmp, test, ihe = (load_profile(name) for name in ("dmp", "dmp-test", "ihe"))
        assert policy_mode(dmp) is policy_mode(test) is PolicyMode.DMP
        assert policy_mode(ihe) is PolicyMode.IHE

    def test_the_mode_is_never_guessed_from_the_name(self) -> None:
        """A profile named like the DMP's that says ``ihe`` gets the IHE rule book, and one named like
        anything that says ``dmp`` gets the DMP rules: only the file's ``policy`` key decides."""
        assert policy_mode(DomainProfile(name="dmp-lookalike", policy="ihe")) is PolicyMode.IHE
        assert policy_mode(DomainProfile(name="regional", policy="dmp")) is PolicyMode.DMP

    def test_security_block_is_a_wsse_header(self, tmp_path: Path) -> None:
        block = etree.fromstring(security_block(install_authority(tmp_path)))
        assert etree.QName(block).localname == "Security"
