"""NIST XDS testkit runner: reads the copied test plans and runs them against an XDS.b server."""

from .cli import run

__all__ = ["run"]
