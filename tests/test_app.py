"""app.py: the composition root (start-up migration, /health, the SOAP routes mounted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.storage.database import Database
from xds_server.storage.migrate import current_revision, head_revision


class TestHealth:
    def test_ok_with_profile_and_backend(self, database: Database, tmp_path: Path) -> None:
        app = create_app(Settings(data_dir=tmp_path, profile="ihe"), database=database)
        with TestClient(app) as client:
            response = client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["profile"] == "ihe"
        assert body["database"] == database.dialect_name

    def test_503_when_the_database_does_not_answer(
        self, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app = create_app(Settings(data_dir=tmp_path, profile="ihe"), database=database)
        with TestClient(app) as client:

            def down() -> None:
                raise XdsError.single(ErrorCode.REGISTRY_ERROR, "connection refused")

            monkeypatch.setattr(database, "ping", down)
            response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["status"] == "database unavailable"


class TestStartup:
    def test_embedded_database_is_created_and_migrated_in_the_data_dir(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path / "data", database_url="", profile="ihe")
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").json()["database"] == "sqlite"
        assert (tmp_path / "data" / "registry.sqlite3").exists()
        database = Database(f"sqlite:///{tmp_path / 'data' / 'registry.sqlite3'}")
        try:
            assert current_revision(database) == head_revision()
        finally:
            database.dispose()

    def test_soap_routes_are_mounted(self, database: Database, tmp_path: Path) -> None:
        app = create_app(Settings(data_dir=tmp_path, profile="ihe"), database=database)
        with TestClient(app) as client:
            for path in ("/xds/registry", "/xds/repository"):
                response = client.post(path, content=b"<x", headers={"Content-Type": "application/soap+xml"})
                assert response.status_code == 400
                assert b"Sender" in response.content
