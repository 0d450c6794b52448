"""Where the server's data lives once installed: never relative to the working directory."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def profiles_dir() -> Traversable:
    """The affinity-domain profiles (repository folder ``profiles/``)."""
    return files("xds_server._profiles")


def terminologies_dir() -> Traversable:
    """The value sets and the habilitation matrix (repository folder ``terminologies/``)."""
    return files("xds_server._terminologies")


__all__ = ["profiles_dir", "terminologies_dir"]
