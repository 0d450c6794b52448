"""The ``dmp`` fixture (the real application in the ``dmp`` profile, signed requests) of the DMP e2e tests."""

from tests.e2e.test_dmp_policy import dmp  # noqa: F401 (fixture)
