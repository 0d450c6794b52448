"""The ``registry`` fixture of tests/update (a registry on the test database, two known patients)."""

from tests.update.conftest import registry

__all__ = ["registry"]
