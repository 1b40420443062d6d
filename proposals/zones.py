"""Time zones as people know them (issue 17): "Viet Nam time (UTC+7)", "Japan time (JST,
UTC+9)", the programme's zones first. The one home of how a zone is named, for the sign-up
form, the profile and the pages."""

import datetime
import functools
import zoneinfo
from typing import NamedTuple

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import City, Country
from .models.user import time_zone_choices
from .reference_data import read_rows


def utc_offset(zone: str, at: datetime.datetime | None = None) -> str:
    """The zone's offset from UTC at `at` (now): "UTC+7", "UTC+5:30", "UTC-3", "UTC"."""
    offset = (at or timezone.now()).astimezone(zoneinfo.ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60)
    if not minutes:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


@functools.cache
def _countries_by_zone() -> dict[str, str]:
    """The programme's countries by their capital's zone (data/countries.csv, read once; no
    query): "Asia/Ho_Chi_Minh" is Viet Nam's time."""
    return {row["time_zone"]: row["name"] for row in read_rows("countries.csv")}


def zone_label(zone: str, place: str = "", at: datetime.datetime | None = None) -> str:
    """How a zone is named: Japan's as JST, a place's as its time (a country's by default),
    any other by its name."""
    offset = utc_offset(zone, at)
    if not place and zone in _countries_by_zone():
        place = _(_countries_by_zone()[zone])
    if zone == settings.PROGRAMME_TIME_ZONE:
        return _("Japan time (JST, %(offset)s)") % {"offset": offset}
    if place:
        return _("%(place)s time (%(offset)s)") % {"place": place, "offset": offset}
    return f"{zone.replace('_', ' ')} ({offset})"


def programme_zones() -> list[tuple[str, str]]:
    """The zones of the programme's countries and cities (ASEAN and Japan), each named by its
    places, ordered by their offset from UTC."""
    places: dict[str, list[str]] = {}
    for country in Country.objects.order_by("name"):
        places.setdefault(country.time_zone, []).append(str(country))
    cities = City.objects.exclude(time_zone__in=places.keys()).order_by("name")
    for zone, city in cities.values_list("time_zone", "name"):
        if city not in places.setdefault(zone, []):
            places[zone].append(city)
    now = timezone.now()
    ordered = sorted(
        places, key=lambda zone: (now.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset(), zone)
    )
    return [(zone, zone_label(zone, ", ".join(places[zone]))) for zone in ordered]


def zone_choices() -> list:
    """Every zone, grouped: the programme's first (ASEAN and Japan), then all the others."""
    ours = programme_zones()
    known = {zone for zone, _label in ours}
    others = [(zone, zone_label(zone)) for zone, _name in time_zone_choices() if zone not in known]
    return [(_("ASEAN and Japan"), ours), (_("Other zones"), others)]


class Shown(NamedTuple):
    """An instant as one reader reads it in one zone: "1 Dec 2026, 23:59", "Da Nang time
    (UTC+7)" and whether the zone is the reader's own."""

    when: datetime.datetime
    zone: str
    yours: bool = False


def deadline_times(instant: datetime.datetime, city=None) -> list[Shown]:
    """How a deadline is shown everywhere (issue 17): in the city's own zone first, then in
    JST and in UTC, and in the reader's zone (the active one) marked "(your time)" where it
    differs from the city's. Without a city (a visitor, staff) the reader's zone comes first."""
    reader = timezone.get_current_timezone()
    first = city.time_zone if city is not None else str(reader)
    shown = [Shown(instant.astimezone(zoneinfo.ZoneInfo(first)), "")]
    if first == settings.PROGRAMME_TIME_ZONE:
        shown[0] = shown[0]._replace(zone="JST")
    elif first == "UTC":
        shown[0] = shown[0]._replace(zone="UTC")
    else:
        place = city.name if city is not None else ""
        shown[0] = shown[0]._replace(zone=zone_label(first, place, instant))
    for zone, label in ((settings.PROGRAMME_TIME_ZONE, "JST"), ("UTC", "UTC")):
        if zone != first:
            shown.append(Shown(instant.astimezone(zoneinfo.ZoneInfo(zone)), label))
    offset = instant.astimezone(reader).utcoffset()
    if city is not None and offset != shown[0].when.utcoffset():
        same = [n for n, entry in enumerate(shown) if entry.when.utcoffset() == offset]
        if same:
            shown[same[0]] = shown[same[0]]._replace(yours=True)
        else:
            shown.append(Shown(instant.astimezone(reader), "", yours=True))
    return shown
