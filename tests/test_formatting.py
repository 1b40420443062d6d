"""One date and amount format per language, and deadlines in the city's zone, JST and UTC."""

import datetime
import zoneinfo
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.utils import formats, timezone, translation

from proposals.templatetags.smartjamp import deadline, short_date, short_datetime, yen, zones_text

# One date format per language (smartjamp/formats), the portal's and the admin's alike.
FORMATS = {
    "en": ("1 Dec 2026", "1 Dec 2026, 23:59", "¥45,000,000"),
    "ja": ("2026年12月1日", "2026年12月1日 23:59", "¥45,000,000"),
    "vi": ("01/12/2026", "01/12/2026 23:59", "¥45.000.000"),
    "th": ("1 ธ.ค. 2026", "1 ธ.ค. 2026 23:59", "¥45,000,000"),
    "id": ("1 Des 2026", "1 Des 2026 23.59", "¥45.000.000"),
}
DA_NANG = SimpleNamespace(name="Da Nang", time_zone="Asia/Ho_Chi_Minh")
# 23:59 in Da Nang: 01:59 JST the next day, 16:59 UTC.
CLOSES = datetime.datetime(2026, 12, 1, 23, 59, tzinfo=zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh"))


@pytest.mark.parametrize("language", FORMATS)
def test_one_date_and_amount_format_per_language(language):
    day, moment, amount = FORMATS[language]
    with translation.override(language):
        assert short_date(datetime.date(2026, 12, 1)) == day
        assert short_datetime(datetime.datetime(2026, 12, 1, 23, 59)) == moment
        assert formats.date_format(datetime.date(2026, 12, 1)) == day  # the admin's |date
        assert yen(45_000_000) == amount
    assert set(FORMATS) == {code for code, _name in settings.LANGUAGES}


def test_a_deadline_in_the_citys_zone_jst_and_utc():
    with timezone.override("Asia/Ho_Chi_Minh"), translation.override("en"):
        shown = str(deadline(CLOSES, city=DA_NANG))
        text = zones_text(CLOSES, DA_NANG)
    assert "<strong>1 Dec 2026, 23:59</strong> Da Nang time (UTC+7)" in shown
    assert "2 Dec 2026, 01:59 JST · 1 Dec 2026, 16:59 UTC" in shown
    assert "your time" not in shown  # the reader lives in the city's zone
    assert (
        text
        == "1 Dec 2026, 23:59 Da Nang time (UTC+7) · 2 Dec 2026, 01:59 JST · 1 Dec 2026, 16:59 UTC"
    )


def test_a_reader_elsewhere_sees_their_own_time_marked():
    with timezone.override("Asia/Tokyo"), translation.override("en"):
        assert zones_text(CLOSES, DA_NANG) == (
            "1 Dec 2026, 23:59 Da Nang time (UTC+7) · 2 Dec 2026, 01:59 JST (your time)"
            " · 1 Dec 2026, 16:59 UTC"
        )
    with timezone.override("Europe/Paris"), translation.override("en"):
        assert zones_text(CLOSES, DA_NANG).endswith(
            "1 Dec 2026, 16:59 UTC · 1 Dec 2026, 17:59 (your time)"
        )


def test_without_a_city_the_readers_zone_comes_first():
    with timezone.override("Asia/Bangkok"), translation.override("en"):
        assert zones_text(CLOSES) == (
            "1 Dec 2026, 23:59 Thailand time (UTC+7) · 2 Dec 2026, 01:59 JST · 1 Dec 2026, 16:59 UTC"
        )
    with timezone.override("UTC"), translation.override("en"):
        assert zones_text(CLOSES) == "1 Dec 2026, 16:59 UTC · 2 Dec 2026, 01:59 JST"
    with timezone.override("Asia/Tokyo"), translation.override("ja"):
        assert zones_text(CLOSES) == "2026年12月2日 01:59 JST · 2026年12月1日 16:59 UTC"


def test_the_time_left_follows_the_zones():
    now = CLOSES - datetime.timedelta(days=3)
    with timezone.override("Asia/Ho_Chi_Minh"), translation.override("en"):
        assert "16:59 UTC · 3\xa0days left" in str(deadline(CLOSES, now, city=DA_NANG))


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


def test_a_city_name_in_an_emails_deadline_is_no_link():
    city = SimpleNamespace(name="evil.example.com", time_zone="Asia/Ho_Chi_Minh")
    with timezone.override("Asia/Ho_Chi_Minh"), translation.override("en"):
        text = zones_text(CLOSES, city)
    assert "evil.example.com" not in text
    assert text.endswith("· 2 Dec 2026, 01:59 JST · 1 Dec 2026, 16:59 UTC")
