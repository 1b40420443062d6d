"""The staff area: dashboard, reports and exports (programme staff only; 404 for others)."""

from collections import Counter
from functools import wraps

from django.db.models import Count
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from smartjamp import cache_versions

from .. import reports
from ..exports import download, export_proposal_queryset, record_export, xlsx_response
from ..filters import filtered_proposals
from ..fiscal import jst_today
from ..models import Call, ExportJob, ReviewAssignment, Status
from ..permissions import get_call_or_404, get_export_job_for_user, staff_only

FORMATS = {"csv", "xlsx", "json"}
TABLE_ROWS = 50
# The dashboard table's amounts, shown as yen (the exports keep the plain number).
MONEY = {"requested_jpy", "approved_jpy"}
ROW_ID = reports.Column("pk", "", "pk")


def _export(view):
    """A staff export view, in one of FORMATS (any other is a 404)."""

    @staff_only
    @require_GET
    @wraps(view)
    def wrapped(request, *args, fmt, **kwargs):
        if fmt not in FORMATS:
            raise Http404
        return view(request, *args, fmt=fmt, **kwargs)

    return wrapped


def _percent(part, whole) -> float:
    return round(100 * (part or 0) / whole, 1) if whole else 0.0


@staff_only
@require_GET
def dashboard(request):
    # The figures aggregate every proposal: the page below its heading is a cached fragment
    # (staff/dashboard.html), built only when missing. It depends on the filter and the data
    # alone, never on the reader (filtered_proposals takes no user): a dashboard scoped to
    # its reader would have to key the fragment by them.
    query = request.GET
    return render(
        request,
        "staff/dashboard.html",
        {
            "dashboard": SimpleLazyObject(lambda: _dashboard_context(query)),
            "versions": cache_versions.current(cache_versions.REPORTS),
            # The overdue counts depend on today's date in JST.
            "today": jst_today().isoformat(),
            "query": query.urlencode(),
        },
    )


def _dashboard_context(query) -> dict:
    filterset, proposals = filtered_proposals(query)
    return {"filter": filterset, **_dashboard_figures(proposals), "columns": reports.COLUMNS}


def _dashboard_figures(proposals) -> dict:
    calls = {
        call.pk: {
            "call": call,
            "statuses": [],
            "countries": [],
            "count": 0,
            "requested": 0,
            "approved": 0,
            "reviews": None,
        }
        for call in Call.objects.filter(pk__in=proposals.values("call")).order_by("-closes_at")
    }
    for row in proposals.order_by().values("call").annotate(**reports.totals()):
        entry = calls[row["call"]]
        entry.update(
            count=row["count"], requested=row["requested"] or 0, approved=row["approved"] or 0
        )
        envelope = entry["call"].envelope_jpy
        entry["requested_percent"] = min(_percent(entry["requested"], envelope), 100)
        entry["approved_percent"] = min(_percent(entry["approved"], envelope), 100)
    # One pass over the proposals for both breakdowns.
    breakdown = proposals.order_by().values("call", "status", "city__country__name")
    by_status, by_country = Counter(), Counter()
    for row in breakdown.annotate(n=Count("pk", distinct=True)):
        by_status[row["call"], row["status"]] += row["n"]
        by_country[row["call"], row["city__country__name"]] += row["n"]
    for (call, status), n in by_status.items():
        calls[call]["statuses"].append((str(Status(status).label), n))
    for (call, country), n in by_country.items():
        calls[call]["countries"].append((gettext(country), n))  # as Country.__str__
    progress = (
        ReviewAssignment.objects.filter(proposal__in=proposals.order_by().values("pk"))
        .values("proposal__call")
        .annotate(**reports.assignment_counts())
    )
    for row in progress:
        total = row["submitted"] + row["outstanding"]
        calls[row["proposal__call"]]["reviews"] = {
            **row,
            "done": row["submitted"],
            "done_percent": _percent(row["submitted"], total),
        }
    for entry in calls.values():
        top = max([n for _label, n in entry["statuses"] + entry["countries"]] or [1])
        for part in ("statuses", "countries"):
            entry[part] = [(label, n, _percent(n, top)) for label, n in sorted(entry[part])]
    columns = reports.chosen_columns(
        [
            "reference",
            "title",
            "city",
            "country",
            "call",
            "status",
            "requested_jpy",
            "reviews",
            "score",
        ]
    )
    # Each row leads to its proposal (the admin's page of it, where staff work on it): its id,
    # read in the same query, is the last value of each row, not a column of the table.
    read = list(reports.proposal_rows(proposals, [*columns, ROW_ID], limit=TABLE_ROWS))
    rows, pks = [values[:-1] for values in read], [values[-1] for values in read]
    return {
        "calls": list(calls.values()),
        "header": [str(column.label) for column in columns],
        "rows": rows,
        "table": [
            {
                "pk": pk,
                "cells": [
                    (str(column.label), value, column.key in MONEY)
                    for column, value in zip(columns, row, strict=True)
                ],
            }
            for pk, row in zip(pks, rows, strict=True)
        ],
        "row_count": sum(entry["count"] for entry in calls.values()),
    }


@_export
def export_proposals(request, fmt):
    _filterset, proposals = filtered_proposals(request.GET)
    return export_proposal_queryset(request, proposals, fmt)


@_export
def export_summary(request, by, fmt):
    if by not in reports.SUMMARY_BY:
        raise Http404
    _filterset, proposals = filtered_proposals(request.GET)
    header, rows = reports.summary(proposals, by)
    return download(request, header, rows, fmt, f"summary-by-{by}")


@_export
def export_review_progress(request, fmt):
    _filterset, proposals = filtered_proposals(request.GET)
    header, rows = reports.review_progress(proposals)
    return download(request, header, rows, fmt, "review-progress")


@_export
def export_ranking(request, code, fmt):
    call = get_call_or_404(code)
    by = request.GET.get("by", "score")
    if by not in reports.RANKING_ORDERS:
        return HttpResponseBadRequest(
            gettext("Rank by score or by normalised score (by=score or by=normalised)."),
            content_type="text/plain; charset=utf-8",
        )
    header, rows = reports.ranking_rows(call, by=by)
    return download(
        request,
        header,
        rows,
        fmt,
        "ranking",
        file_name=reports.ranking_file_name(call, by),
        call=call.code,
    )


@staff_only
@require_GET
def export_job(request, code):
    job = get_export_job_for_user(request.user, code)
    return render(request, "staff/export_job.html", {"job": job})


@staff_only
@require_GET
def export_job_download(request, code):
    job = get_export_job_for_user(request.user, code)
    if job.state != ExportJob.State.DONE or not job.file or job.expires_at <= timezone.now():
        raise Http404("Not ready, or expired.")
    record_export(request, "downloaded", "proposals", "xlsx", job=job.code)
    return xlsx_response(job.file.open("rb"), f"smartjamp-proposals-{job.code}.xlsx")
