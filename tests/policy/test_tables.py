"""Matrix and groups parsing: data in, lookups out; unknown denies."""

from __future__ import annotations

import pytest

from xds_server.core.policy import Cell, parse_habilitation_matrix, parse_profession_groups

from .builders import GROUPS, MATRIX, MEDECIN_ONLY_TYPE, OPEN_TYPE

GROUPS_CSV = """group,label,profession_codes_G15,role_codes_R85,genre_activite_R22,status
a,A,10 11,,,s
b,B,21,316 317,,s
c,C,99,,GENR08,s
"""
MATRIX_CSV = """classCode,typeCode,typeCodeSystem,typeDisplay,a,b,c,source
10,T1,S,one,x,-,,s
10,T2,S,two,x?,x,-,s
"""


class TestProfessionGroups:
    groups = parse_profession_groups(GROUPS_CSV)

    def test_profession_selects_a_group(self) -> None:
        assert self.groups.groups_for("11", None, None) == {"a"}

    def test_role_selects_a_group(self) -> None:
        assert self.groups.groups_for("39", "317", None) == {"b"}

    def test_genre_restricts_a_group(self) -> None:
        assert self.groups.groups_for("99", None, "GENR08") == {"c"}
        assert self.groups.groups_for("99", None, "GENR01") == frozenset()
        assert self.groups.groups_for("99", None, None) == frozenset()

    def test_unknown_profession_has_no_group(self) -> None:
        assert self.groups.groups_for("12", None, None) == frozenset()
        assert self.groups.groups_for(None, None, None) == frozenset()

    def test_shipped_groups(self) -> None:
        assert len(GROUPS.rules) == 18
        assert GROUPS.groups_for("70", None, None) == {"masseur_kinesitherapeute"}
        assert GROUPS.groups_for("21", None, None) == {
            "pharmacien_biologiste",
            "pharmacien_officine_hospitalier",
        }


class TestHabilitationMatrix:
    groups = parse_profession_groups(GROUPS_CSV)
    matrix = parse_habilitation_matrix(MATRIX_CSV, groups)

    def test_cells(self) -> None:
        assert self.matrix.cell("a", "T1^^S") is Cell.ALLOWED
        assert self.matrix.cell("b", "T1^^S") is Cell.DENIED
        assert self.matrix.cell("c", "T1^^S") is Cell.UNKNOWN
        assert self.matrix.cell("a", "T2^^S") is Cell.PROBABLY_ALLOWED

    def test_allowed_and_probably_allowed_allow_everything_else_denies(self) -> None:
        assert self.matrix.allows({"a"}, "T1^^S") and self.matrix.allows({"a"}, "T2^^S")
        assert not self.matrix.allows({"b"}, "T1^^S")
        assert not self.matrix.allows({"c"}, "T1^^S")  # unknown cell
        assert not self.matrix.allows({"a"}, "T3^^S")  # unknown type
        assert not self.matrix.allows({"zz"}, "T1^^S")  # unknown group
        assert not self.matrix.allows({"a"}, None)
        assert not self.matrix.allows((), "T1^^S")

    def test_any_group_of_the_actor_suffices(self) -> None:
        assert self.matrix.allows({"b", "a"}, "T1^^S")

    def test_type_is_keyed_with_its_system(self) -> None:
        assert not self.matrix.allows({"a"}, "T1^^OTHER")

    def test_allowed_types(self) -> None:
        assert self.matrix.allowed_types({"a"}) == {"T1^^S", "T2^^S"}
        assert self.matrix.allowed_types({"c"}) == frozenset()

    def test_unknown_cells_are_reported(self) -> None:
        assert self.matrix.unknown_cells() == (("c", "T1^^S"),)

    def test_bad_cell_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="line 2, column b"):
            parse_habilitation_matrix(MATRIX_CSV.replace("x,-,,s", "x,yes,,s"), self.groups)

    def test_missing_group_column_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="'c'"):
            parse_habilitation_matrix(MATRIX_CSV.replace(",c,source", ",source"), self.groups)

    def test_shipped_matrix(self) -> None:
        assert MATRIX.allows({"masseur_kinesitherapeute"}, OPEN_TYPE)
        assert MATRIX.allows({"medecin"}, MEDECIN_ONLY_TYPE)
        assert not MATRIX.allows({"masseur_kinesitherapeute"}, MEDECIN_ONLY_TYPE)
        assert len(MATRIX.type_keys) == 82
