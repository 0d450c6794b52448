"""core.identifiers: CX, OID, uniqueId, NIR/INS key, canonical patient ids."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xds_server.core.identifiers import (
    Cx,
    IdentifierError,
    canonical_patient_id,
    ins_problem,
    is_oid,
    is_urn_uuid,
    nir_key,
    parse_cx,
    unique_id_problem,
)
from xds_server.core.profile import IHE_DEFAULT

from .builders import INS, NIR_OID, TEST_NIR_OID, dmp_profile


def with_key(nir13: str) -> str:
    """Independent key computation: Corsica by arithmetic (2A = 20 - 1 million), not by string swap."""
    dept = nir13[5:7]
    offset = {"2A": 1_000_000, "2B": 2_000_000}.get(dept, 0)
    number = int(nir13[:5] + ("20" if offset else dept) + nir13[7:]) - offset
    return f"{nir13}{97 - number % 97:02d}"


class TestOid:
    @pytest.mark.parametrize(
        "value", ["1.2.3", "2.25.123456789", "0.0", "1.2.250.1.213.1.4.8", "129.6.58.92.1.1"]
    )
    def test_valid(self, value: str) -> None:
        assert is_oid(value)

    @pytest.mark.parametrize(
        "value", ["", "1", "01.1", "1.02", "1..2", "1.2.", "a.b", "1.2.3 ", "1." + "2" * 70]
    )
    def test_invalid(self, value: str) -> None:
        assert not is_oid(value)


class TestUrnUuid:
    def test_valid(self) -> None:
        assert is_urn_uuid("urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1")

    @pytest.mark.parametrize("value", ["7edca82f-054d-47f2-a032-9b2a5b5186c1", "urn:uuid:xyz", "urn:uuid:"])
    def test_invalid(self, value: str) -> None:
        assert not is_urn_uuid(value)


class TestUniqueId:
    @pytest.mark.parametrize("value", ["1.2.3.4", "1.2.3^ext-1", "2.25.1^" + "x" * 60])
    def test_document_unique_ids(self, value: str) -> None:
        assert unique_id_problem(value) is None

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("", "empty"),
            ("abc", "not an OID"),
            ("1.2.3^", "extension"),
            ("1.2.3^a^b", "extension"),
            ("1.2.3^a b", "extension"),
            ("1." + "1" * 64, "longer than 64"),
            ("1.2^" + "x" * 130, "longer than 128"),
        ],
    )
    def test_refused(self, value: str, reason: str) -> None:
        problem = unique_id_problem(value)
        assert problem is not None and reason in problem

    def test_packages_take_plain_oids_only(self) -> None:
        assert unique_id_problem("1.2.3", allow_extension=False) is None
        assert "not allowed" in (unique_id_problem("1.2.3^x", allow_extension=False) or "")


class TestParseCx:
    def test_plain(self) -> None:
        assert parse_cx("j98789^^^&1.2.3.4.343.1&ISO") == Cx("j98789", "1.2.3.4.343.1")

    def test_with_type(self) -> None:
        cx = parse_cx(f"{INS}^^^&{NIR_OID}&ISO^NH")
        assert cx == Cx(INS, NIR_OID, "NH")
        assert cx.format() == f"{INS}^^^&{NIR_OID}&ISO^NH"

    @pytest.mark.parametrize(
        "value",
        [
            "j98789",
            "j98789^^^1.2.3&ISO",
            "j98789^^^&1.2.3",
            "j98789^^^&1.2.3&L",
            "j98789^^^NS&1.2.3&ISO",
            "j98789^x^^&1.2.3&ISO",
            "^^^&1.2.3&ISO",
            "j98789^^^&notanoid&ISO",
            "j98789^^^&1.2.3&ISO^NH^extra",
        ],
    )
    def test_refused(self, value: str) -> None:
        with pytest.raises(IdentifierError) as exc:
            parse_cx(value)
        assert exc.value.kind == "syntax"


class TestNirKey:
    def test_textbook_example(self) -> None:
        assert nir_key("2550814168025") == 38

    def test_corsica_2a_counts_as_19(self) -> None:
        assert nir_key("169052A135004") == 97 - 1690519135004 % 97

    def test_corsica_2b_counts_as_18(self) -> None:
        assert nir_key("169052B135004") == 97 - 1690518135004 % 97

    @settings(max_examples=50, deadline=None)
    @given(
        st.from_regex(r"[12][0-9]{2}(0[1-9]|1[0-2])([0-9]{2}|2A|2B)[0-9]{6}", fullmatch=True),
    )
    def test_matches_independent_computation(self, nir13: str) -> None:
        assert with_key(nir13) == nir13 + f"{nir_key(nir13):02d}"

    def test_rejects_garbage(self) -> None:
        with pytest.raises(ValueError):
            nir_key("12345")


class TestInsProblem:
    def test_valid(self) -> None:
        assert ins_problem(INS) is None

    @pytest.mark.parametrize("nir13", ["169052A135004", "269052B135004"])
    def test_valid_corsica(self, nir13: str) -> None:
        assert ins_problem(with_key(nir13)) is None

    def test_corsica_with_continental_key_is_refused(self) -> None:
        wrong = "169052A135004" + f"{97 - 1690520135004 % 97:02d}"  # key as if 2A were 20
        assert "key" in (ins_problem(wrong) or "")

    def test_wrong_key(self) -> None:
        assert "expected 38" in (ins_problem("255081416802539") or "")

    @pytest.mark.parametrize(
        "value",
        [
            "25508141680253",  # 14 characters
            "555081416802538",  # sex 5
            "255131416802538",  # month 13
            "2550814168025AB",  # letters in the key
            "25508X416802538",  # letter in the department
        ],
    )
    def test_malformed(self, value: str) -> None:
        assert ins_problem(value) is not None


class TestCanonicalPatientId:
    def test_ihe_profile_keeps_the_cx(self) -> None:
        value = "PAT-1^^^&1.3.6.1.4.1.21367.2005.13.20.1000&ISO"
        assert canonical_patient_id(value, IHE_DEFAULT) == value

    def test_ihe_profile_refuses_a_bare_id(self) -> None:
        with pytest.raises(IdentifierError):
            canonical_patient_id(INS, IHE_DEFAULT)

    @pytest.mark.parametrize(
        "value",
        [INS, f"{INS}^^^&{NIR_OID}&ISO", f"{INS}^^^&{NIR_OID}&ISO^NH", f" {INS}^^^&{NIR_OID}&ISO^NH "],
    )
    def test_dmp_spellings_have_one_canonical_form(self, value: str) -> None:
        assert canonical_patient_id(value, dmp_profile()) == f"{INS}^^^&{NIR_OID}&ISO^NH"

    def test_dmp_refuses_foreign_authority(self) -> None:
        with pytest.raises(IdentifierError) as exc:
            canonical_patient_id(f"{INS}^^^&1.2.3.4&ISO", dmp_profile())
        assert exc.value.kind == "authority"

    def test_dmp_refuses_test_authority_unless_configured(self) -> None:
        value = f"{INS}^^^&{TEST_NIR_OID}&ISO^NH"
        with pytest.raises(IdentifierError) as exc:
            canonical_patient_id(value, dmp_profile())
        assert exc.value.kind == "authority" and "test" in str(exc.value)
        accepting = dataclasses.replace(dmp_profile(), accept_test_authorities=True)
        assert canonical_patient_id(value, accepting) == value

    def test_dmp_refuses_wrong_key(self) -> None:
        with pytest.raises(IdentifierError) as exc:
            canonical_patient_id("255081416802539", dmp_profile())
        assert exc.value.kind == "key"

    def test_dmp_refuses_other_identifier_type(self) -> None:
        with pytest.raises(IdentifierError):
            canonical_patient_id(f"{INS}^^^&{NIR_OID}&ISO^PI", dmp_profile())

    def test_an_ins_is_ascii(self) -> None:
        """Digits of another script would spell a second id (another row) for the same patient."""
        arabic_indic = INS[0] + "".join(chr(0x660 + int(c)) for c in INS[1:])
        assert ins_problem(arabic_indic) is not None
        with pytest.raises(IdentifierError):
            canonical_patient_id(arabic_indic, dmp_profile())

    def test_the_bare_ins_takes_the_default_authority_even_where_test_authorities_are_accepted(self) -> None:
        """dmp-test: the bare form is the production INS-NIR authority's; a test identity needs its CX."""
        accepting = dataclasses.replace(dmp_profile(), accept_test_authorities=True)
        assert canonical_patient_id(INS, accepting) == f"{INS}^^^&{NIR_OID}&ISO^NH"
        assert canonical_patient_id(f"{INS}^^^&{TEST_NIR_OID}&ISO", accepting) != canonical_patient_id(
            INS, accepting
        )
