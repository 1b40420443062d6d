import zoneinfo

from django import template
from django.conf import settings
from django.utils import formats, timezone

from .. import notifications

register = template.Library()


@register.filter
def inert(value) -> str:
    """A value typed by a user, defanged so that no mail client turns it into a link."""
    return notifications.inert(value)


@register.filter
def zones(value) -> str:
    """An instant in the reader's zone with JST beside it: "1 Dec 2026, 10:00 (Asia/…) · 12:00 JST"."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    jst = timezone.localtime(value, zoneinfo.ZoneInfo(settings.PROGRAMME_TIME_ZONE))
    shown = formats.date_format(local, "j M Y, H:i")
    zone = timezone.get_current_timezone_name()
    if zone == settings.PROGRAMME_TIME_ZONE:
        return f"{shown} JST"
    return f"{shown} ({zone}) · {formats.date_format(jst, 'j M Y, H:i')} JST"
