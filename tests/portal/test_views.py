"""The times the pages show: every page in French time, whatever the source (XDS metadata DTMs are UTC, the
trail's and the mailbox's moments are aware datetimes), so a document deposited at 15h24 UTC in winter reads
16h24 on the Documents page, as its deposit reads in the Historique."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from xds_server.portal.views import dtm, french_zone, local, when

pytestmark = pytest.mark.skipif(french_zone() is UTC, reason="no time zone database on this machine")


class TestFrenchTime:
    def test_a_metadata_dtm_is_utc(self) -> None:
        assert dtm("20261207152400") == "07/12/2026 à 16h24"  # winter: UTC+1
        assert dtm("202607011524") == "01/07/2026 à 17h24"  # summer: UTC+2

    def test_a_dtm_crossing_midnight_changes_the_day(self) -> None:
        assert dtm("20261231233000") == "01/01/2027 à 00h30"

    def test_a_date_alone_is_shown_as_given(self) -> None:
        assert dtm("20261207") == "07/12/2026"

    def test_not_a_dtm_is_shown_as_given(self) -> None:
        assert dtm("hier") == "hier"
        assert dtm(None) == ""

    def test_dtm_and_trail_agree(self) -> None:
        moment = datetime(2026, 12, 7, 15, 24, tzinfo=UTC)
        assert dtm("20261207152400") == local(moment) == when(moment)

    def test_other_offsets_and_naive_moments(self) -> None:
        new_york = timezone(timedelta(hours=-5))
        assert local(datetime(2026, 12, 7, 10, 24, tzinfo=new_york)) == "07/12/2026 à 16h24"
        assert when(datetime(2026, 12, 7, 15, 24)) == "07/12/2026 à 16h24"  # naive: UTC, as stored
        assert when(None) == ""
