from django.db import models
from django.utils.translation import gettext_lazy as _

from .user import user_link


class NotificationKind(models.TextChoices):
    ACCOUNT = "account", _("Account")
    CITY_VERIFIED = "city_verified", _("City verified")
    CITY_REJECTED = "city_rejected", _("City rejected")
    JOIN_REQUESTED = "join_requested", _("Join request")
    JOIN_ANSWERED = "join_answered", _("Join request answered")
    CALL_OPENED = "call_opened", _("Call opened")
    DEADLINE_REMINDER = "deadline_reminder", _("Deadline reminder")
    SUBMISSION_RECEIPT = "submission_receipt", _("Submission receipt")
    STATUS_CHANGED = "status_changed", _("Status change")
    DECISION = "decision", _("Decision letter")
    MESSAGE = "message", _("Clarification message")
    REVIEWER_ASSIGNED = "reviewer_assigned", _("Reviewer assigned")
    REVIEW_DUE = "review_due", _("Review due")
    REVIEWS_COMPLETE = "reviews_complete", _("All reviews in")
    CONFLICT_DECLARED = "conflict_declared", _("Conflict of interest declared")
    EXPORT_READY = "export_ready", _("Export ready")
    PROJECT_CREATED = "project_created", _("Project created")
    PROJECT_STAGE_CHANGED = "project_stage_changed", _("Project stage changed")
    CONSULTANT_INVITED = "consultant_invited", _("Consultant invited to a project")
    DELIVERABLE_UPLOADED = "deliverable_uploaded", _("Deliverable uploaded")
    DELIVERABLE_REVIEWED = "deliverable_reviewed", _("Deliverable accepted or returned")
    FINANCING_CHANGED = "financing_changed", _("Financing track changed")
    DELIVERABLE_DUE = "deliverable_due", _("Deliverable due")
    DESK_OPENED = "desk_opened", _("Desk request opened")
    DESK_ANSWERED = "desk_answered", _("Desk request answered")
    DESK_OVERDUE = "desk_overdue", _("Desk request overdue")
    CITY_INVITATION = "city_invitation", _("Invitation to a city")
    DRAFT_READY = "draft_ready", _("Draft ready for the lead")
    CITY_REGISTERED = "city_registered", _("City registered")


class NotificationState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # The message went out but the server's reply to its end never came: it may have been
    # delivered, so nothing sends it again by itself; staff check and may resend it.
    UNKNOWN = "unknown", _("Outcome unknown")


class NotificationQuerySet(models.QuerySet):
    def waiting(self, now):
        """Emails that should be on their way at `now`: queued, or failed with a retry due."""
        return self.filter(
            models.Q(state=NotificationState.QUEUED)
            | models.Q(state=NotificationState.FAILED, next_attempt_at__lte=now)
        )


class Notification(models.Model):
    """One email, kept as a row (the outbox).

    Written in the same transaction as the event that causes it, handed to Celery after
    commit, and swept again if it is still queued; the de-duplication key makes sure it exists
    (and so is sent) once.
    """

    recipient = user_link(_("recipient"), blank=True, related_name="notifications")
    email = models.EmailField(_("address"))
    kind = models.CharField(_("kind"), max_length=30, choices=NotificationKind, db_index=True)
    language = models.CharField(_("language"), max_length=10)
    subject = models.CharField(_("subject"), max_length=255)
    body_text = models.TextField(_("text"))
    body_html = models.TextField(_("HTML"), blank=True)
    dedup_key = models.CharField(_("de-duplication key"), max_length=200, unique=True)
    link = models.CharField(_("link"), max_length=500, blank=True)
    state = models.CharField(
        _("state"),
        max_length=10,
        choices=NotificationState,
        default=NotificationState.QUEUED,
        db_index=True,
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("sending since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            models.Index(fields=["recipient", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.email}"
