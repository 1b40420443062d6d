"""The list pages' fast date formatting says exactly what Django's date formatting says."""

import datetime

import pytest
from django.utils import formats, timezone, translation

from proposals.templatetags.smartjamp import deadline_short, short_date, short_datetime

INSTANTS = [
    datetime.datetime(2026, 1, 5, 3, 7, tzinfo=datetime.UTC),
    datetime.datetime(2026, 5, 31, 23, 59, tzinfo=datetime.UTC),
    datetime.datetime(2027, 12, 1, 0, 0, tzinfo=datetime.UTC),
]


@pytest.mark.parametrize("language", ["en", "ja", "id", "th", "vi"])
def test_short_datetime_matches_djangos_date_format(language):
    with translation.override(language):
        for month in range(1, 13):
            for instant in INSTANTS:
                value = instant.replace(month=month, day=min(instant.day, 28))
                assert short_datetime(value) == formats.date_format(value, "j M Y, H:i")
                assert short_date(value.date()) == formats.date_format(value, "j M Y")


def test_deadline_short_shows_the_readers_zone_and_jst():
    instant = datetime.datetime(2026, 12, 1, 15, 0, tzinfo=datetime.UTC)
    with timezone.override("Asia/Ho_Chi_Minh"), translation.override("en"):
        assert deadline_short(instant) == (
            "<strong>1 Dec 2026, 22:00</strong> Asia/Ho_Chi_Minh · 00:00 JST"
        )
    with timezone.override("Asia/Tokyo"), translation.override("en"):
        assert deadline_short(instant) == "<strong>2 Dec 2026, 00:00</strong> JST"


@pytest.mark.parametrize("language", ["en", "ja", "vi", "th"])
def test_status_badge_says_what_get_status_display_says(language):
    from django.utils.html import escape

    from proposals.models import Proposal, Status
    from proposals.templatetags.smartjamp import status_badge

    with translation.override(language):
        for status in Status.values:
            proposal = Proposal(status=status)
            assert status_badge(proposal) == (
                f'<span class="badge status status-{status}">'
                f"{escape(proposal.get_status_display())}</span>"
            )
