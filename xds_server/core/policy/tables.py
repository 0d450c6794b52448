"""The habilitation matrix and the profession groups, as data.

The matrix (annex of the arrêté du 26/10/2023, "matrice d'habilitations des professionnels") says which
document types each group of professionals may read; a professional's group comes from his profession
(TRE_G15), role (TRE_R85) and genre d'activité (TRE_R22) through ``habilitation-groups.csv``. No profession
code appears in code: everything here is read from the two CSV files (terminologies/README.md explains
which cells are reconstructed). The core only parses text; an adapter reads the files.

Cells: ``x`` allowed, ``x?`` probably allowed (reconstructed, counted as allowed and reported by
``cell``), ``-`` not allowed, blank unknown. Unknown cells, unknown type codes and unknown groups deny.

Group membership: a professional belongs to a group when his profession is one of the group's professions
or his role one of its roles, and, if the group lists genres d'activité, his genre is one of them (the
"profession 99" groups are told apart by genre only). A professional in several groups (a pharmacien, 21,
matches both pharmacist groups, which the data cannot tell apart) reads what any of them may read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from xds_server.core.policy.record import code_key


class Cell(StrEnum):
    ALLOWED = "x"
    PROBABLY_ALLOWED = "x?"
    DENIED = "-"
    UNKNOWN = ""

    @property
    def allows(self) -> bool:
        return self in (Cell.ALLOWED, Cell.PROBABLY_ALLOWED)


@dataclass(frozen=True, slots=True)
class GroupRule:
    """One row of habilitation-groups.csv."""

    group: str
    label: str = ""
    professions: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)
    genres: frozenset[str] = field(default_factory=frozenset)

    def matches(self, profession: str | None, role: str | None, genre: str | None) -> bool:
        selected = (profession is not None and profession in self.professions) or (
            role is not None and role in self.roles
        )
        if not selected:
            return False
        return not self.genres or (genre is not None and genre in self.genres)


@dataclass(frozen=True, slots=True)
class ProfessionGroups:
    """Profession / role / genre d'activité -> matrix groups."""

    rules: tuple[GroupRule, ...] = ()

    def groups_for(self, profession: str | None, role: str | None, genre: str | None) -> frozenset[str]:
        return frozenset(r.group for r in self.rules if r.matches(profession, role, genre))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.group for r in self.rules)


@dataclass(frozen=True, slots=True)
class HabilitationMatrix:
    """(group, typeCode key) -> cell. Absent pairs are unknown, and unknown denies."""

    cells: Mapping[tuple[str, str], Cell] = field(default_factory=dict)
    #: group -> the type keys it may read, built once: ``allowed_types`` runs on every query of a
    #: professional, and walking every cell of the matrix each time was a tenth of the DMP policy's cost
    _by_group: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)
    #: the answer of ``allowed_types`` per set of groups, kept as one object: the SQL restriction built from
    #: it is cached by that set, and a set met again hashes and compares by identity
    _answers: dict[frozenset[str], frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_group: dict[str, set[str]] = {}
        for (group, type_key), cell in self.cells.items():
            if cell.allows:
                by_group.setdefault(group, set()).add(type_key)
        object.__setattr__(self, "_by_group", {g: frozenset(t) for g, t in by_group.items()})
        object.__setattr__(self, "_answers", {})

    def cell(self, group: str, type_key: str) -> Cell:
        return self.cells.get((group, type_key), Cell.UNKNOWN)

    def allows(self, groups: Iterable[str], type_key: str | None) -> bool:
        if type_key is None:
            return False
        return any(self.cell(g, type_key).allows for g in groups)

    def allowed_types(self, groups: Iterable[str]) -> frozenset[str]:
        wanted = frozenset(groups)
        answer = self._answers.get(wanted)
        if answer is None:
            answer = frozenset().union(*(self._by_group.get(g, frozenset()) for g in wanted))
            if len(self._answers) < 1024:  # a handful of group sets in practice; bounded all the same
                self._answers[wanted] = answer
        return answer

    @property
    def type_keys(self) -> frozenset[str]:
        return frozenset(t for (_, t) in self.cells)

    def unknown_cells(self) -> tuple[tuple[str, str], ...]:
        """(group, typeCode) pairs the data leaves unknown: the matrix gaps to report."""
        return tuple(sorted(k for k, c in self.cells.items() if c is Cell.UNKNOWN))


def _codes(value: str | None) -> frozenset[str]:
    return frozenset((value or "").split())


def parse_profession_groups(text: str) -> ProfessionGroups:
    """Parse habilitation-groups.csv (columns group, label, profession_codes_G15, role_codes_R85,
    genre_activite_R22; codes separated by spaces)."""
    rules = tuple(
        GroupRule(
            group=row["group"].strip(),
            label=(row.get("label") or "").strip(),
            professions=_codes(row.get("profession_codes_G15")),
            roles=_codes(row.get("role_codes_R85")),
            genres=_codes(row.get("genre_activite_R22")),
        )
        for row in csv.DictReader(io.StringIO(text))
        if (row.get("group") or "").strip()
    )
    return ProfessionGroups(rules)


def parse_habilitation_matrix(text: str, groups: ProfessionGroups) -> HabilitationMatrix:
    """Parse habilitation-matrix.csv: one row per typeCode (columns typeCode, typeCodeSystem), one column
    per group of ``groups``. A cell value outside the documented ones is an error, not a silent deny."""
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    missing = [g for g in groups.names if g not in columns]
    if missing:
        raise ValueError(f"habilitation matrix lacks the group columns {missing}")
    cells: dict[tuple[str, str], Cell] = {}
    for line, row in enumerate(reader, start=2):
        type_key = code_key(row["typeCode"].strip(), row["typeCodeSystem"].strip())
        for group in groups.names:
            value = (row.get(group) or "").strip()
            try:
                cells[(group, type_key)] = Cell(value)
            except ValueError:
                problem = f"habilitation matrix line {line}, column {group}: bad cell {value!r}"
                raise ValueError(problem) from None
    return HabilitationMatrix(cells)


__all__ = [
    "Cell",
    "GroupRule",
    "HabilitationMatrix",
    "ProfessionGroups",
    "parse_habilitation_matrix",
    "parse_profession_groups",
]
