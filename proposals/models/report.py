import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .geo import new_code


def export_upload_to(instance: "ExportJob", filename: str) -> str:
    return f"exports/{uuid.uuid4().hex}.xlsx"


class ExportState(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Running")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


class ExportJob(models.Model):
    """A large export built by a Celery worker; its file expires after a day."""

    code = models.CharField(
        max_length=16, unique=True, default=new_code, editable=False, verbose_name=_("code")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="export_jobs",
        verbose_name=_("requested by"),
    )
    query = models.TextField(_("filters"), blank=True)
    proposal_ids = models.JSONField(
        _("selected proposals"), null=True, blank=True, help_text=_("Set by the admin action.")
    )
    state = models.CharField(
        _("state"), max_length=10, choices=ExportState, default=ExportState.PENDING
    )
    total = models.PositiveIntegerField(_("rows"), default=0)
    done = models.PositiveIntegerField(_("rows written"), default=0)
    file = models.FileField(upload_to=export_upload_to, blank=True, verbose_name=_("file"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    expires_at = models.DateTimeField(db_index=True, verbose_name=_("expires at"))

    State = ExportState

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("export")
        verbose_name_plural = _("exports")

    def __str__(self) -> str:
        return f"Export {self.code} ({self.get_state_display()})"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0
