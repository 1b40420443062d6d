"""Reports and exports of proposals: one queryset, one list of columns, three formats.

Rows come from a single statement (names of focus areas, sectors and partners aggregated by
the database, scores from the reviews' stored weighted scores, labels and JST times formatted
by it), read in chunks and written as they come, so an export's query count does not depend on
its rows and its memory stays flat.
"""

import csv as stdlib_csv
import datetime
import functools
import io
import json
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from defusedcsv import csv as defusedcsv
from django.conf import settings
from django.core.exceptions import EmptyResultSet, ImproperlyConfigured
from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from .models import STATUS_LABELS, Stage, Status
from .summaries import join_names

JST = zoneinfo.ZoneInfo(settings.PROGRAMME_TIME_ZONE)
SEPARATOR = "\x1f"  # joins names inside the database; never typed by anyone
CHUNK = 2000


def fiscal_year_bounds(year: int) -> tuple[datetime.datetime, datetime.datetime]:
    """Japan's fiscal year `year` runs from 1 April of that year to 1 April of the next, JST."""
    start = datetime.datetime(year, 4, 1, tzinfo=JST)
    return start, datetime.datetime(year + 1, 4, 1, tzinfo=JST)


@functools.cache
def fixed_utc_offset(zone_name: str) -> datetime.timedelta | None:
    """The zone's offset from UTC if it is the same on the 1st and 15th of every month from
    1970 to 2100 (Japan's has been +9:00 since 1951), else None: a zone with summer time.

    SQLite knows no time zones, so it can format the programme's times only with a fixed
    offset; PostgreSQL converts with the zone itself."""
    zone = zoneinfo.ZoneInfo(zone_name)
    offsets = {
        datetime.datetime(year, month, day, tzinfo=datetime.UTC).astimezone(zone).utcoffset()
        for year in range(1970, 2101)
        for month in range(1, 13)
        for day in (1, 15)
    }
    return offsets.pop() if len(offsets) == 1 else None


def _sql_jst(column: str) -> tuple[str, list]:
    """SQL for the instant `column` in the programme's zone as "2026-12-01 09:30" ('' if NULL)."""
    if connection.vendor == "postgresql":
        return f"COALESCE(to_char({column} AT TIME ZONE %s, 'YYYY-MM-DD HH24:MI'), '')", [
            settings.PROGRAMME_TIME_ZONE
        ]
    return f"COALESCE(strftime('%%Y-%%m-%%d %%H:%%M', {column}, %s), '')", [_sqlite_shift()]


def _sql_fiscal_year(column: str) -> tuple[str, list]:
    """SQL for the fiscal year (1 April to 31 March, JST) of the instant `column`, or NULL."""
    if connection.vendor == "postgresql":
        return (
            f"CAST(EXTRACT(YEAR FROM ({column} AT TIME ZONE %s) - INTERVAL '3 months') AS INTEGER)",
            [settings.PROGRAMME_TIME_ZONE],
        )
    return f"CAST(strftime('%%Y', {column}, %s, '-3 months') AS INTEGER)", [_sqlite_shift()]


def _sqlite_shift() -> str:
    offset = fixed_utc_offset(settings.PROGRAMME_TIME_ZONE)
    if offset is None:  # also reported by the system check in apps.py
        raise ImproperlyConfigured("PROGRAMME_TIME_ZONE has summer time; SQLite cannot use it.")
    return f"{offset.total_seconds() / 60:+.0f} minutes"


DECIDED = [Status.APPROVED, Status.REJECTED]


def _names(value: str) -> str:
    """Names joined by the database (in no particular order), as a summary holds them."""
    return join_names(value.split(SEPARATOR)) if SEPARATOR in value else value


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _blank_if_none(value):
    return "" if value is None else value


@dataclass(frozen=True)
class Column:
    """One export column: its key, its label, its value in SQL over the export statement's
    tables (a string, or a function giving the SQL and its parameters when it needs the
    database's dialect), and what Python still does to that value
    (where the databases would not agree, such as rounding halves)."""

    key: str
    label: str
    sql: str | Callable[[], tuple[str, list]]
    convert: Callable[[object], object] | None = None
    # For a choice: value -> label, translated once per export (a dictionary lookup per row
    # costs Python less than a CASE costs the database); unknown values stay as they are,
    # or become '' with `only_these`.
    choices: dict | None = None
    only_these: bool = False

    def converter(self) -> Callable[[object], object] | None:
        if self.choices is None:
            return self.convert
        labels = {value: str(label) for value, label in self.choices.items()}
        if self.only_these:
            return lambda value: labels.get(value, "")
        return lambda value: labels.get(value, value)

    def sql_and_params(self) -> tuple[str, list]:
        return (self.sql, []) if isinstance(self.sql, str) else self.sql()


def _from_summary(field: str, fallback: str) -> Callable[[], tuple[str, list]]:
    """The SQL of a column: the proposal's summary's `field` where the summary holds, else
    `fallback` (SQL over `p`, with {concat} and {sep} for the database's aggregate of names)."""

    def sql() -> tuple[str, list]:
        if connection.vendor not in CONCAT:
            raise ImproperlyConfigured("Exports support SQLite and PostgreSQL only.")
        computed = fallback.format(concat=CONCAT[connection.vendor], sep=SEPARATOR)
        # No summary row, or one not built since the last change: the condition is not true.
        return f"CASE WHEN s.built_version = s.version THEN s.{field} ELSE {computed} END", []

    return sql


def _names_column(key: str, label: str, names: str) -> Column:
    """A column of names, held by the summary's field `key`, else aggregated by `names`."""
    return Column(key, label, _from_summary(key, f"COALESCE(({names}), '')"), convert=_names)


# The figures of the submitted reviews of the proposal `p` (aggregate below).
_OF_SUBMITTED_REVIEWS = """(SELECT {aggregate} FROM proposals_review r
    JOIN proposals_reviewassignment a ON a.id = r.assignment_id
    WHERE a.proposal_id = p.id AND r.submitted_at IS NOT NULL
      AND r.weighted_score IS NOT NULL)"""


def _review_figure(field: str, aggregate: str) -> Callable[[], tuple[str, list]]:
    return _from_summary(field, _OF_SUBMITTED_REVIEWS.replace("{aggregate}", aggregate))


def _spread() -> tuple[str, list]:
    high, _params = _review_figure("high_score", "MAX(r.weighted_score)")()
    low, _params = _review_figure("low_score", "MIN(r.weighted_score)")()
    return f"({high}) - ({low})", []


CONCAT = {"sqlite": "GROUP_CONCAT", "postgresql": "STRING_AGG"}

COLUMNS = [
    Column("reference", _("Reference code"), "COALESCE(p.reference_code, '')"),
    Column("title", _("Title"), "p.title"),
    Column("city", _("City"), "ci.name"),
    Column("country", _("Country"), "co.name"),
    Column("call", _("Call"), "ca.title"),
    Column("stage", _("Stage"), "ca.stage", choices=dict(Stage.choices)),
    Column("status", _("Status"), "p.status", choices=STATUS_LABELS),
    Column("submitted", _("Submitted (JST)"), lambda: _sql_jst("p.submitted_at")),
    Column(
        "fiscal_year",
        _("Fiscal year"),
        lambda: _sql_fiscal_year("p.submitted_at"),
        convert=_blank_if_none,
    ),
    Column("decided", _("Decided (JST)"), lambda: _sql_jst("p.decided_at")),
    Column("requested_jpy", _("Requested (JPY)"), "p.requested_jpy"),
    Column("approved_jpy", _("Approved (JPY)"), "p.approved_jpy"),
    _names_column(
        "focus_areas",
        _("Focus areas"),
        """SELECT {concat}(f.name, '{sep}') FROM proposals_proposal_focus_areas t
        JOIN proposals_focusarea f ON f.id = t.focusarea_id WHERE t.proposal_id = p.id""",
    ),
    _names_column(
        "sectors",
        _("Sectors"),
        """SELECT {concat}(x.name, '{sep}') FROM proposals_proposal_sectors t
        JOIN proposals_sector x ON x.id = t.sector_id WHERE t.proposal_id = p.id""",
    ),
    _names_column(
        "partners",
        _("Japanese partners"),
        "SELECT {concat}(j.name, '{sep}') FROM proposals_japanesepartner j "
        "WHERE j.proposal_id = p.id",
    ),
    Column("reviews", _("Reviews"), _review_figure("reviews", "COUNT(*)")),
    Column(
        "mean_score",
        _("Mean score"),
        _review_figure("mean_score", "AVG(r.weighted_score)"),
        convert=_rounded,
    ),
    Column("spread", _("Spread"), _spread, convert=_rounded),
    Column(
        "decision",
        _("Decision"),
        "p.status",
        choices={value: STATUS_LABELS[value] for value in DECIDED},
        only_these=True,
    ),
]
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}


def chosen_columns(keys: Iterable[str] | None) -> list[Column]:
    keys = [key for key in (keys or []) if key in COLUMNS_BY_KEY]
    return [COLUMNS_BY_KEY[key] for key in keys] if keys else list(COLUMNS)


# One statement for every export, whatever its size. Names and scores come from the proposals'
# summaries where they hold (summaries.py), else from correlated subqueries for that proposal
# only; JST times are formatted by the database, so that Python only writes (and looks up labels).
# The summary is joined on its key alone, and whether it holds is asked per column: in the join,
# a condition comparing two of its columns made PostgreSQL guess that 0.5% of the summaries hold,
# and plan a server-side cursor's fast start as a nested loop over every pair of proposal and
# summary (6.5 s instead of 0.1 s for 20,000 proposals).

EXPORT_SQL = """
SELECT {columns}
FROM proposals_proposal p
JOIN proposals_city ci ON ci.id = p.city_id
JOIN proposals_country co ON co.iso2 = ci.country_id
JOIN proposals_call ca ON ca.id = p.call_id
LEFT JOIN proposals_proposalsummary s ON s.proposal_id = p.id
WHERE p.id IN ({chosen})
ORDER BY p.id
"""


def export_statement(
    queryset, columns: list[Column], *, limit: int | None = None
) -> tuple[str, list] | None:
    """The export statement of `columns` for the proposals of `queryset` (the first `limit`
    by their order of creation) and its parameters; None when nothing can match."""
    chosen = queryset.order_by("pk").values("pk")
    if limit is not None:
        chosen = chosen[:limit]
    try:
        chosen_sql, chosen_params = chosen.query.sql_with_params()
    except EmptyResultSet:  # a filter that nothing can match, such as `.none()`
        return None
    selects, params = [], []
    for column in columns:
        sql, column_params = column.sql_and_params()
        selects.append(sql)
        params += column_params
    statement = EXPORT_SQL.format(chosen=chosen_sql, columns=", ".join(selects))
    # The columns' parameters come first: they open the statement, the chosen ones close it.
    return statement, [*params, *chosen_params]


def proposal_rows(queryset, columns: list[Column], *, limit: int | None = None) -> Iterator[list]:
    """The values of `columns` for each proposal of `queryset` (the first `limit` by their
    order of creation), from one statement read in chunks, as lists."""
    statement = export_statement(queryset, columns, limit=limit)
    if statement is None:
        return
    converters = [(index, convert) for index, c in enumerate(columns) if (convert := c.converter())]
    with connection.chunked_cursor() as cursor:
        cursor.execute(*statement)
        while batch := cursor.fetchmany(CHUNK):
            for row in batch:
                row = list(row)
                for index, convert in converters:
                    row[index] = convert(row[index])
                yield row


# Writers ---------------------------------------------------------------------------------------


# defusedcsv's rule (a leading = + - @ | % makes a formula, unless the cell is a plain number)
# applies only to text starting with one of those; OWASP also lists a leading tab and carriage
# return, which it leaves alone, so those get the same leading apostrophe here.
_RISKY = frozenset("=+-@|%\t\r")


def _defused(value: str) -> str:
    if value[0] in "\t\r":
        return "'" + value
    return defusedcsv._escape(value)


def csv_stream(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    """UTF-8 CSV with a byte-order mark (for Excel), formula-safe, in chunks of rows.

    Only the cells that can be read as a formula go through defusedcsv (one test of their
    first character); the rest are written as they are by the standard library's writer."""
    buffer = io.StringIO()
    writer = stdlib_csv.writer(buffer)
    labels = [str(label) for label in header]
    writer.writerow([_defused(label) if label[:1] in _RISKY else label for label in labels])
    yield "\ufeff" + buffer.getvalue()
    risky = _RISKY
    batch = []
    for row in rows:
        batch.append(
            [
                _defused(value) if value.__class__ is str and value and value[0] in risky else value
                for value in row
            ]
        )
        if len(batch) == 1000:
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(batch)
            batch = []
            yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    writer.writerows(batch)
    yield buffer.getvalue()


def _xlsx_cell(sheet, value):
    cell = WriteOnlyCell(
        sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value
    )
    if isinstance(value, str):
        cell.data_type = "s"  # text, never a formula, whatever it starts with
    return cell


def write_xlsx(
    target,
    header: list[str],
    rows: Iterable[list],
    *,
    title: str = "Proposals",
    progress: Callable[[int], None] | None = None,
) -> int:
    """An Excel workbook in openpyxl's write-only mode (rows are not kept in memory)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append([_xlsx_cell(sheet, str(label)) for label in header])
    count = 0
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
        count += 1
        if progress and count % 500 == 0:
            progress(count)
    workbook.save(target)
    return count


def json_stream(keys: list[str], rows: Iterable[list]) -> Iterator[str]:
    yield "["
    first = True
    for row in rows:
        yield ("" if first else ",") + json.dumps(
            dict(zip(keys, row, strict=True)), ensure_ascii=False
        )
        first = False
    yield "]"


# Summaries -------------------------------------------------------------------------------------


def summary(queryset, by: str) -> tuple[list[str], list[list]]:
    """Counts and requested / approved JPY by country, sector or status."""
    group = {"country": "city__country__name", "sector": "sectors__name", "status": "status"}[by]
    rows = (
        queryset.order_by()
        .values(group)
        .annotate(
            count=Count("pk", distinct=True),
            requested=Sum("requested_jpy"),
            approved=Sum("approved_jpy"),
        )
        .order_by(group)
    )
    label = {"country": _("Country"), "sector": _("Sector"), "status": _("Status")}[by]
    header = [str(label), str(_("Proposals")), str(_("Requested (JPY)")), str(_("Approved (JPY)"))]
    values = []
    for row in rows:
        name = row[group]
        if by == "status":
            name = str(STATUS_LABELS[name])
        values.append([name, row["count"], row["requested"] or 0, row["approved"] or 0])
    # The group of proposals without one (no sector yet) last, whatever the database's NULLs do.
    values.sort(key=lambda row: (row[0] is None, str(row[0] or "")))
    for row in values:
        row[0] = row[0] if row[0] is not None else str(_("(none)"))
    return header, values


def review_progress(queryset) -> tuple[list[str], list[list]]:
    """Per reviewer: assignments, submitted, outstanding, overdue, declined."""
    from django.utils import timezone

    from .models import AssignmentState, ReviewAssignment

    today = timezone.localtime(timezone.now(), JST).date()
    open_states = [AssignmentState.AWAITING_DECLARATION, AssignmentState.ACCEPTED]
    rows = (
        ReviewAssignment.objects.filter(proposal__in=queryset.order_by().values("pk"))
        .values("reviewer__email", "reviewer__full_name")
        .annotate(
            total=Count("pk"),
            submitted=Count("pk", filter=Q(state=AssignmentState.SUBMITTED)),
            outstanding=Count("pk", filter=Q(state__in=open_states)),
            overdue=Count("pk", filter=Q(state__in=open_states, due__lt=today)),
            declined=Count("pk", filter=Q(state=AssignmentState.DECLINED)),
        )
        .order_by("reviewer__email")
    )
    header = [
        str(h)
        for h in (
            _("Reviewer"),
            _("Email"),
            _("Assigned"),
            _("Submitted"),
            _("Outstanding"),
            _("Overdue"),
            _("Declined"),
        )
    ]
    return header, [
        [
            r["reviewer__full_name"],
            r["reviewer__email"],
            r["total"],
            r["submitted"],
            r["outstanding"],
            r["overdue"],
            r["declined"],
        ]
        for r in rows
    ]


def ranking_rows(call, by: str = "score") -> tuple[list[str], list[list]]:
    from .scoring import call_ranking

    header = [
        str(h)
        for h in (
            _("Rank"),
            _("Reference code"),
            _("Title"),
            _("City"),
            _("Status"),
            _("Reviews"),
            _("Score"),
            _("Normalised"),
            _("Spread"),
            _("Requested (JPY)"),
        )
    ]
    rows = []
    for rank, (proposal, score) in enumerate(call_ranking(call, by=by), start=1):
        rows.append(
            [
                rank,
                proposal.reference_code or "",
                proposal.title,
                proposal.city.name,
                str(STATUS_LABELS[proposal.status]),
                score.count,
                None if score.score is None else round(score.score, 2),
                None if score.normalised is None else round(score.normalised, 2),
                None if score.spread is None else round(score.spread, 2),
                proposal.requested_jpy,
            ]
        )
    return header, rows
