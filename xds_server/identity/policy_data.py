"""Reads the policy's data files (habilitation matrix and profession groups) from the installed
terminologies and builds a ``core.policy.Policy``: the core parses text, this adapter does the I/O."""

from __future__ import annotations

from functools import lru_cache

from xds_server.core.policy import (
    HabilitationMatrix,
    Policy,
    PolicyMode,
    ProfessionGroups,
    parse_habilitation_matrix,
    parse_profession_groups,
)
from xds_server.resources import terminologies_dir

GROUPS_FILE = "habilitation-groups.csv"
MATRIX_FILE = "habilitation-matrix.csv"


@lru_cache(maxsize=1)
def load_tables() -> tuple[ProfessionGroups, HabilitationMatrix]:
    """The groups and matrix shipped in ``terminologies/`` (read once per process)."""
    folder = terminologies_dir()
    groups = parse_profession_groups(folder.joinpath(GROUPS_FILE).read_text(encoding="utf-8"))
    matrix = parse_habilitation_matrix(folder.joinpath(MATRIX_FILE).read_text(encoding="utf-8"), groups)
    return groups, matrix


def load_policy(mode: PolicyMode | str = PolicyMode.DMP, *, deposit_follows_matrix: bool = True) -> Policy:
    """The policy of a domain profile (``dmp`` or ``ihe``) with the shipped data."""
    groups, matrix = load_tables()
    return Policy(
        mode=PolicyMode(mode), matrix=matrix, groups=groups, deposit_follows_matrix=deposit_follows_matrix
    )


__all__ = ["GROUPS_FILE", "MATRIX_FILE", "load_policy", "load_tables"]
