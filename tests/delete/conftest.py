"""Fixtures: a registry on the test database (SQLite, or PostgreSQL with XDS_DATABASE_URL), two patients."""

from __future__ import annotations

import pytest

from tests.core.builders import OTHER_PATIENT, PATIENT
from tests.update.registry import Registry
from xds_server.storage.database import Database


@pytest.fixture
def registry(database: Database) -> Registry:
    registry = Registry(database)
    registry.add_patient(PATIENT)
    registry.add_patient(OTHER_PATIENT)
    return registry
