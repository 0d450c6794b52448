"""xds_server.terminology: profiles/*.toml + terminologies/*.csv -> DomainProfile."""

from __future__ import annotations

import dataclasses
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.core.builders import (
    INS,
    TEST_NIR_OID,
    code,
    dmp_document,
    dmp_submission,
    submission,
    submission_set,
)
from xds_server.core.errors import ErrorCode
from xds_server.core.profile import BoundAttribute, DomainProfile
from xds_server.core.validation import validate_submission
from xds_server.core.vocabulary import DMP_VISIBILITY_OID, HL7_CONFIDENTIALITY_OID
from xds_server.terminology import (
    ProfileError,
    build_profile,
    load_profile,
    load_value_set,
    profile_names,
    read_value_set,
)

REPO_PROFILES = Path(__file__).resolve().parents[1] / "profiles"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    yield
    load_profile.cache_clear()


def codes_of(profile: DomainProfile, attribute: BoundAttribute) -> frozenset[tuple[str, str]]:
    binding = profile.binding(attribute)
    assert binding is not None
    return binding.codes


class TestShippedProfiles:
    def test_names(self) -> None:
        assert {"dmp", "dmp-test", "ihe"} <= set(profile_names())

    def test_ihe_binds_nothing(self) -> None:
        profile = load_profile("ihe")
        assert profile.patient_id_authorities is None and profile.bindings == ()
        assert profile.confidentiality is None and not profile.ins_patient_ids

    def test_dmp_patient_ids(self) -> None:
        profile = load_profile("dmp")
        # INS-NIR, and the temporary INS-NIA the patient identity feed merges into it
        assert profile.patient_id_authorities == {"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9"}
        assert profile.feed_authorities is not None and profile.feed_authorities[0] == "1.2.250.1.213.1.4.8"
        assert profile.test_authorities == {"1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11"}
        assert not profile.accept_test_authorities
        assert profile.ins_patient_ids and profile.patient_id_type == "NH"

    def test_dmp_value_sets(self) -> None:
        profile = load_profile("dmp")
        assert ("10", "1.2.250.1.213.1.1.4.1") in codes_of(profile, BoundAttribute.CLASS_CODE)
        assert ("E1762", "ASTM") in codes_of(profile, BoundAttribute.TYPE_CODE)
        assert ("11488-4", "2.16.840.1.113883.6.1") in codes_of(profile, BoundAttribute.TYPE_CODE)
        assert ("SA01", "1.2.250.1.71.4.2.4") in codes_of(
            profile, BoundAttribute.HEALTHCARE_FACILITY_TYPE_CODE
        )
        assert ("AMBULATOIRE", "1.2.250.1.213.1.1.4.9") in codes_of(
            profile, BoundAttribute.PRACTICE_SETTING_CODE
        )
        assert len(codes_of(profile, BoundAttribute.FORMAT_CODE)) == 81
        binding = profile.binding(BoundAttribute.CLASS_CODE)
        assert binding is not None and binding.value_set == "JDV_J57-ClassCode-DMP"

    def test_dmp_confidentiality(self) -> None:
        rule = load_profile("dmp").confidentiality
        assert rule is not None
        assert rule.hl7_scheme == HL7_CONFIDENTIALITY_OID and rule.hl7_codes == {"N", "R", "V"}
        assert rule.masking_scheme == DMP_VISIBILITY_OID
        assert {"MASQUE_PS", "INVISIBLE_PATIENT", "INVISIBLE_REPRESENTANTS_LEGAUX"} <= rule.masking_codes

    def test_dmp_test_differs_only_by_test_authorities(self) -> None:
        dmp, test = load_profile("dmp"), load_profile("dmp-test")
        assert test.accept_test_authorities
        assert (
            dataclasses.replace(test, name="dmp", description=dmp.description, accept_test_authorities=False)
            == dmp
        )

    def test_loaded_once(self) -> None:
        assert load_profile("dmp") is load_profile("dmp")

    def test_independent_of_the_working_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        load_profile.cache_clear()
        assert load_profile("dmp").bindings

    def test_every_shipped_file_is_valid(self) -> None:
        for name in profile_names():
            assert load_profile(name).name == name


class TestUnknownProfiles:
    def test_unknown_name(self) -> None:
        with pytest.raises(ProfileError, match="unknown profile"):
            load_profile("nope")

    @pytest.mark.parametrize("name", ["../profiles/dmp", "DMP", "", "dmp.toml"])
    def test_invalid_name(self, name: str) -> None:
        with pytest.raises(ProfileError):
            load_profile(name)


def build(text: str) -> DomainProfile:
    if "policy" not in text:
        text = 'policy = "ihe"\n' + text
    return build_profile(tomllib.loads(text), load_value_set)


class TestBuildProfile:
    @pytest.mark.parametrize("text", ['name = "dmp-x"', 'name = "dmp-x"\npolicy = "DMP"', 'policy = "any"'])
    def test_policy_is_required_and_closed(self, text: str) -> None:
        """No ``policy`` key (or an unknown one) is refused, never read as the open IHE rule book."""
        with pytest.raises(ProfileError, match="policy must be one of"):
            build_profile(tomllib.loads(text), load_value_set)

    def test_shipped_profiles_state_their_policy(self) -> None:
        assert {name: load_profile(name).policy for name in profile_names()} == {
            "dmp": "dmp",
            "dmp-test": "dmp",
            "ihe": "ihe",
        }

    def test_minimal(self) -> None:
        profile = build('name = "x"')
        assert profile.name == "x" and profile.patient_id_authorities is None

    def test_union_of_value_sets(self) -> None:
        profile = build(
            'name = "x"\n[value_sets]\n'
            'typeCode = ["JDV_J66-TypeCode-DMP.csv", "JDV_J07-XdsTypeCode-CISIS.csv"]'
        )
        binding = profile.binding(BoundAttribute.TYPE_CODE)
        assert binding is not None and len(binding.codes) >= 93

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('name = "x"\nrules = 1', "unknown key"),
            ('name = "x"\n[patient_id]\nauthorites = []', "unknown key"),
            ('name = "x"\n[patient_id]\nauthorities = "all"', "authorities"),
            ('name = "x"\n[patient_id]\naccept_test_authorities = "yes"', "true or false"),
            ('name = "x"\n[patient_id]\nins = true', "default_authority"),
            ('name = "x"\n[value_sets]\nclassCodes = "JDV_J57-ClassCode-DMP.csv"', "unknown attribute"),
            ('name = "x"\n[value_sets]\nclassCode = "missing.csv"', "not found"),
            ('name = "x"\n[value_sets]\nclassCode = "../pyproject.toml"', "CSV file name"),
            ('name = "x"\n[value_sets]\nclassCode = []', "file name or a list"),
            ('name = "x"\n[confidentiality]\nrule = true', "required"),
            (
                'name = "x"\n[confidentiality]\nrule = true\nhl7_scheme = "2.16.840.1.113883.5.25"\n'
                'masking_scheme = "9.9"\nmasking_value_set = "TRE_A07-StatutVisibiliteDocument.csv"\n'
                'hl7_codes = ["N"]',
                "no code of 9.9",
            ),
        ],
    )
    def test_refused(self, text: str, message: str) -> None:
        with pytest.raises(ProfileError, match=message):
            build(text)


class TestReadValueSet:
    def test_reads_code_and_system(self, tmp_path: Path) -> None:
        (tmp_path / "vs.csv").write_text('code,display,system_oid\nA,"x, y",1.2\nB,z,1.3\n', encoding="utf-8")
        assert read_value_set(tmp_path, "vs.csv") == {("A", "1.2"), ("B", "1.3")}

    def test_missing_columns(self, tmp_path: Path) -> None:
        (tmp_path / "vs.csv").write_text("code,display\nA,x\n", encoding="utf-8")
        with pytest.raises(ProfileError, match="columns"):
            read_value_set(tmp_path, "vs.csv")

    def test_empty(self, tmp_path: Path) -> None:
        (tmp_path / "vs.csv").write_text("code,system_oid\n", encoding="utf-8")
        with pytest.raises(ProfileError, match="empty"):
            read_value_set(tmp_path, "vs.csv")


class TestShippedProfilesValidate:
    """The real value sets with the core rules: a CI-SIS-coded entry passes, Connectathon codes do not."""

    def test_dmp_coded_submission_accepted(self) -> None:
        assert [i for i in validate_submission(dmp_submission(), load_profile("dmp")) if i.is_error] == []

    def test_connectathon_codes_refused_by_dmp(self) -> None:
        doc = dmp_document(class_code=code("Education"))
        found = validate_submission(dmp_submission(doc), load_profile("dmp"))
        assert any(i.location == "Document01/classCode" and "JDV_J57" in i.message for i in found)

    def test_masking_code_accepted_by_dmp(self) -> None:
        doc = dmp_document(
            confidentiality_codes=(code("N", HL7_CONFIDENTIALITY_OID), code("MASQUE_PS", DMP_VISIBILITY_OID))
        )
        assert [i for i in validate_submission(dmp_submission(doc), load_profile("dmp")) if i.is_error] == []

    def test_test_ins_only_in_dmp_test(self) -> None:
        pid = f"{INS}^^^&{TEST_NIR_OID}&ISO^NH"
        sub = dmp_submission(
            dmp_document(patient_id=pid, source_patient_id=pid), ss=submission_set(patient_id=pid)
        )
        production = validate_submission(sub, load_profile("dmp"))
        assert ErrorCode.UNKNOWN_PATIENT_ID in {i.code for i in production}
        assert [i for i in validate_submission(sub, load_profile("dmp-test")) if i.is_error] == []

    def test_ihe_profile_accepts_connectathon_metadata(self) -> None:
        assert [i for i in validate_submission(submission(), load_profile("ihe")) if i.is_error] == []

    def test_repository_profiles_folder_is_what_is_loaded(self) -> None:
        assert {p.stem for p in REPO_PROFILES.glob("*.toml")} == set(profile_names())
