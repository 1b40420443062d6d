"""Exports: tables as streamed CSV and JSON or Excel responses (`download`, recorded in the
audit trail), and large Excel exports built by a Celery worker (`build_export`), offered for a
day and announced through the outbox. Used by the staff pages and the admin's actions."""

import datetime
import tempfile

from celery import shared_task
from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import BooleanField, Case, Q, Value, When
from django.http import FileResponse, HttpResponseBadRequest, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import audit, reports
from .filters import filtered_proposals
from .fiscal import JST, jst_today
from .models import (
    Deliverable,
    DeliverableKind,
    DeliverableState,
    ExportJob,
    FinancingKind,
    FinancingStatus,
    FinancingTrack,
    NotificationKind,
    ProjectStage,
    Proposal,
)
from .notifications import notify
from .portfolio import overdue
from .reports import Column

OFFERED_FOR = datetime.timedelta(days=1)
STALE_AFTER = datetime.timedelta(minutes=30)


def xlsx_response(file, filename: str) -> FileResponse:
    """An Excel workbook (an open file) as a download named `filename`."""
    return FileResponse(
        file,
        as_attachment=True,
        filename=filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def record_export(request, action: str, name: str, fmt: str, **details) -> None:
    """An export of `name` in `fmt`, "downloaded" or "queued" (`action`), in the audit trail."""
    audit.record(
        actor=request.user,
        action=f"export.{action}",
        request=request,
        export=name,
        format=fmt,
        **details,
    )


def download(
    request,
    header,
    rows,
    fmt: str,
    name: str,
    keys: list[str] | None = None,
    *,
    file_name: str | None = None,
    **details,
):
    """The table as a CSV, JSON or Excel file, recorded in the audit trail (with `details`).

    The file is "smartjamp-<file_name or name>-<yyyymmdd-hhmm JST>.<fmt>": `file_name` says
    what one export of `name` holds when several differ (a call's ranking, by raw or
    normalised score), so that two downloads are not two files of one name."""
    record_export(request, "downloaded", name, fmt, query=request.GET.urlencode(), **details)
    stamp = timezone.localtime(timezone.now(), JST).strftime("%Y%m%d-%H%M")
    filename = f"smartjamp-{file_name or name}-{stamp}.{fmt}"
    if fmt == "csv":
        response = StreamingHttpResponse(
            reports.csv_stream(header, rows), content_type="text/csv; charset=utf-8"
        )
    elif fmt == "json":
        keys = keys or [str(label) for label in header]
        response = StreamingHttpResponse(
            reports.json_stream(keys, rows), content_type="application/json; charset=utf-8"
        )
    else:
        target = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
        reports.write_xlsx(target, header, rows, title=name)
        target.seek(0)
        return xlsx_response(target, filename)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def export_proposal_queryset(
    request, queryset, fmt: str, *, name: str = "proposals", selected: bool = False
):
    """Proposals of `queryset` in `fmt`, with the columns chosen in the request.

    With `selected` (the admin's action), a background job remembers the rows themselves."""
    try:
        columns = reports.chosen_columns(
            request.GET.getlist("columns") or request.POST.getlist("columns")
        )
    except reports.UnknownColumns as unknown:
        # A typed address: say which key is wrong, queue and record nothing.
        return HttpResponseBadRequest(str(unknown), content_type="text/plain; charset=utf-8")
    # CSV and JSON stream, whatever their size, in flat memory; an Excel workbook is written
    # whole (a zip file), at a fifth of the speed, so a large one is built by a worker.
    if fmt == "xlsx" and (total := queryset.count()) > settings.EXPORT_BACKGROUND_ROWS:
        job = ExportJob.objects.create(
            requested_by=request.user,
            query=request.GET.urlencode(),
            proposal_ids=list(queryset.values_list("pk", flat=True)) if selected else None,
            total=total,
            expires_at=timezone.now() + OFFERED_FOR,
        )
        record_export(request, "queued", name, fmt, query=job.query, job=job.code)
        build_export.delay_on_commit(job.pk)
        return redirect("staff_export_job", code=job.code)
    header = [column.label for column in columns]
    rows = reports.proposal_rows(queryset, columns)
    extra = {"selected": queryset.count()} if selected else {}
    keys = [column.key for column in columns]
    return download(request, header, rows, fmt, name, keys=keys, **extra)


@shared_task(acks_late=True)
def build_export(job_id: int) -> str:
    return build(job_id)


def build(job_id: int) -> str:
    """Write the job's Excel file, recording progress as it goes."""
    now = timezone.now()
    # A job whose worker died while running it may be taken again after a while.
    stale = Q(state=ExportJob.State.RUNNING, started_at__lt=now - STALE_AFTER)
    claimed = ExportJob.objects.filter(Q(state=ExportJob.State.PENDING) | stale, pk=job_id).update(
        state=ExportJob.State.RUNNING, started_at=now
    )
    if not claimed:
        return "skipped"
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    query = QueryDict(job.query)
    if job.proposal_ids is not None:  # the admin's selection
        proposals = Proposal.objects.filter(pk__in=job.proposal_ids)
    else:
        _filterset, proposals = filtered_proposals(query)
    columns = reports.chosen_columns(query.getlist("columns"))

    def progress(count):
        ExportJob.objects.filter(pk=job_id).update(done=count)

    try:
        with tempfile.TemporaryFile() as target:
            written = reports.write_xlsx(
                target,
                [column.label for column in columns],
                reports.proposal_rows(proposals, columns),
                progress=progress,
            )
            target.seek(0)
            job.file.save("export.xlsx", File(target), save=False)
    except Exception as error:
        ExportJob.objects.filter(pk=job_id).update(
            state=ExportJob.State.FAILED, error=str(error)[:2000]
        )
        raise
    with transaction.atomic():
        ExportJob.objects.filter(pk=job_id).update(
            state=ExportJob.State.DONE,
            done=written,
            total=written,
            file=job.file.name,
            finished_at=timezone.now(),
            expires_at=timezone.now() + OFFERED_FOR,
        )
        notify(
            kind=NotificationKind.EXPORT_READY,
            dedup_key=f"export:{job.pk}",
            recipient=job.requested_by,
            context={"job": job, "rows": written},
            link=reverse("staff_export_job", args=[job.code]),
        )
    return "done"


def purge() -> int:
    """Delete expired export files and their jobs."""
    expired = list(ExportJob.objects.filter(expires_at__lte=timezone.now()))
    for job in expired:
        if job.file:
            job.file.delete(save=False)
        job.delete()
    return len(expired)


# The portfolio's exports: projects, deliverables, financing tracks ---------------------------


def _date(value: datetime.date | None) -> str:
    """A date as "2027-03-31" (JSON has no dates); '' for none."""
    return "" if value is None else value.isoformat()


PROJECT_COLUMNS = [
    Column("code", _("Project code"), "code"),
    Column("title", _("Title"), "proposal__title"),
    Column(
        "reference",
        _("Proposal reference"),
        "proposal__reference_code",
        convert=reports._blank_if_none,
    ),
    Column("city", _("City"), "proposal__city__name"),
    Column("country", _("Country"), "proposal__city__country__name", convert=reports.translated),
    Column("call", _("Call"), "proposal__call__title"),
    Column("stage", _("Stage"), "stage", choices=dict(ProjectStage.choices)),
    Column("fiscal_year", _("Fiscal year funded"), "fiscal_year"),
    Column("report_by", _("Survey reports by"), "report_by", convert=_date),
    Column("consultant", _("Consultant (company)"), "consultant_company"),
    Column("corporate_number", _("Corporate number"), "corporate_number"),
    Column("contract_date", _("Contract date"), "contract_date", convert=_date),
    Column("contract_jpy", _("Survey contract (JPY)"), "contract_amount_jpy"),
    Column("approved_jpy", _("Approved (JPY)"), "proposal__approved_jpy"),
    # ProjectQuerySet.with_financing
    Column("committed_jpy", _("Committed (JPY)"), "financing_committed_jpy"),
    Column("disbursed_jpy", _("Disbursed (JPY)"), "financing_disbursed_jpy"),
    Column(
        "leverage", _("Leverage (yen committed per yen of survey)"), "leverage", reports._rounded
    ),
    Column("published", _("Published"), "published"),
    Column("created", _("Created (JST)"), "created_at", convert=reports.jst),
]

DELIVERABLE_COLUMNS = [
    Column("project", _("Project code"), "project__code"),
    Column("title", _("Title"), "project__proposal__title"),
    Column("city", _("City"), "project__proposal__city__name"),
    Column(
        "country",
        _("Country"),
        "project__proposal__city__country__name",
        convert=reports.translated,
    ),
    Column("stage", _("Stage"), "project__stage", choices=dict(ProjectStage.choices)),
    Column("kind", _("Deliverable"), "kind", choices=dict(DeliverableKind.choices)),
    Column("due_on", _("Due"), "due_on", convert=_date),
    Column("state", _("State"), "state", choices=dict(DeliverableState.choices)),
    Column("overdue", _("Overdue"), "overdue"),  # portfolio.overdue, on the day of the export
]

TRACK_COLUMNS = [
    Column("project", _("Project code"), "project__code"),
    Column("title", _("Title"), "project__proposal__title"),
    Column("city", _("City"), "project__proposal__city__name"),
    Column(
        "country",
        _("Country"),
        "project__proposal__city__country__name",
        convert=reports.translated,
    ),
    Column("kind", _("Financing"), "kind", choices=dict(FinancingKind.choices)),
    Column("counterpart", _("Counterpart"), "counterpart"),
    Column("sought_jpy", _("Sought (JPY)"), "sought_jpy"),
    Column("committed_jpy", _("Committed (JPY)"), "committed_jpy"),
    Column("status", _("Status"), "status", choices=dict(FinancingStatus.choices)),
    Column("created", _("Created (JST)"), "created_at", convert=reports.jst),
    Column("updated", _("Updated (JST)"), "updated_at", convert=reports.jst),
]


def table_rows(queryset, columns: list[Column]):
    """The values of `columns` for each row of `queryset`, as lists, from one query read in
    chunks (as reports.proposal_rows does for proposals)."""
    fields = list(dict.fromkeys(column.value for column in columns))
    indexes = [fields.index(column.value) for column in columns]
    converters = [(n, convert) for n, c in enumerate(columns) if (convert := c.converter())]
    for row in queryset.values_list(*fields).iterator(chunk_size=reports.CHUNK):
        values = [row[index] for index in indexes]
        for n, convert in converters:
            values[n] = convert(values[n])
        yield values


def _table(request, queryset, columns: list[Column], fmt: str, name: str):
    # The rows are few (one per project, four deliverables each), so Excel too is written
    # in the request, like the summaries; CSV and JSON stream.
    header = [column.label for column in columns]
    keys = [column.key for column in columns]
    return download(request, header, table_rows(queryset, columns), fmt, name, keys=keys)


def export_projects(request, projects, fmt: str):
    """`projects` with their financing and leverage (ProjectQuerySet.with_financing)."""
    return _table(
        request, projects.with_financing().order_by("pk"), PROJECT_COLUMNS, fmt, "projects"
    )


def export_deliverables(request, projects, fmt: str):
    """The deliverables of `projects`, and whether each is overdue today (JST)."""
    deliverables = Deliverable.objects.filter(
        project__in=projects.order_by().values("pk")
    ).annotate(
        overdue=Case(
            When(overdue(jst_today()), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )
    return _table(
        request,
        deliverables.order_by("project", "due_on", "pk"),
        DELIVERABLE_COLUMNS,
        fmt,
        "deliverables",
    )


def export_financing_tracks(request, projects, fmt: str):
    """The financing tracks of `projects`."""
    tracks = FinancingTrack.objects.filter(project__in=projects.order_by().values("pk"))
    return _table(request, tracks.order_by("project", "pk"), TRACK_COLUMNS, fmt, "financing-tracks")
