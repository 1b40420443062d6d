"""The staff portfolio (/staff/portfolio/) and its exports: programme staff only, 404 for
others, like the rest of the staff area (views/staff.py)."""

from django.conf import settings
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from .. import exports, portfolio
from ..fiscal import jst_today
from ..permissions import staff_only
from .staff import _export

LEVERAGE_ROWS = 50


def _desk_url() -> str | None:
    # The desk is built beside the portfolio; linked once its page exists.
    try:
        return reverse("desk")
    except NoReverseMatch:
        return None


@staff_only
@require_GET
def portfolio_page(request):
    filterset, proposals = portfolio.filtered_portfolio(request.GET)
    projects = portfolio.projects_of(proposals)
    today = jst_today()
    countries = portfolio.projects_by_country(projects)
    # The filters without the page, for the exports and the pages of the leverage table.
    query = request.GET.copy()
    query.pop("page", None)
    leverage = Paginator(portfolio.leverage_table(projects), LEVERAGE_ROWS)
    return render(
        request,
        "staff/portfolio.html",
        {
            "filter": filterset,
            "query": query.urlencode(),
            "today": today,
            "funnels": portfolio.funnel(proposals),
            "countries": countries,
            "project_count": sum(row["count"] for row in countries),
            "map": portfolio.country_map(countries),
            "deliverables": portfolio.deliverables_this_month(projects, today),
            "facilities": portfolio.facilities_use(projects),
            "leverage": leverage.get_page(request.GET.get("page")),
            "desk": portfolio.desk_backlog(),
            "desk_target": settings.DESK_FIRST_ANSWER_WORKING_DAYS,
            "desk_url": _desk_url(),
        },
    )


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
