"""The staff portfolio (/staff/portfolio/) and its exports: programme staff only, 404 for
others, like the rest of the staff area (views/staff.py)."""

from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET

from smartjamp import cache_versions

from .. import exports, portfolio
from ..fiscal import jst_today
from ..permissions import staff_only
from .staff import _export

LEVERAGE_ROWS = 50


@staff_only
@require_GET
def portfolio_page(request):
    # Like the dashboard, the page below its heading is one cached fragment built only when
    # missing (staff/portfolio.html): 290 ms of queries and rendering at 2,400 projects. It
    # depends on the filters, the data and the JST date alone, never on the reader.
    query = request.GET
    return render(
        request,
        "staff/portfolio.html",
        {
            "portfolio": SimpleLazyObject(lambda: _portfolio_context(query)),
            "versions": cache_versions.current(cache_versions.REPORTS, cache_versions.PORTFOLIO),
            # The deliverables' and the desk's overdue counts depend on today's date in JST.
            "today_key": jst_today().isoformat(),
            "query_key": query.urlencode(),
        },
    )


def _portfolio_context(query) -> dict:
    filterset, proposals = portfolio.filtered_portfolio(query)
    projects = portfolio.projects_of(proposals)
    today = jst_today()
    countries = portfolio.projects_by_country(projects)
    # The filters without the page, for the exports and the pages of the leverage table.
    links = query.copy()
    links.pop("page", None)
    leverage = Paginator(portfolio.leverage_table(projects), LEVERAGE_ROWS)
    return {
        "filter": filterset,
        "query": links.urlencode(),
        "today": today,
        "funnels": portfolio.funnel(proposals),
        "countries": countries,
        "project_count": sum(row["count"] for row in countries),
        "map": portfolio.country_map(countries),
        "deliverables": portfolio.deliverables_this_month(projects, today),
        "facilities": portfolio.facilities_use(projects),
        "leverage": leverage.get_page(query.get("page")),
        "desk": portfolio.desk_backlog(),
        "desk_target": settings.DESK_FIRST_ANSWER_WORKING_DAYS,
    }


@_export
def export_projects(request, fmt):
    _filterset, proposals = portfolio.filtered_portfolio(request.GET)
    return exports.export_projects(request, portfolio.projects_of(proposals), fmt)


@_export
def export_deliverables(request, fmt):
    _filterset, proposals = portfolio.filtered_portfolio(request.GET)
    return exports.export_deliverables(request, portfolio.projects_of(proposals), fmt)


@_export
def export_financing_tracks(request, fmt):
    _filterset, proposals = portfolio.filtered_portfolio(request.GET)
    return exports.export_financing_tracks(request, portfolio.projects_of(proposals), fmt)
