"""The staff portfolio (SPEC.md, "After selection"): the pipeline from proposal to investment,
per call and fiscal year, the projects on a map of ASEAN, the deliverables due this month, the
facilities' use, each project's leverage and the desk's backlog.

What one project or track is (its committed yen, its leverage, a facility's use) is said once,
on the models (ProjectQuerySet.with_financing, .with_survey_reported, FacilityQuerySet.with_use);
this module combines them for the page and its exports, in a fixed number of queries whatever
the number of projects: the database groups and sums.
"""

import calendar
import datetime
import math
from dataclasses import dataclass

import django_filters
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    Min,
    Q,
    Sum,
    Value,
    When,
)
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .filters import ProposalFilter
from .fiscal import fiscal_year, fiscal_year_bounds
from .models import (
    Deliverable,
    DeliverableState,
    DeskRequest,
    DeskState,
    Facility,
    Project,
    ProjectStage,
    Proposal,
    Status,
    StatusChange,
)
from .services.desk import overdue as overdue_desk

# Filters -------------------------------------------------------------------------------------


class PortfolioFilter(ProposalFilter):
    """The dashboard's filters that a pipeline can be cut by: the call, the country and the
    fiscal year the proposals were submitted in (the funnel follows those proposals to their
    projects and financing). A status, score or sector would cut the funnel itself."""

    status = None
    sector = None
    focus_area = None
    ascn = None
    submitted_from = None
    submitted_to = None
    score_min = None
    score_max = None
    fiscal_year = django_filters.NumberFilter(
        label=_("Japanese fiscal year of submission"),
        method="filter_fiscal_year",
        min_value=2000,
        max_value=2100,
        help_text=_(
            "April to March (JST): the proposals submitted that year, and what became of them."
        ),
    )


def filtered_portfolio(data):
    """(the filter set, the proposals it selects); nothing when the filters are invalid."""
    filterset = PortfolioFilter(data or None, queryset=Proposal.objects.all())
    if filterset.is_bound and not filterset.is_valid():
        return filterset, Proposal.objects.none()
    return filterset, filterset.qs


def projects_of(proposals):
    """The projects of `proposals` (a queryset)."""
    return Project.objects.filter(proposal__in=proposals.order_by().values("pk"))


# The funnel ----------------------------------------------------------------------------------


def fiscal_year_of(field: str, first: datetime.datetime | None, last: datetime.datetime | None):
    """The fiscal year of the instant in `field`, as a database expression that the database
    can group by, for instants from `first` to `last`: one branch per fiscal year between
    them, bounded by fiscal.fiscal_year_bounds (the rule's one home, in JST)."""
    if first is None or last is None:
        return Value(None, output_field=IntegerField())
    branches = []
    for year in range(fiscal_year(first), fiscal_year(last) + 1):
        start, end = fiscal_year_bounds(year)
        branches.append(When(Q(**{f"{field}__gte": start, f"{field}__lt": end}), then=Value(year)))
    return Case(*branches, default=None, output_field=IntegerField())


@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    count: int
    yen: int
    yen_label: str
    percent: float  # of the proposals at the top of the funnel


@dataclass(frozen=True)
class Funnel:
    call_code: str
    call_title: str
    year: int
    steps: list[FunnelStep]


# Each step: its key, label, and what its yen are.
STEPS = [
    ("proposals", _("Proposals submitted"), _("requested")),
    ("shortlisted", _("Shortlisted"), _("requested")),
    ("approved", _("Approved"), _("approved")),
    ("reported", _("Survey reported (final report accepted)"), _("approved")),
    ("financed", _("Financing approved"), _("committed")),
    ("disbursed", _("Disbursed"), _("disbursed")),
]


def funnel(proposals) -> list[Funnel]:
    """The pipeline of the submitted proposals of `proposals`, per call and fiscal year of
    submission (the newest year first): how many reached each step, and the yen at each
    (requested, then approved of the proposals, committed and disbursed on the tracks of
    their projects). Three queries, whatever the rows."""
    submitted = Proposal.objects.filter(
        pk__in=proposals.order_by().values("pk"), submitted_at__isnull=False
    )
    span = submitted.aggregate(first=Min("submitted_at"), last=Max("submitted_at"))
    if span["first"] is None:
        return []
    # Shortlisted once: shortlisted or approved now, or a recorded passage through it (a
    # proposal rejected after shortlisting).
    was_shortlisted = Q(status__in=[Status.SHORTLISTED, Status.APPROVED]) | Q(
        pk__in=StatusChange.objects.filter(to_status=Status.SHORTLISTED).values("proposal")
    )
    approved = Q(status=Status.APPROVED)
    by_proposal = (
        submitted.annotate(year=fiscal_year_of("submitted_at", span["first"], span["last"]))
        .values("call", "call__code", "call__title", "year")
        .annotate(
            proposals=Count("pk"),
            proposals_jpy=Sum("requested_jpy"),
            shortlisted=Count("pk", filter=was_shortlisted),
            shortlisted_jpy=Sum("requested_jpy", filter=was_shortlisted),
            approved=Count("pk", filter=approved),
            approved_jpy=Sum("approved_jpy", filter=approved),
        )
        .order_by("-year", "call__title", "call")
    )
    reported = Q(survey_reported=True)
    by_project = {
        (row["proposal__call"], row["year"]): row
        for row in projects_of(submitted)
        .with_financing()
        .with_survey_reported()
        .annotate(year=fiscal_year_of("proposal__submitted_at", span["first"], span["last"]))
        .values("proposal__call", "year")
        .annotate(
            reported=Count("pk", filter=reported),
            reported_jpy=Sum("proposal__approved_jpy", filter=reported),
            financed=Count("pk", filter=Q(has_financing=True)),
            financed_jpy=Sum("financing_committed_jpy"),
            disbursed=Count("pk", filter=Q(has_disbursement=True)),
            disbursed_jpy=Sum("financing_disbursed_jpy"),
        )
        .order_by()
    }
    funnels = []
    for row in by_proposal:
        row.update(by_project.get((row["call"], row["year"]), {}))
        top = row["proposals"]
        funnels.append(
            Funnel(
                call_code=row["call__code"],
                call_title=row["call__title"],
                year=row["year"],
                steps=[
                    FunnelStep(
                        key=key,
                        label=label,
                        count=row.get(key) or 0,
                        yen=row.get(f"{key}_jpy") or 0,
                        yen_label=yen_label,
                        percent=round(100 * (row.get(key) or 0) / top, 1) if top else 0.0,
                    )
                    for key, label, yen_label in STEPS
                ],
            )
        )
    return funnels


# The map of ASEAN ----------------------------------------------------------------------------

# Simplified outlines of the member states, (longitude, latitude) in degrees, drawn by the
# server in an equirectangular projection: enough to recognise the region, not a survey map.
# Each country is a list of rings (islands).
# fmt: off
OUTLINES: dict[str, list[list[tuple[float, float]]]] = {
    "MM": [
        [
            (92.2, 21.0), (92.6, 22.0), (93.2, 22.3), (93.4, 23.9), (94.2, 23.9), (94.6, 25.2),
            (95.2, 26.7), (96.2, 27.3), (97.3, 28.2), (97.7, 27.8), (98.4, 27.6), (98.7, 26.2),
            (97.7, 24.8), (97.5, 23.9), (98.8, 24.1), (99.5, 22.9), (100.2, 21.5), (101.1, 21.6),
            (100.1, 20.4), (99.0, 19.8), (97.8, 18.6), (97.4, 18.3), (98.5, 16.8), (98.6, 16.1),
            (98.2, 15.2), (99.2, 13.2), (99.6, 11.8), (98.8, 10.6), (98.6, 10.0), (98.4, 11.5),
            (98.5, 12.8), (97.9, 14.0), (97.7, 16.0), (97.6, 16.5), (96.9, 17.1), (96.2, 16.8),
            (95.4, 15.8), (94.2, 16.1), (94.4, 17.6), (94.3, 18.4), (93.7, 19.4), (93.0, 20.1),
            (92.3, 20.7),
        ]
    ],
    "TH": [
        [
            (97.4, 18.3), (97.8, 18.6), (99.0, 19.8), (100.1, 20.4), (100.5, 20.2), (101.2, 19.6),
            (101.0, 18.4), (101.6, 17.7), (102.6, 17.9), (103.4, 18.4), (104.0, 17.9),
            (104.7, 17.1), (104.8, 16.0), (105.5, 15.3), (105.2, 14.3), (104.0, 14.4),
            (103.0, 14.3), (102.5, 13.6), (102.3, 12.2), (102.9, 11.7), (102.2, 12.2),
            (101.3, 12.7), (100.9, 13.4), (100.5, 13.5), (100.0, 13.3), (99.9, 12.5),
            (99.8, 11.8), (99.4, 10.8), (99.2, 10.2), (100.0, 9.3), (100.3, 8.4), (100.6, 7.2),
            (101.3, 6.9), (102.1, 6.2), (101.1, 5.7), (100.4, 6.5), (100.1, 6.6), (99.6, 7.3),
            (98.4, 7.9), (98.3, 9.0), (98.6, 10.0), (98.8, 10.6), (99.6, 11.8), (99.2, 13.2),
            (98.2, 15.2), (98.6, 16.1), (98.5, 16.8),
        ]
    ],
    "LA": [
        [
            (100.1, 20.4), (101.1, 21.6), (101.8, 22.4), (102.1, 22.4), (102.9, 21.7),
            (103.2, 20.8), (104.4, 20.6), (104.1, 19.7), (105.1, 18.8), (105.6, 18.0),
            (106.1, 17.4), (106.7, 16.6), (107.3, 16.1), (107.2, 15.3), (107.5, 14.7),
            (106.2, 14.4), (105.9, 13.9), (105.2, 14.3), (105.5, 15.3), (104.8, 16.0),
            (104.7, 17.1), (104.0, 17.9), (103.4, 18.4), (102.6, 17.9), (101.6, 17.7),
            (101.0, 18.4), (101.2, 19.6), (100.5, 20.2),
        ]
    ],
    "KH": [
        [
            (102.5, 13.6), (103.0, 14.3), (104.0, 14.4), (105.2, 14.3), (105.9, 13.9),
            (106.2, 14.4), (107.5, 14.7), (107.6, 13.5), (107.5, 12.3), (106.4, 11.8),
            (106.0, 11.0), (105.1, 10.9), (104.5, 10.4), (103.6, 10.5), (103.1, 11.2),
            (102.9, 11.7), (102.3, 12.2),
        ]
    ],
    "VN": [
        [
            (102.1, 22.4), (102.5, 22.8), (103.3, 22.8), (104.0, 22.8), (105.3, 23.3),
            (106.7, 22.9), (106.7, 22.0), (107.4, 21.7), (108.0, 21.5), (107.0, 21.0),
            (106.6, 20.4), (105.8, 19.4), (105.7, 18.7), (106.3, 17.9), (106.8, 17.2),
            (107.6, 16.5), (108.2, 16.1), (108.8, 15.3), (109.2, 13.8), (109.3, 12.5),
            (109.2, 11.7), (108.6, 11.2), (108.0, 10.8), (107.1, 10.4), (106.6, 9.9),
            (105.4, 8.7), (104.8, 8.6), (104.9, 9.6), (104.5, 10.4), (105.1, 10.9), (106.0, 11.0),
            (106.4, 11.8), (107.5, 12.3), (107.6, 13.5), (107.5, 14.7), (107.2, 15.3),
            (107.3, 16.1), (106.7, 16.6), (106.1, 17.4), (105.6, 18.0), (105.1, 18.8),
            (104.1, 19.7), (104.4, 20.6), (103.2, 20.8), (102.9, 21.7),
        ]
    ],
    "MY": [
        [  # the peninsula
            (100.1, 6.6), (100.4, 6.5), (101.1, 5.7), (102.1, 6.2), (103.1, 5.3), (103.4, 4.3),
            (103.5, 2.7), (104.3, 1.4), (103.5, 1.3), (102.6, 1.9), (101.4, 2.8), (100.9, 3.9),
            (100.4, 4.9), (100.3, 6.2),
        ],
        [  # Sarawak and Sabah
            (109.6, 2.0), (110.4, 1.7), (111.0, 1.6), (111.5, 2.4), (112.3, 2.9), (113.1, 3.2),
            (114.0, 4.4), (114.6, 4.9), (115.4, 5.2), (116.1, 6.0), (116.8, 7.0), (117.3, 6.6),
            (118.1, 5.8), (119.3, 5.3), (118.6, 4.5), (117.9, 4.3), (117.6, 4.2), (116.0, 4.3),
            (115.6, 3.8), (115.3, 2.6), (114.5, 1.6), (112.9, 1.5), (111.8, 1.1), (110.5, 1.2),
        ],
    ],
    "BN": [[(114.1, 4.6), (114.9, 5.0), (115.35, 4.9), (115.1, 4.0), (114.6, 4.0)]],
    "SG": [[(103.6, 1.3), (103.65, 1.45), (104.0, 1.45), (104.05, 1.3), (103.8, 1.2)]],
    "ID": [
        [  # Sumatra
            (95.3, 5.6), (97.5, 5.2), (98.7, 3.8), (100.4, 2.2), (101.4, 1.7), (103.0, 1.0),
            (103.7, 0.0), (103.4, -0.8), (104.5, -1.5), (105.0, -2.2), (106.0, -3.2),
            (105.9, -5.0), (105.8, -5.9), (104.6, -5.9), (104.0, -5.1), (102.3, -3.8),
            (100.4, -1.0), (99.2, 0.5), (98.7, 1.7), (97.2, 3.3), (96.1, 4.1),
        ],
        [  # Java
            (105.2, -6.8), (106.1, -5.9), (106.8, -6.1), (108.3, -6.3), (108.6, -6.7),
            (110.4, -6.9), (110.9, -6.4), (111.5, -6.6), (112.6, -6.9), (114.0, -7.7),
            (114.4, -8.1), (114.4, -8.7), (112.6, -8.4), (111.0, -8.2), (109.0, -7.7),
            (107.5, -7.5), (106.4, -7.0),
        ],
        [  # Kalimantan
            (109.6, 2.0), (110.5, 1.2), (111.8, 1.1), (112.9, 1.5), (114.5, 1.6), (115.3, 2.6),
            (115.6, 3.8), (116.0, 4.3), (117.6, 4.2), (117.8, 3.0), (118.0, 2.2), (118.9, 1.1),
            (117.9, 0.8), (117.5, -0.5), (116.8, -1.3), (116.4, -2.2), (116.6, -3.0),
            (116.0, -4.0), (114.6, -3.6), (113.0, -3.2), (111.8, -3.5), (110.2, -2.9),
            (110.1, -1.8), (109.2, -0.8), (109.0, 0.2), (109.0, 1.3),
        ],
        [  # Sulawesi
            (119.8, 0.1), (120.2, 0.9), (121.0, 1.2), (123.0, 0.9), (124.8, 1.6), (125.2, 1.4),
            (124.4, 0.4), (123.4, 0.4), (121.5, 0.5), (120.2, -0.6), (121.7, -0.9),
            (123.4, -0.9), (123.3, -1.3), (121.9, -1.7), (122.5, -3.2), (123.2, -4.6),
            (122.0, -4.8), (121.4, -4.4), (121.0, -2.8), (120.6, -2.6), (120.3, -3.5),
            (120.4, -5.6), (119.4, -5.5), (119.6, -4.0), (118.9, -3.0), (119.4, -1.5),
            (119.8, -0.8),
        ],
        [  # Papua
            (141.0, -2.6), (140.7, -2.5), (139.0, -2.0), (137.9, -1.5), (136.4, -2.2),
            (135.2, -3.3), (134.3, -2.9), (134.1, -1.0), (132.5, -0.4), (131.2, -0.8),
            (130.9, -1.4), (132.0, -2.2), (133.1, -2.5), (132.2, -2.9), (133.5, -3.8),
            (134.6, -4.2), (135.4, -4.5), (137.7, -5.2), (138.4, -6.5), (138.0, -8.3),
            (139.2, -8.1), (140.5, -8.4), (141.0, -9.1),
        ],
        [(105.1, -1.6), (105.9, -1.5), (106.8, -2.9), (106.1, -3.1), (105.6, -2.4)],  # Bangka
        [(107.6, -2.6), (108.3, -2.7), (108.2, -3.2), (107.6, -3.2)],  # Belitung
        [(114.45, -8.1), (115.2, -8.1), (115.7, -8.4), (115.2, -8.8), (114.6, -8.4)],  # Bali
        [(115.8, -8.3), (116.6, -8.3), (116.5, -8.9), (115.9, -8.8)],  # Lombok
        [(116.8, -8.4), (118.2, -8.2), (119.1, -8.5), (118.8, -8.8), (117.2, -9.0)],  # Sumbawa
        [(119.8, -8.5), (121.5, -8.5), (123.0, -8.2), (122.8, -8.6), (120.0, -8.8)],  # Flores
        [(119.0, -9.5), (120.3, -9.4), (120.8, -10.2), (119.5, -9.9)],  # Sumba
        [  # West Timor
            (123.5, -10.3), (124.2, -9.5), (124.95, -8.95), (125.1, -9.45), (124.4, -10.1),
            (123.8, -10.4),
        ],
        [  # Halmahera
            (127.6, 1.8), (128.0, 2.2), (128.1, 1.2), (128.7, 1.1), (128.1, 0.8), (128.7, 0.3),
            (127.9, -0.1), (128.2, -0.8), (127.5, -0.4), (127.6, 0.8),
        ],
        [(126.0, -3.2), (127.1, -3.3), (127.2, -3.8), (126.2, -3.7)],  # Buru
        [(128.0, -3.2), (129.5, -2.8), (130.8, -3.4), (130.0, -3.5), (128.2, -3.6)],  # Seram
    ],
    "TL": [
        [
            (124.95, -8.95), (125.6, -8.6), (126.5, -8.5), (127.3, -8.4), (126.9, -8.7),
            (126.0, -9.1), (125.1, -9.45),
        ]
    ],
    "PH": [
        [  # Luzon
            (120.6, 18.5), (121.0, 18.6), (122.2, 18.5), (122.5, 17.1), (121.6, 15.8),
            (121.9, 14.6), (121.6, 14.1), (122.6, 14.2), (123.3, 14.0), (124.2, 13.3),
            (124.1, 12.6), (123.3, 13.0), (122.6, 13.5), (121.7, 13.9), (120.9, 13.7),
            (120.6, 14.3), (120.0, 16.0), (119.8, 16.4), (120.4, 17.5),
        ],
        [(120.5, 13.5), (121.5, 13.2), (121.2, 12.2), (120.3, 12.6)],  # Mindoro
        [(117.2, 8.3), (118.6, 9.4), (119.5, 10.4), (119.8, 11.2), (119.4, 11.4), (117.6, 9.1)],
        [(121.9, 11.9), (123.1, 11.5), (122.5, 10.6), (121.9, 10.5)],  # Panay
        [(122.9, 10.9), (123.5, 10.8), (123.2, 9.1), (122.4, 9.8)],  # Negros
        [(124.0, 11.3), (124.1, 10.5), (123.4, 9.4), (123.6, 10.3)],  # Cebu
        [(123.8, 10.1), (124.5, 10.1), (124.5, 9.6), (123.8, 9.6)],  # Bohol
        [(124.2, 12.5), (125.3, 12.6), (125.6, 11.1), (125.0, 11.2), (124.5, 11.7)],  # Samar
        [(124.3, 11.6), (125.0, 11.3), (125.2, 10.1), (124.8, 10.0), (124.3, 10.9)],  # Leyte
        [  # Mindanao
            (121.9, 7.0), (122.2, 7.9), (123.4, 8.6), (124.3, 8.3), (124.7, 8.9), (125.5, 9.8),
            (126.3, 8.7), (126.6, 7.3), (126.2, 6.3), (125.6, 5.6), (125.4, 5.8), (124.2, 6.1),
            (124.0, 7.2), (123.3, 7.5), (122.6, 7.3),
        ],
    ],
}
# fmt: on

# Where each country's circle stands (longitude, latitude): inside it, apart from the others.
MARKERS: dict[str, tuple[float, float]] = {
    "MM": (96.0, 21.5),
    "TH": (101.0, 15.6),
    "LA": (102.8, 19.7),
    "KH": (104.9, 12.7),
    "VN": (108.3, 14.2),
    "MY": (102.1, 4.0),
    "BN": (114.7, 4.5),
    "SG": (103.9, 1.2),
    "ID": (114.0, -1.2),
    "TL": (125.9, -8.9),
    "PH": (122.6, 11.8),
}

MAP_WEST, MAP_NORTH, MAP_SCALE = 92.0, 29.0, 10.0  # degrees, degrees, units per degree
MAP_WIDTH, MAP_HEIGHT = 500, 400  # 92°E to 142°E, 29°N to 11°S
SMALLEST, LARGEST = 11.0, 24.0  # a circle's radius: room for its count, at most


def _project(lon: float, lat: float) -> tuple[float, float]:
    return round((lon - MAP_WEST) * MAP_SCALE, 1), round((MAP_NORTH - lat) * MAP_SCALE, 1)


def _path(rings) -> str:
    parts = []
    for ring in rings:
        points = [f"{x:g},{y:g}" for x, y in (_project(lon, lat) for lon, lat in ring)]
        parts.append("M" + " L".join(points) + " Z")
    return " ".join(parts)


# Computed once: the outlines do not change.
OUTLINE_PATHS = {iso: _path(rings) for iso, rings in OUTLINES.items()}


def projects_by_country(projects) -> list[dict]:
    """How many of `projects` each country has ("iso", "name", "count"), by name; one query."""
    rows = (
        projects.order_by()
        .values("proposal__city__country", "proposal__city__country__name")
        .annotate(count=Count("pk"))
        .order_by("proposal__city__country__name")
    )
    return [
        {
            "iso": row["proposal__city__country"],
            "name": gettext(row["proposal__city__country__name"]),  # as Country.__str__
            "count": row["count"],
        }
        for row in rows
    ]


def country_map(countries: list[dict]) -> dict:
    """What the map draws for `countries` (projects_by_country): every member's outline,
    those with projects marked, and a circle per country with projects, its area in
    proportion to their number, its count written in it (largest first, so that a smaller
    circle is drawn over a larger one)."""
    counts = {row["iso"]: row for row in countries if row["count"]}
    top = max((row["count"] for row in counts.values()), default=0)
    shapes = [
        {"iso": iso, "d": d, "has_projects": iso in counts} for iso, d in OUTLINE_PATHS.items()
    ]
    markers = []
    for iso, row in counts.items():
        if iso not in MARKERS:
            continue  # outside the map: the table still lists it
        x, y = _project(*MARKERS[iso])
        radius = SMALLEST + (LARGEST - SMALLEST) * math.sqrt(row["count"] / top)
        markers.append(
            {
                "iso": iso,
                "name": row["name"],
                "count": row["count"],
                "x": x,
                "y": y,
                "r": round(radius, 1),
            }
        )
    markers.sort(key=lambda marker: -marker["r"])
    return {"width": MAP_WIDTH, "height": MAP_HEIGHT, "shapes": shapes, "markers": markers}


# Deliverables --------------------------------------------------------------------------------

# What a survey's consultant still owes (as the reminders count it): planned or returned
# deliverables of surveys under way; one uploaded waits for staff, not for the consultant.
OUTSTANDING = Q(
    state__in=[DeliverableState.PLANNED, DeliverableState.RETURNED],
    project__stage=ProjectStage.FORMATION_SURVEY,
)


def overdue(today: datetime.date) -> Q:
    """Deliverables overdue on `today` (a JST date): outstanding, due before it."""
    return OUTSTANDING & Q(due_on__lt=today)


def month_bounds(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and the last day of `today`'s month."""
    last = calendar.monthrange(today.year, today.month)[1]
    return today.replace(day=1), today.replace(day=last)


def deliverables_this_month(projects, today: datetime.date, *, limit: int = 50) -> dict:
    """The deliverables of `projects` that are overdue on `today` (a JST date) or due by the
    end of its month, soonest first (the first `limit`), and how many of each; two queries."""
    first, last = month_bounds(today)
    owed = Deliverable.objects.filter(
        OUTSTANDING, project__in=projects.order_by().values("pk"), due_on__lte=last
    )
    counts = owed.aggregate(
        overdue=Count("pk", filter=overdue(today)), due=Count("pk", filter=Q(due_on__gte=today))
    )
    rows = list(
        owed.select_related("project__proposal__city__country").order_by("due_on", "pk")[:limit]
    )
    for deliverable in rows:
        deliverable.is_overdue = deliverable.due_on < today
    return {
        "first": first,
        "last": last,
        "overdue": counts["overdue"],
        "due": counts["due"],
        "rows": rows,
        "more": counts["overdue"] + counts["due"] - len(rows),
    }


# Facilities and leverage ---------------------------------------------------------------------


def facilities_use(projects) -> list[dict]:
    """Each facility with what the tracks of `projects` committed and have in the pipeline
    against its envelope (FacilityQuerySet.with_use), as amounts and shares; one query."""
    uses = []
    for facility in Facility.objects.with_use(projects):
        committed = facility.share_of_envelope(facility.committed_jpy)
        uses.append(
            {
                "facility": facility,
                "committed_jpy": facility.committed_jpy,
                "pipeline_jpy": facility.pipeline_jpy,
                "left_jpy": facility.left_jpy(facility.committed_jpy),
                "committed_percent": committed,
                # Drawn after the committed part, within the bar.
                "pipeline_percent": min(
                    facility.share_of_envelope(facility.pipeline_jpy), round(100 - committed, 1)
                ),
                "pipeline_share": facility.share_of_envelope(facility.pipeline_jpy),
            }
        )
    return uses


def leverage_table(projects):
    """`projects` with their financing (ProjectQuerySet.with_financing), the highest leverage
    first, those without a contract amount last."""
    return (
        projects.with_financing()
        .select_related("proposal__city__country")
        .order_by(F("leverage").desc(nulls_last=True), "-financing_committed_jpy", "code")
    )


# The desk ------------------------------------------------------------------------------------


def desk_backlog(now: datetime.datetime | None = None) -> dict:
    """The consultation desk's backlog, all of it (a request need not belong to a call or a
    project): `open` requests (awaiting staff) and those `overdue` for their first answer
    at `now` (services.desk.overdue, the desk's own rule); one query."""
    return DeskRequest.objects.aggregate(
        open=Count("pk", filter=Q(state=DeskState.OPEN)),
        overdue=Count("pk", filter=overdue_desk(now)),
    )
