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


# Working days: the consultation desk's clock (settings.DESK_FIRST_ANSWER_WORKING_DAYS). Monday
# to Friday in JST; Japan's public holidays are not counted out (no calendar of them here).


def is_working_day(day: datetime.date) -> bool:
    return day.weekday() < 5


def working_days_between(start: datetime.datetime, end: datetime.datetime) -> int:
    """How many working days (Monday–Friday, JST) began after `start` up to `end`: the days
    after the JST date of `start` up to and including the JST date of `end`. A request opened
    on a Friday is 0 days old until Monday 00:00 JST, then 1; 0 if `end` is not later."""
    first, last = start.astimezone(JST).date(), end.astimezone(JST).date()
    if last <= first:
        return 0
    weeks, rest = divmod((last - first).days, 7)
    # Every 7 days hold 5 working days; the days left over fall on the weekdays that follow
    # `first`'s.
    return weeks * 5 + sum(
        is_working_day(first + datetime.timedelta(days=n)) for n in range(1, rest + 1)
    )


def working_days_overdue_before(
    now: datetime.datetime | None = None, target: int | None = None
) -> datetime.datetime:
    """The moment before which something begun is more than `target` working days old at
    `now` (working_days_between(start, now) > target exactly when start is earlier): the
    start, in JST, of the (target + 1)th working day counted back from `now`'s date. So that
    the database can tell what is overdue (`created_at < this`) by the same rule."""
    target = settings.DESK_FIRST_ANSWER_WORKING_DAYS if target is None else target
    day = timezone.localtime(now or timezone.now(), JST).date()
    counted = 0
    while True:
        if is_working_day(day):
            counted += 1
            if counted > target:
                return datetime.datetime.combine(day, datetime.time(0), tzinfo=JST)
        day -= datetime.timedelta(days=1)
