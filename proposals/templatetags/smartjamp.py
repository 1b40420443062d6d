import datetime

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.db.models import Prefetch, prefetch_related_objects
from django.utils import formats
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timeuntil
from django.utils.translation import get_language, gettext

from .. import notifications, zones
from ..models import STATUS_LABELS, CriterionFeedback, EvaluationSummary

register = template.Library()


def short_date(value: datetime.date) -> str:
    """`value` in the active language's date format (smartjamp/formats): "1 Dec 2026"."""
    return formats.date_format(value, "DATE_FORMAT")


def short_datetime(value: datetime.datetime) -> str:
    """`value` in the active language's date and time format: "1 Dec 2026, 23:59"."""
    return formats.date_format(value, "DATETIME_FORMAT")


@register.filter
def yen(amount) -> str:
    """An amount in yen as the reader's language writes it: "¥45,000,000" ("—" if none)."""
    return "—" if amount is None else f"¥{intcomma(amount)}"


@register.filter
def zone_name(zone: str, place: str = "") -> str:
    """A zone as people know it: "Da Nang time (UTC+7)", "Japan time (JST, UTC+9)"."""
    return zones.zone_label(zone, place) if zone else ""


@register.filter
def inert(value) -> str:
    """A value typed by a user, defanged so that no mail client turns it into a link."""
    return notifications.inert(value)


def _label(shown: zones.Shown) -> str:
    if shown.yours:
        return (
            gettext("%(label)s (your time)") % {"label": shown.zone}
            if shown.zone
            else gettext("(your time)")
        )
    return shown.zone


@register.filter(name="zones")
def zones_text(value, city=None) -> str:
    """A deadline as plain text, for emails: "1 Dec 2026, 23:59 Da Nang time (UTC+7) ·
    2 Dec 2026, 01:59 JST · 1 Dec 2026, 16:59 UTC" (`zones.deadline_times`). Defanged like
    every typed value in an email (`inert`): the city's name is typed at registration."""
    if value is None:
        return ""
    return notifications.inert(
        " · ".join(
            f"{short_datetime(shown.when)} {_label(shown)}"
            for shown in zones.deadline_times(value, city)
        )
    )


@register.simple_tag
def deadline(instant, now=None, city=None):
    """A deadline in the city's zone, JST and UTC, and the reader's own where it differs
    (`zones.deadline_times`), with the time left: one tag, on every page and list row."""
    if instant is None:
        return ""
    first, *others = zones.deadline_times(instant, city)
    rest = [format_html("{} {}", short_datetime(shown.when), _label(shown)) for shown in others]
    if now is not None and instant > now:
        rest.append(gettext("%(left)s left") % {"left": timeuntil(instant, now)})
    return format_html(
        '<span class="deadline"><time datetime="{}"><strong>{}</strong> {}</time>'
        '<span class="text-muted small d-block">{}</span></span>',
        instant.astimezone(datetime.UTC).isoformat(),
        short_datetime(first.when),
        _label(first),
        format_html_join(" · ", "{}", ((part,) for part in rest)),
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


@register.simple_tag
def evaluation_summary(proposal):
    """The proposal's evaluation summary for a reader of the active language
    (Proposal.evaluation_summary_for), read with its criteria in three queries."""
    prefetch_related_objects(
        [proposal],
        Prefetch(
            "evaluation_summaries",
            queryset=EvaluationSummary.objects.prefetch_related(
                Prefetch("criteria", queryset=CriterionFeedback.objects.select_related("criterion"))
            ),
        ),
    )
    return proposal.evaluation_summary_for(get_language())
