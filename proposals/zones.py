"""Time zones as people know them (issue 17): "Viet Nam time (UTC+7)", "Japan time (JST,
UTC+9)", the programme's zones first. The one home of how a zone is named, for the sign-up
form, the profile and the pages."""

import datetime
import zoneinfo

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import City, Country
from .models.user import time_zone_choices


def utc_offset(zone: str, at: datetime.datetime | None = None) -> str:
    """The zone's offset from UTC at `at` (now): "UTC+7", "UTC+5:30", "UTC-3", "UTC"."""
    offset = (at or timezone.now()).astimezone(zoneinfo.ZoneInfo(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60)
    if not minutes:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def zone_label(zone: str, place: str = "") -> str:
    """How a zone is named: Japan's as JST, a place's as its time, any other by its name."""
    offset = utc_offset(zone)
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
        places.setdefault(country.time_zone, []).append(str(country.name))
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
