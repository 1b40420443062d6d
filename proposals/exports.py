"""Large exports, built by a Celery worker, offered for a day, announced through the outbox."""

import tempfile

from django.core.files import File
from django.db import transaction
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from . import reports
from .filters import filtered_proposals
from .models import ExportJob, NotificationKind
from .notifications import notify


def build(job_id: int) -> str:
    """Write the job's Excel file, recording progress as it goes."""
    claimed = ExportJob.objects.filter(pk=job_id, state=ExportJob.State.PENDING).update(
        state=ExportJob.State.RUNNING
    )
    if not claimed:
        return "skipped"
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    query = QueryDict(job.query)
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
