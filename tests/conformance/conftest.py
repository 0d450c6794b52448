"""Fixtures for the conformance runner tests: the copied testkit, read once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `conformance` is a top-level package of the repository; until the installed distribution lists it, make the
# checkout importable (a regular package wins over the tests/conformance folder, which has no __init__.py).
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from conformance.nist.cli import NIST_TESTS, load_default_testkit  # noqa: E402
from conformance.nist.plan import Testkit  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def testkit() -> Testkit:
    return load_default_testkit()


@pytest.fixture(scope="session")
def nist_tests() -> Path:
    return NIST_TESTS
