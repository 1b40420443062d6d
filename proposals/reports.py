"""Reports and exports of proposals: one queryset, one list of columns, three formats.

Rows come from a single query (names of focus areas, sectors and partners are aggregated by
the database, scores by `with_score_summary`), iterated in chunks and written as they come, so
an export's query count does not depend on its rows and its memory stays flat.
"""

import csv as stdlib_csv
import datetime
import io
import json
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter

from defusedcsv import csv as defusedcsv
from django.conf import settings
from django.db import connection
from django.db.models import Aggregate, CharField, Count, OuterRef, Q, Subquery, Sum
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from .models import FocusArea, JapanesePartner, Proposal, Sector, Stage, Status

JST = zoneinfo.ZoneInfo(settings.PROGRAMME_TIME_ZONE)
SEPARATOR = "\x1f"  # joins names inside the database; never typed by anyone
CHUNK = 2000


class JoinedNames(Aggregate):
    """The names of a group joined by SEPARATOR (GROUP_CONCAT / STRING_AGG)."""

    function = "GROUP_CONCAT"
    template = "%(function)s(%(expressions)s, '" + SEPARATOR + "')"
    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, function="STRING_AGG", **extra)


def _names(queryset, group_by: str):
    return Subquery(queryset.values(group_by).annotate(names=JoinedNames("name")).values("names"))


VERSION_KEY = "reports:data-version"


def fiscal_year(moment: datetime.datetime | None) -> int | None:
    """Japan's fiscal year (1 April to 31 March) of an instant, in JST: FY2026 starts 2026-04-01."""
    if moment is None:
        return None
    local = moment.astimezone(JST)
    return local.year if local.month >= 4 else local.year - 1


def fiscal_year_bounds(year: int) -> tuple[datetime.datetime, datetime.datetime]:
    start = datetime.datetime(year, 4, 1, tzinfo=JST)
    return start, datetime.datetime(year + 1, 4, 1, tzinfo=JST)


def export_queryset(queryset=None):
    """Proposals with everything the export columns need (EXPORT_FIELDS), for `.values_list()`."""
    queryset = Proposal.objects.all() if queryset is None else queryset
    return queryset.with_score_summary().annotate(
        _focus=_names(FocusArea.objects.filter(proposals=OuterRef("pk")), "proposals"),
        _sectors=_names(Sector.objects.filter(proposals=OuterRef("pk")), "proposals"),
        _partners=_names(JapanesePartner.objects.filter(proposal=OuterRef("pk")), "proposal"),
    )


def _sorted_names(value: str | None) -> str:
    return "; ".join(sorted(value.split(SEPARATOR))) if value else ""


def _date(moment) -> str:
    """An instant already in JST (rows carry their instants in JST), as "2026-12-01 09:30"."""
    return moment.isoformat(" ", "minutes")[:16] if moment else ""


STATUS_LABELS = dict(Status.choices)
STAGE_LABELS = dict(Stage.choices)
DECIDED = {Status.APPROVED, Status.REJECTED}

# Every export row is a tuple of these values, in this order, whichever way it was read (one
# SQL statement for whole exports, the ORM for the dashboard's first rows); instants in JST.
EXPORT_FIELDS = [
    "pk",
    "reference_code",
    "title",
    "city__name",
    "city__country__name",
    "call__title",
    "call__stage",
    "status",
    "submitted_at",
    "decided_at",
    "requested_jpy",
    "approved_jpy",
    "_focus",
    "_sectors",
    "_partners",
    "_reviews",
    "_mean",
    "_low",
    "_high",
]
_AT = {name: index for index, name in enumerate(EXPORT_FIELDS)}


@dataclass(frozen=True)
class Column:
    """One export column: its key, label, and how its value comes from a row tuple.

    `getter(labels)` gives the function from a row to the value, once per export; `labels`
    are the export's translated labels (`status`, `stage`: value -> label)."""

    key: str
    label: str
    getter: Callable[[dict], Callable[[tuple], object]]


def _plain(name: str):
    get = itemgetter(_AT[name])
    return lambda labels: get


def _with(name: str, convert):
    index = _AT[name]
    return lambda labels: lambda row: convert(row[index])


_STATUS, _STAGE = _AT["status"], _AT["call__stage"]

COLUMNS = [
    Column("reference", _("Reference code"), _with("reference_code", lambda v: v or "")),
    Column("title", _("Title"), _plain("title")),
    Column("city", _("City"), _plain("city__name")),
    Column("country", _("Country"), _plain("city__country__name")),
    Column("call", _("Call"), _plain("call__title")),
    Column("stage", _("Stage"), lambda labels: lambda row: labels["stage"].get(row[_STAGE], "")),
    Column("status", _("Status"), lambda labels: lambda row: labels["status"][row[_STATUS]]),
    Column("submitted", _("Submitted (JST)"), _with("submitted_at", _date)),
    Column(
        "fiscal_year",
        _("Fiscal year"),
        _with("submitted_at", lambda moment: fiscal_year(moment) or ""),
    ),
    Column("decided", _("Decided (JST)"), _with("decided_at", _date)),
    Column("requested_jpy", _("Requested (JPY)"), _plain("requested_jpy")),
    Column("approved_jpy", _("Approved (JPY)"), _plain("approved_jpy")),
    Column("focus_areas", _("Focus areas"), _with("_focus", _sorted_names)),
    Column("sectors", _("Sectors"), _with("_sectors", _sorted_names)),
    Column("partners", _("Japanese partners"), _with("_partners", _sorted_names)),
    Column("reviews", _("Reviews"), _plain("_reviews")),
    Column(
        "mean_score",
        _("Mean score"),
        _with("_mean", lambda mean: None if mean is None else round(mean, 2)),
    ),
    Column(
        "spread",
        _("Spread"),
        lambda labels: (
            lambda row: (
                None if row[_AT["_low"]] is None else round(row[_AT["_high"]] - row[_AT["_low"]], 2)
            )
        ),
    ),
    Column(
        "decision",
        _("Decision"),
        lambda labels: (
            lambda row: labels["status"][row[_STATUS]] if row[_STATUS] in DECIDED else ""
        ),
    ),
]
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}


def chosen_columns(keys: Iterable[str] | None) -> list[Column]:
    keys = [key for key in (keys or []) if key in COLUMNS_BY_KEY]
    return [COLUMNS_BY_KEY[key] for key in keys] if keys else list(COLUMNS)


def proposal_rows(queryset, columns: list[Column], *, limit: int | None = None) -> Iterator[list]:
    """One list of values per proposal, from a single query read in chunks."""
    # Labels translated once per export, not once per row.
    labels = {
        "status": {key: str(label) for key, label in STATUS_LABELS.items()},
        "stage": {key: str(label) for key, label in STAGE_LABELS.items()},
    }
    getters = [column.getter(labels) for column in columns]
    if limit is None and connection.vendor in EXPORT_SQL_FUNCTIONS:
        rows = _export_sql_rows(queryset)
    else:
        rows = export_queryset(queryset).order_by("pk").values_list(*EXPORT_FIELDS)
        if limit is not None:
            rows = rows[:limit]
        rows = (_in_jst(row) for row in rows.iterator(chunk_size=CHUNK))
    for row in rows:
        yield [get(row) for get in getters]


_SUBMITTED, _DECIDED = _AT["submitted_at"], _AT["decided_at"]


def _in_jst(row: tuple) -> tuple:
    """The row with its two instants in JST (SQLite's raw rows have naive UTC ones)."""
    row = list(row)
    for index in (_SUBMITTED, _DECIDED):
        moment = row[index]
        if isinstance(moment, datetime.datetime):
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
            row[index] = moment.astimezone(JST)
    return row


# Whole exports: one statement that aggregates names and scores once for all chosen proposals
# (hash joins) instead of correlated subqueries row by row; about twice as fast.

EXPORT_SQL_FUNCTIONS = {
    "sqlite": {"concat": "GROUP_CONCAT", "float": "REAL"},
    "postgresql": {"concat": "STRING_AGG", "float": "DOUBLE PRECISION"},
}
EXPORT_SQL = """
WITH chosen(id) AS ({chosen}),
scores AS (
    SELECT a.proposal_id, COUNT(*) AS n, AVG(r.weighted_score) AS mean,
           MIN(r.weighted_score) AS low, MAX(r.weighted_score) AS high
    FROM proposals_reviewassignment a
    JOIN proposals_review r ON r.assignment_id = a.id
    WHERE r.submitted_at IS NOT NULL AND r.weighted_score IS NOT NULL
      AND a.proposal_id IN (SELECT id FROM chosen)
    GROUP BY a.proposal_id
),
focus AS (
    SELECT t.proposal_id, {concat}(f.name, '{sep}') AS names
    FROM proposals_proposal_focus_areas t JOIN proposals_focusarea f ON f.id = t.focusarea_id
    WHERE t.proposal_id IN (SELECT id FROM chosen) GROUP BY t.proposal_id
),
sectors AS (
    SELECT t.proposal_id, {concat}(x.name, '{sep}') AS names
    FROM proposals_proposal_sectors t JOIN proposals_sector x ON x.id = t.sector_id
    WHERE t.proposal_id IN (SELECT id FROM chosen) GROUP BY t.proposal_id
),
partners AS (
    SELECT proposal_id, {concat}(name, '{sep}') AS names
    FROM proposals_japanesepartner WHERE proposal_id IN (SELECT id FROM chosen)
    GROUP BY proposal_id
)
SELECT p.id, p.reference_code, p.title, ci.name, co.name, ca.title, ca.stage, p.status,
       p.submitted_at, p.decided_at, p.requested_jpy, p.approved_jpy,
       focus.names, sectors.names, partners.names, COALESCE(scores.n, 0), scores.mean,
       scores.low, scores.high
FROM proposals_proposal p
JOIN chosen ON chosen.id = p.id
JOIN proposals_city ci ON ci.id = p.city_id
JOIN proposals_country co ON co.iso2 = ci.country_id
JOIN proposals_call ca ON ca.id = p.call_id
LEFT JOIN focus ON focus.proposal_id = p.id
LEFT JOIN sectors ON sectors.proposal_id = p.id
LEFT JOIN partners ON partners.proposal_id = p.id
LEFT JOIN scores ON scores.proposal_id = p.id
ORDER BY p.id
"""


def _export_sql_rows(queryset) -> Iterator[tuple]:
    chosen, params = queryset.order_by().values("pk").query.sql_with_params()
    sql = EXPORT_SQL.format(chosen=chosen, sep=SEPARATOR, **EXPORT_SQL_FUNCTIONS[connection.vendor])
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(CHUNK):
            yield from map(_in_jst, batch)


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
