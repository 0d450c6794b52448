"""A repository + registry behind the real HTTP endpoints (in-process), on the session's database backend."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import func, select

from tests.identity_helpers import open_access
from xds_server.audit import render_json
from xds_server.config import Settings
from xds_server.core.blobs import BlobStore
from xds_server.core.ports import PatientState
from xds_server.core.profile import DomainProfile
from xds_server.ebxml.codec import encode_object_xml
from xds_server.soap.endpoints import REPOSITORY_PATH
from xds_server.soap.endpoints import api as soap_api
from xds_server.soap.mtom import MultipartLimits, MultipartMessage, read_multipart
from xds_server.soap.router import Router
from xds_server.storage import tables
from xds_server.storage.audit import SqlAuditStore
from xds_server.storage.blobs import FileBlobStore, SqlDocumentIndex
from xds_server.storage.database import Database
from xds_server.storage.patients import SqlPatientDirectory
from xds_server.storage.registry import SqlRegistryStore
from xds_server.wiring import Services, UnitOfWork

from .messages import NIST_PATIENT

REPOSITORY_ID = "1.3.6.1.4.1.21367.2010.1.2.1125"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class _Ids:
    def new_uuid(self) -> str:
        return f"urn:uuid:{uuid.uuid4()}"


@dataclass
class Answer:
    status_code: int
    content_type: str
    body: bytes
    spool: Path

    def envelope(self) -> etree._Element:
        root = self.body
        if self.content_type.startswith("multipart/related"):
            with self.multipart() as message:
                root = message.root
        return etree.fromstring(root)

    def multipart(self) -> MultipartMessage:
        async def chunks() -> AsyncIterator[bytes]:
            yield self.body

        return asyncio.run(
            read_multipart(chunks(), self.content_type, limits=MultipartLimits(), spool_dir=self.spool)
        )

    def registry_response(self) -> etree._Element:
        found = self.envelope().find(f".//{{{RS}}}RegistryResponse")
        assert found is not None, self.body[:2000]
        return found

    @property
    def status(self) -> str:
        return self.registry_response().get("status", "").rsplit(":", 1)[-1]

    @property
    def error_codes(self) -> list[str]:
        return [e.get("errorCode", "") for e in self.registry_response().iter(f"{{{RS}}}RegistryError")]

    def fault_reason(self) -> str:
        return " ".join(self.envelope().itertext())


@dataclass
class Repository:
    client: TestClient
    database: Database
    blobs: BlobStore
    spool: Path

    def post(self, body: bytes | Iterator[bytes], content_type: str) -> Answer:
        response = self.client.post(REPOSITORY_PATH, content=body, headers={"Content-Type": content_type})
        return Answer(response.status_code, response.headers["content-type"], response.content, self.spool)

    def stored_documents(self) -> list[tuple[str, str, int, str, str]]:
        """(uniqueId, hash, size, repositoryUniqueId, mimeType) of every DocumentEntry."""
        d = tables.document_entry.c
        with self.database.transaction(readonly=True) as connection:
            rows = connection.execute(
                select(d.unique_id, d.hash, d.size, d.repository_unique_id, d.mime_type).order_by(d.unique_id)
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]

    def object_count(self) -> int:
        with self.database.transaction(readonly=True) as connection:
            return int(
                connection.execute(select(func.count()).select_from(tables.registry_object)).scalar_one()
            )

    def blob_keys(self) -> list[str]:
        return sorted(info.key for info in self.blobs.list())

    def staging_files(self) -> list[str]:
        return sorted(p.name for p in self.blobs.staging_dir.iterdir())


def make_repository(
    database: Database, tmp_path: Path, blobs: BlobStore, **settings_overrides: object
) -> Iterator[Repository]:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "repository_unique_id": REPOSITORY_ID,
        "max_parts": 20,
        **settings_overrides,
    }
    settings = Settings(**values)  # type: ignore[arg-type]

    @contextmanager
    def transaction() -> Iterator[UnitOfWork]:
        with database.transaction() as connection:
            yield UnitOfWork(
                registry=SqlRegistryStore(connection, encode_object_xml),
                patients=SqlPatientDirectory(connection),
                documents=SqlDocumentIndex(connection),
                audit=SqlAuditStore(connection, render_json),
            )

    services = Services(
        settings=settings,
        profile=DomainProfile(name="ihe"),
        transaction=transaction,
        clock=_Clock(),
        ids=_Ids(),
        blobs=blobs,
        access=open_access(),
    )
    with database.transaction() as connection:
        SqlPatientDirectory(connection).add(NIST_PATIENT, PatientState.ACTIVATED)
    app = FastAPI()
    app.include_router(soap_api)
    app.state.soap_router = Router(services)
    spool = tmp_path / "client-spool"
    with TestClient(app) as client:
        yield Repository(client, database, blobs, spool)


@pytest.fixture
def repository(database: Database, tmp_path: Path) -> Iterator[Repository]:
    yield from make_repository(database, tmp_path, FileBlobStore(tmp_path / "blobs"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1, on a free port, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_store(endpoint: str, tmp_path: Path, bucket: str = "docs", prefix: str = "xds/blobs") -> BlobStore:
    import boto3

    from xds_server.storage.s3 import S3BlobStore

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    if bucket not in [b["Name"] for b in client.list_buckets().get("Buckets", [])]:
        client.create_bucket(Bucket=bucket)
    return S3BlobStore(bucket=bucket, prefix=prefix, staging_dir=tmp_path / "staging", client=client)


@pytest.fixture
def s3_repository(database: Database, tmp_path: Path, s3_endpoint: str) -> Iterator[Repository]:
    yield from make_repository(
        database, tmp_path, s3_store(s3_endpoint, tmp_path, prefix=f"run-{tmp_path.name}")
    )


STORE_KINDS = ("file", "s3")


def store_of_kind(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """The blob store a ``params=STORE_KINDS`` fixture asks for: the file store, or S3 (moto); for tests whose
    subject is the blob store and that run on both."""
    if request.param == "file":
        return FileBlobStore(tmp_path / "blobs")
    return s3_store(request.getfixturevalue("s3_endpoint"), tmp_path, prefix=f"run-{tmp_path.name}")
