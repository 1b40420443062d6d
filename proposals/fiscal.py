"""Japan's fiscal year and the programme's zone (JST): the one home of these calendar rules,
used by the models, reports, filters and the project pipeline."""

import datetime
import zoneinfo

from django.conf import settings
from django.utils import timezone

JST = zoneinfo.ZoneInfo(settings.PROGRAMME_TIME_ZONE)


def fiscal_year_bounds(year: int) -> tuple[datetime.datetime, datetime.datetime]:
    """Japan's fiscal year `year` runs from 1 April of that year to 1 April of the next, JST."""
    start = datetime.datetime(year, 4, 1, tzinfo=JST)
    return start, datetime.datetime(year + 1, 4, 1, tzinfo=JST)


def fiscal_year(moment: datetime.datetime | None) -> int | str:
    """The fiscal year of `moment` (see fiscal_year_bounds); '' for none."""
    if moment is None:
        return ""
    local = moment.astimezone(JST)
    return local.year if local.month >= 4 else local.year - 1


def fiscal_year_end(year: int) -> datetime.date:
    """The last day of fiscal year `year` (31 March of the next calendar year): a survey
    funded in JFY 2026 reports by 31 March 2027."""
    return fiscal_year_bounds(year)[1].date() - datetime.timedelta(days=1)


def jst_today() -> datetime.date:
    """Today's date in the programme's zone (what "overdue" is measured by)."""
    return timezone.localtime(timezone.now(), JST).date()
