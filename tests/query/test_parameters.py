"""The parameter grammar and counting rules (pure), and a fuzz of every parameter through the SQL port."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.builders import INS, NIR_OID, TEST_NIR_OID, dmp_profile
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.metadata import Slot
from xds_server.core.query import STORED_QUERIES, Kind, Param, QuerySettings, named_patients, parse_parameters
from xds_server.core.query.grammar import ValueSyntaxError, parse_value, parse_values
from xds_server.core.query.parameters import code_key
from xds_server.core.query.queries import FindDocuments

from .builders import APPROVED, PATIENT, Registry, q, s
from .conftest import World


class TestValueGrammar:
    @pytest.mark.parametrize(
        ("text", "items"),
        [
            ("'a'", ("a",)),
            ("('a')", ("a",)),
            ("('a','b')", ("a", "b")),
            (" ( 'a' , 'b' ) ", ("a", "b")),
            ("'it''s'", ("it's",)),
            ("('a,b', 'c)d')", ("a,b", "c)d")),
            ("20041124", ("20041124",)),
            ("(1, 2)", ("1", "2")),
            ("()", ()),
            ("''", ("",)),
            ("'%Ford%'", ("%Ford%",)),
        ],
    )
    def test_valid(self, text: str, items: tuple[str, ...]) -> None:
        assert parse_value(text) == items

    @pytest.mark.parametrize(
        "text", ["", "   ", "'a", "('a'", "('a' 'b')", "'a'b", "('a',)", "(,)", "a b", "('a'))", "(('a'))"]
    )
    def test_malformed(self, text: str) -> None:
        with pytest.raises(ValueSyntaxError):
            parse_value(text)

    def test_values_of_one_slot_are_concatenated(self) -> None:
        assert parse_values(["('a')", "'b'", "('c','d')"]) == ("a", "b", "c", "d")

    @settings(max_examples=50, deadline=None)
    @given(st.lists(st.text(max_size=12), min_size=1, max_size=5))
    def test_round_trip_of_quoted_lists(self, items: list[str]) -> None:
        assert parse_value(q(*items)) == tuple(items)

    @settings(max_examples=50, deadline=None)
    @given(st.text(max_size=40))
    def test_any_text_parses_or_raises_value_syntax_error(self, text: str) -> None:
        # only ValueSyntaxError may escape (no IndexError at the end of the text, no endless loop)
        try:
            items = parse_value(text)
        except ValueSyntaxError:
            return
        assert all(isinstance(item, str) for item in items)
        assert all(item in text.replace("''", "'") for item in items)


class TestCodes:
    @pytest.mark.parametrize(
        ("value", "key"),
        [
            ("a^^1.2", "a^^1.2"),
            ("a^display^1.2", "a^^1.2"),
            ("a^^", None),
            ("a", None),
            ("^^1.2", None),
            ("a^1.2", None),
        ],
    )
    def test_code_key(self, value: str, key: str | None) -> None:
        assert code_key(value) == key


PARAMS = (
    Param("$single", Kind.STRING, required=True),
    Param("$multi", Kind.STRING, multi=True),
    Param("$andor", Kind.CODE, multi=True, and_or=True),
    Param("$time", Kind.TIME),
    Param("$status", Kind.STATUS, multi=True),
    Param("$a", Kind.STRING),
    Param("$b", Kind.STRING),
)


def codes(slots: list[Slot], exclusive: tuple[tuple[str, ...], ...] = ()) -> set[str]:
    with pytest.raises(XdsError) as caught:
        parse_parameters(slots, PARAMS, exclusive)
    return {issue.code.value for issue in caught.value.issues}


class TestCountingRules:
    def test_typed_values(self) -> None:
        parsed = parse_parameters(
            [
                Slot("$single", ("'x'",)),
                Slot("$multi", ("'a'", "('b','c')")),
                Slot("$andor", ("('e^^1')",)),
                Slot("$andor", ("('f^^1','g^^1')",)),
                Slot("$time", ("2004",)),
                Slot("$status", (q(APPROVED),)),
                Slot("$unknown", ("garbage((",)),
            ],
            PARAMS,
        )
        assert parsed.one("$single") == "x"
        assert parsed.values("$multi") == {"a", "b", "c"}
        assert parsed.groups("$andor") == (frozenset({"e^^1"}), frozenset({"f^^1", "g^^1"}))
        assert parsed.one("$time") == "20040000000000"
        assert parsed.values("$status") == {APPROVED}
        assert not parsed.has("$unknown")

    def test_missing_required(self) -> None:
        assert codes([]) == {ErrorCode.STORED_QUERY_MISSING_PARAM.value}

    def test_repeated_slot_of_a_plain_parameter(self) -> None:
        assert codes([Slot("$single", ("'x'",)), Slot("$single", ("'x'",))]) == {"XDSStoredQueryParamNumber"}
        assert codes([Slot("$single", ("'x'",)), Slot("$multi", ("'a'",)), Slot("$multi", ("'b'",))]) == {
            "XDSStoredQueryParamNumber"
        }

    def test_several_values_for_a_single_valued_parameter(self) -> None:
        assert codes([Slot("$single", ("('x','y')",))]) == {"XDSStoredQueryParamNumber"}
        assert codes([Slot("$single", ("'x'", "'y'"))]) == {"XDSStoredQueryParamNumber"}

    def test_mutually_exclusive(self) -> None:
        base = [Slot("$single", ("'x'",))]
        assert codes(base, (("$a", "$b"),)) == {"XDSStoredQueryMissingParam"}
        assert codes([*base, Slot("$a", ("'1'",)), Slot("$b", ("'2'",))], (("$a", "$b"),)) == {
            "XDSStoredQueryParamNumber"
        }

    def test_invalid_values(self) -> None:
        base = [Slot("$single", ("'x'",))]
        for slot in (
            Slot("$andor", ("('e')",)),
            Slot("$time", ("'soon'",)),
            Slot("$time", ("20041",)),
            Slot("$status", ("('Approved')",)),
            Slot("$multi", ("('unterminated",)),
            Slot("$multi", ("()",)),
            Slot("$multi", ("'nul\x00'",)),
        ):
            assert codes([*base, slot]) == {"XDSRegistryMetadataError"}, slot

    def test_every_problem_is_reported(self) -> None:
        issues = codes([Slot("$time", ("x",)), Slot("$a", ("'1'",)), Slot("$b", ("'2'",))], (("$a", "$b"),))
        assert issues == {
            "XDSStoredQueryMissingParam",
            "XDSRegistryMetadataError",
            "XDSStoredQueryParamNumber",
        }


# Every parameter of every query, and the FindDocuments ones with a valid patient and status, fuzzed with
# arbitrary text: the answer is a result or an XdsError with an IHE code, never another exception.
ALL_PARAMS = sorted({p.name for cls in STORED_QUERIES.values() for p in cls.params})
VALUE_TEXT = st.one_of(
    st.text(max_size=30),
    st.lists(st.text(max_size=10), max_size=3).map(lambda items: q(*items)),
    st.text(alphabet="'(),%_^&\\ 0123456789aZ", max_size=20),
)


class TestFuzzedParameters:
    @settings(
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        query_id=st.sampled_from(sorted(STORED_QUERIES)),
        name=st.sampled_from(ALL_PARAMS),
        values=st.lists(VALUE_TEXT, min_size=1, max_size=2),
        return_type=st.sampled_from(["ObjectRef", "LeafClass"]),
    )
    def test_result_or_xds_error(
        self, registry: Registry, world: World, query_id: str, name: str, values: list[str], return_type: str
    ) -> None:
        base = {
            "$XDSDocumentEntryPatientId": s(PATIENT),
            "$XDSDocumentEntryStatus": q(APPROVED),
            "$patientId": s(PATIENT),
            "$XDSSubmissionSetStatus": q(APPROVED),
            "$XDSFolderStatus": q(APPROVED),
        }
        base[name] = tuple(values)
        try:
            registry.query(query_id, base, return_type=return_type, settings=QuerySettings(max_results=50))
        except XdsError as error:
            assert all(isinstance(issue.code, ErrorCode) for issue in error.issues)
            assert ErrorCode.REGISTRY_ERROR not in {issue.code for issue in error.issues}

    @settings(
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.text(max_size=30), st.sampled_from([p.name for p in FindDocuments.params]))
    def test_find_documents_quoted_strings(
        self, registry: Registry, world: World, text: str, name: str
    ) -> None:
        params = {
            "$XDSDocumentEntryPatientId": s(PATIENT),
            "$XDSDocumentEntryStatus": q(APPROVED),
            name: q(text),
        }
        try:
            registry.query(FindDocuments.query_id, params)
        except XdsError as error:
            assert ErrorCode.REGISTRY_ERROR not in {issue.code for issue in error.issues}


class TestReturnType:
    def test_xds_return_types_and_ebrs_aliases(self) -> None:
        from xds_server.core.query.engine import ReturnType, parse_return_type

        assert parse_return_type("ObjectRef") is ReturnType.OBJECT_REF
        assert parse_return_type("LeafClass") is ReturnType.LEAF_CLASS
        assert parse_return_type(None) is ReturnType.OBJECT_REF
        # ebRS 3.0 default when returnType is absent, and the repository-item variant
        assert parse_return_type("RegistryObject") is ReturnType.LEAF_CLASS
        assert parse_return_type("LeafClassWithRepositoryItem") is ReturnType.LEAF_CLASS
        with pytest.raises(XdsError) as caught:
            parse_return_type("Everything")
        assert caught.value.issues[0].code is ErrorCode.REGISTRY_METADATA_ERROR


class TestPatientIds:
    """Patient parameters are read as a submission's patientId: ``canonical_patient_id`` under the profile."""

    PROFILE = dmp_profile(accept_test_authorities=True)
    CANONICAL = f"{INS}^^^&{NIR_OID}&ISO^NH"
    SPELLINGS = (INS, f"{INS}^^^&{NIR_OID}&ISO", CANONICAL, f" {INS}^^^&{NIR_OID}&ISO ")
    PARAMS = (Param("$XDSDocumentEntryPatientId", Kind.PATIENT_ID, multi=True),)

    @pytest.mark.parametrize("spelled", SPELLINGS)
    def test_every_spelling_reads_as_the_canonical_id(self, spelled: str) -> None:
        slots = [Slot("$XDSDocumentEntryPatientId", (s(spelled),))]
        parsed = parse_parameters(slots, self.PARAMS, profile=self.PROFILE)
        assert parsed.values("$XDSDocumentEntryPatientId") == frozenset({self.CANONICAL})

    def test_the_ihe_profile_keeps_a_cx_as_it_is(self) -> None:
        slots = [Slot("$XDSDocumentEntryPatientId", (s(PATIENT),))]
        assert parse_parameters(slots, self.PARAMS).values("$XDSDocumentEntryPatientId") == {PATIENT}

    @pytest.mark.parametrize(
        ("spelled", "code"),
        [
            ("255081416802539", ErrorCode.REGISTRY_METADATA_ERROR),  # wrong key
            (f"{INS}^^^&{NIR_OID}&ISO^PI", ErrorCode.REGISTRY_METADATA_ERROR),  # not NH
            (f"{INS}^^^&1.2.3.4&ISO", ErrorCode.UNKNOWN_PATIENT_ID),  # an authority the domain refuses
            ("", ErrorCode.REGISTRY_METADATA_ERROR),
            ("a\x00b", ErrorCode.REGISTRY_METADATA_ERROR),  # not XML text
        ],
    )
    def test_a_refused_id_is_reported_like_on_submission(self, spelled: str, code: ErrorCode) -> None:
        slots = [Slot("$XDSDocumentEntryPatientId", (s(spelled),))]
        with pytest.raises(XdsError) as raised:
            parse_parameters(slots, self.PARAMS, profile=self.PROFILE)
        assert [i.code for i in raised.value.issues] == [code]
        with pytest.raises(XdsError) as named:
            named_patients(slots, self.PROFILE)
        assert named.value.issues == raised.value.issues

    def test_the_production_profile_refuses_a_test_authority(self) -> None:
        slots = [Slot("$patientId", (s(f"{INS}^^^&{TEST_NIR_OID}&ISO"),))]
        with pytest.raises(XdsError) as raised:
            named_patients(slots, dmp_profile())
        assert [i.code for i in raised.value.issues] == [ErrorCode.UNKNOWN_PATIENT_ID]

    def test_named_patients_of_every_patient_parameter_in_order_without_repeats(self) -> None:
        test_patient = f"{INS}^^^&{TEST_NIR_OID}&ISO"
        slots = [
            Slot("$XDSDocumentEntryStatus", (q(APPROVED),)),
            Slot("$XDSFolderPatientId", (q(INS, test_patient),)),
            Slot(" $patientId ", (s(self.CANONICAL),)),
            Slot("$XDSSubmissionSetPatientId", (s(f"{INS}^^^&{NIR_OID}&ISO"),)),
        ]
        assert named_patients(slots, self.PROFILE) == (self.CANONICAL, f"{test_patient}^NH")
        assert named_patients(slots[:1], self.PROFILE) == ()

    @settings(max_examples=200, deadline=None)
    @given(st.one_of(st.text(max_size=40), st.text(alphabet="0123456789^&.ISONH2AB ", max_size=45)))
    def test_any_text_is_a_canonical_id_or_an_ihe_error(self, text: str) -> None:
        slots = [Slot("$XDSDocumentEntryPatientId", (s(text),))]
        try:
            found = named_patients(slots, self.PROFILE)
        except XdsError as error:
            assert {i.code for i in error.issues} <= {
                ErrorCode.REGISTRY_METADATA_ERROR,
                ErrorCode.UNKNOWN_PATIENT_ID,
            }
        else:
            assert len(found) == 1 and found[0].isascii() and found[0].endswith("&ISO^NH")
