"""Large exports, built by a Celery worker, offered for a day, announced through the outbox."""

import datetime
import tempfile

from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from . import reports
from .filters import filtered_proposals
from .models import ExportJob, NotificationKind, Proposal
from .notifications import notify

OFFERED_FOR = datetime.timedelta(days=1)
STALE_AFTER = datetime.timedelta(minutes=30)


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
