"""Reports and exports of proposals: one queryset, one list of columns, three formats.

Rows are read through the ORM: `values_list()` of the proposals' fields, the names of their
focus areas, sectors and partners (joined by the database, one subquery each) and their scores
(`Proposal.objects.with_scores()`), read with `.iterator(chunk_size=…)` and written as they
come, so an export's query count does not depend on its rows and its memory stays flat.
Python does what the databases would not agree on: times in JST, names sorted, rounding.
"""

import csv as stdlib_csv
import datetime
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from defusedcsv import csv as defusedcsv
from django.db.models import Aggregate, Count, OuterRef, Q, Subquery, Sum, TextField, Value
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from .fiscal import JST, fiscal_year, jst_today
from .models import (
    STATUS_LABELS,
    AssignmentState,
    JapanesePartner,
    Proposal,
    ReviewAssignment,
    Stage,
    Status,
)
from .scoring import call_ranking

CHUNK = 2000


def assignment_counts() -> dict:
    """Aggregates of review assignments by where they stand: `submitted`, `outstanding` (not
    yet declared or being reviewed) and `overdue` (outstanding past their due date)."""
    open_states = [AssignmentState.AWAITING_DECLARATION, AssignmentState.ACCEPTED]
    return {
        "submitted": Count("pk", filter=Q(state=AssignmentState.SUBMITTED)),
        "outstanding": Count("pk", filter=Q(state__in=open_states)),
        "overdue": Count("pk", filter=Q(state__in=open_states, due__lt=jst_today())),
    }


def jst(moment: datetime.datetime | None) -> str:
    """`moment` in the programme's zone as "2026-12-01 09:30"; '' for none."""
    return "" if moment is None else moment.astimezone(JST).strftime("%Y-%m-%d %H:%M")


SEPARATOR = "\x1f"  # joins names inside the database; never typed by anyone


class JoinedNames(Aggregate):
    """Names joined with SEPARATOR, in no particular order: SQLite's GROUP_CONCAT,
    PostgreSQL's STRING_AGG (Django 5.2's StringAgg is for PostgreSQL only)."""

    function = "GROUP_CONCAT"
    output_field = TextField()

    def __init__(self, expression):
        super().__init__(expression, Value(SEPARATOR))

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="STRING_AGG", **extra_context)


def _names_of(model, name: str) -> Subquery:
    """The names (`name`) of the rows of `model` that belong to the proposal."""
    return Subquery(
        model.objects.filter(proposal=OuterRef("pk"))
        .order_by()
        .values("proposal")
        .annotate(names=JoinedNames(name))
        .values("names")
    )


# The annotations an export may read besides the proposals' fields.
NAMES = {
    "focus_area_names": lambda: _names_of(Proposal.focus_areas.through, "focusarea__name"),
    "sector_names": lambda: _names_of(Proposal.sectors.through, "sector__name"),
    "partner_names": lambda: _names_of(JapanesePartner, "name"),
}
SCORES = {"review_count", "score", "score_spread"}  # Proposal.objects.with_scores()


def sorted_names(names: str | None) -> str:
    """Names as exports show them: sorted, joined by "; "."""
    if not names:
        return ""
    return "; ".join(sorted(names.split(SEPARATOR))) if SEPARATOR in names else names


def sorted_reference_names(names: str | None) -> str:
    """Focus areas or sectors as exports show them: in the reader's language (the reference
    names are in the catalogue; one staff added stays as stored), sorted, joined by "; "."""
    if not names:
        return ""
    return "; ".join(sorted(gettext(name) for name in names.split(SEPARATOR)))


def translated(name: str | None) -> str:
    """A reference name (a country's) in the reader's language, as its __str__ says."""
    return gettext(name) if name else ""


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _blank_if_none(value):
    return "" if value is None else value


@dataclass(frozen=True)
class Column:
    """One export column: its key, its label, what it reads (a field of the proposal, through
    its relations, or one of NAMES and SCORES), and what Python does to that value."""

    key: str
    label: str
    value: str
    convert: Callable[[object], object] | None = None
    # For a choice: value -> label, translated once per export; unknown values stay as they
    # are, or become '' with `only_these`.
    choices: dict | None = None
    only_these: bool = False

    def converter(self) -> Callable[[object], object] | None:
        if self.choices is None:
            return self.convert
        labels = {value: str(label) for value, label in self.choices.items()}
        if self.only_these:
            return lambda value: labels.get(value, "")
        return lambda value: labels.get(value, value)


DECIDED = [Status.APPROVED, Status.REJECTED]

COLUMNS = [
    Column("reference", _("Reference code"), "reference_code", convert=_blank_if_none),
    Column("title", _("Title"), "title"),
    Column("city", _("City"), "city__name"),
    Column("country", _("Country"), "city__country__name", convert=translated),
    Column("call", _("Call"), "call__title"),
    Column("stage", _("Stage"), "call__stage", choices=dict(Stage.choices)),
    Column("status", _("Status"), "status", choices=STATUS_LABELS),
    Column("submitted", _("Submitted (JST)"), "submitted_at", convert=jst),
    Column("fiscal_year", _("Fiscal year"), "submitted_at", convert=fiscal_year),
    Column("decided", _("Decided (JST)"), "decided_at", convert=jst),
    Column("requested_jpy", _("Requested (JPY)"), "requested_jpy"),
    Column("approved_jpy", _("Approved (JPY)"), "approved_jpy"),
    Column("focus_areas", _("Focus areas"), "focus_area_names", convert=sorted_reference_names),
    Column("sectors", _("Sectors"), "sector_names", convert=sorted_reference_names),
    Column("partners", _("Japanese partners"), "partner_names", convert=sorted_names),
    Column("reviews", _("Reviews"), "review_count"),
    # Mean or median, as each proposal's call says.
    Column("score", _("Score"), "score", convert=_rounded),
    Column("spread", _("Spread"), "score_spread", convert=_rounded),
    Column(
        "decision",
        _("Decision"),
        "status",
        choices={value: STATUS_LABELS[value] for value in DECIDED},
        only_these=True,
    ),
]
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}


class UnknownColumns(ValueError):
    """Column keys that no column has (the export says which, and stores nothing)."""

    def __init__(self, keys: list[str]):
        self.keys = keys
        super().__init__(
            gettext("Unknown column(s): %(unknown)s. The columns are: %(known)s.")
            % {"unknown": ", ".join(keys), "known": ", ".join(COLUMNS_BY_KEY)}
        )


def chosen_columns(keys: Iterable[str] | None) -> list[Column]:
    """The columns of `keys`, each either one key or several joined by commas (a form's
    repeated `columns=a&columns=b` and a typed `columns=a,b` alike); all columns for none.
    Raises UnknownColumns rather than quietly dropping a key that names no column."""
    wanted = [key.strip() for value in (keys or []) for key in value.split(",") if key.strip()]
    if unknown := [key for key in wanted if key not in COLUMNS_BY_KEY]:
        raise UnknownColumns(unknown)
    return [COLUMNS_BY_KEY[key] for key in dict.fromkeys(wanted)] or list(COLUMNS)


def proposal_rows(queryset, columns: list[Column], *, limit: int | None = None) -> Iterator[list]:
    """The values of `columns` for each proposal of `queryset` (the first `limit` by their
    order of creation), as lists, from one query read in chunks."""
    fields = list(dict.fromkeys(column.value for column in columns))
    # By id: a filter across a many-to-many relation may have made `queryset` distinct.
    proposals = Proposal.objects.filter(pk__in=queryset.values("pk")).order_by("pk")
    if SCORES.intersection(fields):
        proposals = proposals.with_scores()
    proposals = proposals.annotate(
        **{name: names() for name, names in NAMES.items() if name in fields}
    )
    if limit is not None:
        proposals = proposals[:limit]
    indexes = [fields.index(column.value) for column in columns]
    converters = [(n, convert) for n, c in enumerate(columns) if (convert := c.converter())]
    for row in proposals.values_list(*fields).iterator(chunk_size=CHUNK):
        values = [row[index] for index in indexes]
        for n, convert in converters:
            values[n] = convert(values[n])
        yield values


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

    def written(batch) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(batch)
        return buffer.getvalue()

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
            yield written(batch)
            batch = []
    yield written(batch)


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


def totals() -> dict:
    """Aggregates of a group of proposals: their `count`, `requested` and `approved` JPY."""
    return {
        "count": Count("pk", distinct=True),
        "requested": Sum("requested_jpy"),
        "approved": Sum("approved_jpy"),
    }


# What a summary groups by: the field and the column's label.
SUMMARY_BY = {
    "country": ("city__country__name", _("Country")),
    "sector": ("sectors__name", _("Sector")),
    "status": ("status", _("Status")),
}


def summary(queryset, by: str) -> tuple[list[str], list[list]]:
    """Counts and requested / approved JPY by country, sector or status."""
    group, label = SUMMARY_BY[by]
    rows = queryset.order_by().values(group).annotate(**totals()).order_by(group)
    header = [str(label), str(_("Proposals")), str(_("Requested (JPY)")), str(_("Approved (JPY)"))]
    values = []
    for row in rows:
        name = row[group]
        if by == "status":
            name = str(STATUS_LABELS[name])
        elif name is not None:
            name = gettext(name)  # a country or sector in the reader's language
        values.append([name, row["count"], row["requested"] or 0, row["approved"] or 0])
    # The group of proposals without one (no sector yet) last, whatever the database's NULLs do.
    values.sort(key=lambda row: (row[0] is None, str(row[0] or "")))
    for row in values:
        row[0] = row[0] if row[0] is not None else str(_("(none)"))
    return header, values


# The review progress report's columns: each one's label and the key of its value.
PROGRESS_COLUMNS = [
    (_("Reviewer"), "reviewer__full_name"),
    (_("Email"), "reviewer__email"),
    (_("Assigned"), "total"),
    (_("Submitted"), "submitted"),
    (_("Outstanding"), "outstanding"),
    (_("Overdue"), "overdue"),
    (_("Declined"), "declined"),
]


def review_progress(queryset) -> tuple[list[str], list[list]]:
    """Per reviewer: assignments, submitted, outstanding, overdue, declined."""
    rows = (
        ReviewAssignment.objects.filter(proposal__in=queryset.order_by().values("pk"))
        .values("reviewer__email", "reviewer__full_name")
        .annotate(
            total=Count("pk"),
            **assignment_counts(),
            declined=Count("pk", filter=Q(state=AssignmentState.DECLINED)),
        )
        .order_by("reviewer__email")
    )
    header = [str(label) for label, _key in PROGRESS_COLUMNS]
    return header, [[row[key] for _label, key in PROGRESS_COLUMNS] for row in rows]


# The ranking's columns after the rank: each one's label and value.
RANKING_COLUMNS = [
    (_("Reference code"), lambda proposal: proposal.reference_code or ""),
    (_("Title"), lambda proposal: proposal.title),
    (_("City"), lambda proposal: proposal.city.name),
    (_("Status"), lambda proposal: str(STATUS_LABELS[proposal.status])),
    (_("Reviews"), lambda proposal: proposal.review_count),
    (_("Score"), lambda proposal: _rounded(proposal.score)),
    (_("Normalised"), lambda proposal: _rounded(proposal.normalised)),
    (_("Spread"), lambda proposal: _rounded(proposal.score_spread)),
    (_("Consensus"), lambda proposal: _rounded(proposal.consensus and float(proposal.consensus))),
    (_("Requested (JPY)"), lambda proposal: proposal.requested_jpy),
]


# How a call's ranking may be ordered: by the raw combined score, by the score normalised per
# reviewer or by the consensus panel's (scoring.call_ranking); the rows hold all three.
RANKING_ORDERS = ("score", "normalised", "consensus")


def ranking_file_name(call, by: str = "score") -> str:
    """What a ranking's file is called (exports.download): "ranking-<call code>", and
    "-normalised" or "-consensus" when ordered by those scores."""
    return f"ranking-{call.code}" + ("" if by == "score" else f"-{by}")


def ranking_rows(call, by: str = "score") -> tuple[list[str], list[list]]:
    header = [str(_("Rank")), *(str(label) for label, _value in RANKING_COLUMNS)]
    rows = [
        [rank, *(value(proposal) for _label, value in RANKING_COLUMNS)]
        for rank, proposal in enumerate(call_ranking(call, by=by), start=1)
    ]
    return header, rows
