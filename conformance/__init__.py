"""Runners for external conformance suites (NIST XDS testkit). Never imported by the server at run time."""

__all__: list[str] = []
