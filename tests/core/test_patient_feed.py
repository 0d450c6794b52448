"""core.patient_feed: choosing the domain id, combining record settings (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.core.builders import INS, NIR_OID
from xds_server.core.patient_feed import FeedProblem, FeedRefused, choose_patient_id, combine_settings
from xds_server.core.policy import RecordSettings
from xds_server.core.ports import PatientState
from xds_server.core.profile import IHE_DEFAULT
from xds_server.terminology import load_profile


class TestChoosePatientId:
    def test_ihe_takes_the_first_iso_authority(self) -> None:
        chosen = choose_patient_id(["L1^^^HOSP", "A^^^&1.2.3&ISO", "B^^^&1.2.4&ISO"], IHE_DEFAULT)
        assert chosen.patient_id == "A^^^&1.2.3&ISO"
        assert chosen.cross_references == ("L1^^^HOSP", "B^^^&1.2.4&ISO")

    def test_dmp_canonical_form(self) -> None:
        assert choose_patient_id([f"{INS}^^^&{NIR_OID}&ISO"], load_profile("dmp")).patient_id.endswith("^NH")

    def test_nothing_of_the_domain(self) -> None:
        with pytest.raises(FeedRefused) as caught:
            choose_patient_id(["L1^^^HOSP"], load_profile("dmp"))
        assert caught.value.problem is FeedProblem.NO_DOMAIN_ID


class TestCombineSettings:
    kept = RecordSettings(
        "NEW",
        state=PatientState.ACTIVATED,
        authorised=frozenset({"A", "B"}),
        blocked=frozenset({"X"}),
        medecin_traitant="MT1",
        administrators=frozenset({"ADM"}),
        samu_allowed=True,
        break_glass_allowed=False,
        legal_representatives=frozenset({"R1", "R2"}),
    )
    gone = RecordSettings(
        "OLD",
        state=PatientState.CLOSED,
        authorised=frozenset({"B", "C"}),
        blocked=frozenset({"Y"}),
        medecin_traitant="MT2",
        administrators=frozenset({"ADM"}),
        samu_allowed=False,
        break_glass_allowed=True,
        birth_date=date(2012, 5, 1),
        minor=True,
        legal_representatives=frozenset({"R2"}),
    )

    def test_restrictions_add_up_and_grants_need_both(self) -> None:
        merged = combine_settings(self.kept, self.gone)
        assert merged.patient_id == "NEW"
        assert merged.state is PatientState.CLOSED
        assert merged.authorised == frozenset({"B"})
        assert merged.blocked == frozenset({"X", "Y"})
        assert merged.medecin_traitant is None  # they disagree
        assert merged.administrators == frozenset({"ADM"})
        assert (merged.samu_allowed, merged.break_glass_allowed) == (False, False)
        assert merged.birth_date == date(2012, 5, 1) and merged.minor
        assert merged.legal_representatives == frozenset({"R2"})

    @pytest.mark.parametrize(
        ("a", "b", "expected"),
        [
            (PatientState.CREATED, PatientState.ACTIVATED, PatientState.ACTIVATED),
            (PatientState.ACTIVATED, PatientState.CLOSED, PatientState.CLOSED),
            (PatientState.CLOSED, PatientState.OPPOSED, PatientState.OPPOSED),
            (PatientState.OPPOSED, PatientState.CREATED, PatientState.OPPOSED),
        ],
    )
    def test_the_more_protective_state(
        self, a: PatientState, b: PatientState, expected: PatientState
    ) -> None:
        assert combine_settings(RecordSettings("N", state=a), RecordSettings("O", state=b)).state is expected
        assert combine_settings(RecordSettings("N", state=b), RecordSettings("O", state=a)).state is expected
