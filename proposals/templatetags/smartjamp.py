import datetime
import zoneinfo

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.html import format_html
from django.utils.timesince import timeuntil
from django.utils.translation import get_language, gettext

from .. import notifications
from ..models import STATUS_LABELS

register = template.Library()
JST = zoneinfo.ZoneInfo(settings.PROGRAMME_TIME_ZONE)
_MONTHS: dict[str, list[str]] = {}


def short_date(value: datetime.date) -> str:
    """`value` as "1 Dec 2026" in the active language: what `formats.date_format(value,
    "j M Y")` gives, without parsing the format and translating the month again for each of a
    list's rows."""
    language = get_language()
    months = _MONTHS.get(language)
    if months is None:
        months = _MONTHS[language] = [""] + [str(MONTHS_3[n]).title() for n in range(1, 13)]
    return f"{value.day} {months[value.month]} {value.year}"


def short_datetime(value: datetime.datetime) -> str:
    """`value` as "1 Dec 2026, 10:00" (`short_date` and the time)."""
    return f"{short_date(value)}, {value.hour:02d}:{value.minute:02d}"


@register.filter
def inert(value) -> str:
    """A value typed by a user, defanged so that no mail client turns it into a link."""
    return notifications.inert(value)


@register.filter
def zones(value) -> str:
    """An instant in the reader's zone with JST beside it: "1 Dec 2026, 10:00 (Asia/…) · 12:00 JST"."""
    if value is None:
        return ""
    shown = short_datetime(timezone.localtime(value))
    zone = timezone.get_current_timezone_name()
    if zone == settings.PROGRAMME_TIME_ZONE:
        return f"{shown} JST"
    return f"{shown} ({zone}) · {short_datetime(timezone.localtime(value, JST))} JST"


@register.simple_tag
def deadline(instant, now=None):
    """An instant in the reader's zone, with JST, UTC and the time left (one tag, not an
    include: it is on every row of the call and proposal lists)."""
    if instant is None:
        return ""
    local = timezone.localtime(instant)
    jst = timezone.localtime(instant, JST)
    utc = instant.astimezone(datetime.UTC)
    left = ""
    if now is not None and instant > now:
        left = " · " + gettext("%(left)s left") % {"left": timeuntil(instant, now)}
    return format_html(
        '<span class="deadline"><time datetime="{}"><strong>{}</strong> {}</time>'
        '<span class="text-muted small d-block">{} JST · {} UTC{}</span></span>',
        utc.isoformat(),
        short_datetime(local),
        timezone.get_current_timezone_name(),
        short_datetime(jst),
        short_datetime(utc),
        left,
    )


@register.simple_tag
def deadline_short(instant):
    """The lighter form for lists: the reader's time and JST (the call's page has all three)."""
    if instant is None:
        return ""
    local = timezone.localtime(instant)
    zone = timezone.get_current_timezone_name()
    if zone == settings.PROGRAMME_TIME_ZONE:
        return format_html("<strong>{}</strong> JST", short_datetime(local))
    jst = timezone.localtime(instant, JST)
    return format_html(
        "<strong>{}</strong> {} · {} JST", short_datetime(local), zone, f"{jst:%H:%M}"
    )


@register.simple_tag
def status_badge(proposal):
    """A proposal's status as a badge (a tag, not an include: it is on every row of lists)."""
    label = STATUS_LABELS.get(proposal.status, proposal.status)
    return format_html('<span class="badge status status-{}">{}</span>', proposal.status, label)


@register.simple_tag
def verification_badge(city):
    return format_html(
        '<span class="badge badge-status-{}">{}</span>',
        city.verification_status,
        city.get_verification_status_display(),
    )
