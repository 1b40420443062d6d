from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .call import RubricCriterion
from .geo import City
from .user import user_link


class AssignmentState(models.TextChoices):
    AWAITING_DECLARATION = "awaiting", _("Conflict of interest not declared yet")
    ACCEPTED = "accepted", _("Reviewing")
    DECLINED = "declined", _("Declined: conflict of interest")
    SUBMITTED = "submitted", _("Review submitted")


class AssignmentQuerySet(models.QuerySet):
    def active(self) -> "AssignmentQuerySet":
        return self.exclude(state=AssignmentState.DECLINED)


class ReviewAssignment(models.Model):
    """An MLIT reviewer asked to review one proposal by a due date."""

    proposal = models.ForeignKey(
        "proposals.Proposal",
        on_delete=models.CASCADE,
        related_name="assignments",
        verbose_name=_("proposal"),
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="assignments",
        verbose_name=_("reviewer"),
    )
    due = models.DateField(_("review due"))
    state = models.CharField(
        _("state"),
        max_length=10,
        choices=AssignmentState,
        default=AssignmentState.AWAITING_DECLARATION,
        db_index=True,
    )
    conflict_reason = models.TextField(_("conflict of interest"), blank=True)
    declared_at = models.DateTimeField(_("declared at"), null=True, blank=True)
    assigned_by = user_link(_("assigned by"))
    assigned_at = models.DateTimeField(_("assigned at"), auto_now_add=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["due", "pk"]
        verbose_name = _("review assignment")
        verbose_name_plural = _("review assignments")
        indexes = [
            models.Index(fields=["due", "id"], name="assignment_by_due"),
            models.Index(fields=["reviewer", "due", "id"], name="assignment_reviewer_due"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "reviewer"], name="one_assignment_each"),
            models.CheckConstraint(
                condition=~Q(state="declined") | ~Q(conflict_reason=""),
                name="declined_assignment_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} → {self.proposal}"


class Recommendation(models.TextChoices):
    FUND = "fund", _("Fund")
    FUND_WITH_CHANGES = "fund_with_changes", _("Fund with changes")
    DO_NOT_FUND = "do_not_fund", _("Do not fund")


class ReviewQuerySet(models.QuerySet):
    def counted(self) -> "ReviewQuerySet":
        """The reviews that make a proposal's score (Proposal.objects.with_scores): submitted,
        with their weighted score."""
        return self.filter(submitted_at__isnull=False, weighted_score__isnull=False)


class Review(models.Model):
    """A reviewer's scores of one proposal; locked once submitted."""

    assignment = models.OneToOneField(
        ReviewAssignment,
        on_delete=models.CASCADE,
        related_name="review",
        verbose_name=_("assignment"),
    )
    comment = models.TextField(_("comment to programme staff"), blank=True, max_length=10000)
    recommendation = models.CharField(
        _("recommendation"), max_length=20, choices=Recommendation, blank=True
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("last saved"), auto_now=True)
    # Σ weight·score / Σ weight of its scores, stored so that reports and rankings of tens of
    # thousands of reviews need not join and aggregate their scores; set by
    # services.save_review with the scores, and by scoring.refresh_weighted_scores when a
    # criterion's weight changes.
    weighted_score = models.FloatField(_("weighted score"), null=True, blank=True, editable=False)

    objects = ReviewQuerySet.as_manager()

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")

    def __str__(self) -> str:
        return f"Review of {self.assignment.proposal} by {self.assignment.reviewer}"

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None


class Score(models.Model):
    review = models.ForeignKey(
        Review, on_delete=models.CASCADE, related_name="scores", verbose_name=_("review")
    )
    criterion = models.ForeignKey(
        RubricCriterion, on_delete=models.PROTECT, related_name="+", verbose_name=_("criterion")
    )
    value = models.PositiveSmallIntegerField(
        _("score"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    class Meta:
        verbose_name = _("score")
        verbose_name_plural = _("scores")
        constraints = [
            models.UniqueConstraint(fields=["review", "criterion"], name="one_score_per_criterion"),
            models.CheckConstraint(condition=Q(value__gte=1, value__lte=5), name="score_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.criterion.name}: {self.value}"


class PanelSession(models.Model):
    """A consensus panel for a call (issue 19), held after the individual reviews: its
    members see each proposal's reviews side by side and agree on a score per criterion, a
    rationale and a recommendation (PanelRecord)."""

    call = models.ForeignKey(
        "proposals.Call", on_delete=models.CASCADE, related_name="panels", verbose_name=_("call")
    )
    held_on = models.DateField(_("held on"))
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="panels", verbose_name=_("members")
    )
    created_by = user_link(_("opened by"))
    created_at = models.DateTimeField(_("opened at"), auto_now_add=True)

    class Meta:
        ordering = ["-held_on", "-pk"]
        verbose_name = _("panel session")
        verbose_name_plural = _("panel sessions")

    def __str__(self) -> str:
        return f"{self.call} · {self.held_on}"


class PanelRecord(models.Model):
    """What a panel agreed on one proposal: a score per criterion (PanelScore), their weighted
    score (stored by its one writer, services.record_consensus, like Review.weighted_score),
    the written rationale and a recommendation."""

    session = models.ForeignKey(
        PanelSession, on_delete=models.CASCADE, related_name="records", verbose_name=_("panel")
    )
    proposal = models.ForeignKey(
        "proposals.Proposal",
        on_delete=models.CASCADE,
        related_name="panel_records",
        verbose_name=_("proposal"),
    )
    weighted_score = models.DecimalField(
        _("consensus score"), max_digits=4, decimal_places=2, null=True, blank=True
    )
    rationale = models.TextField(_("rationale"))
    recommendation = models.CharField(
        _("recommendation"), max_length=20, choices=Recommendation.choices
    )
    recorded_by = user_link(_("recorded by"))
    recorded_at = models.DateTimeField(_("recorded at"), auto_now=True)

    class Meta:
        verbose_name = _("panel record")
        verbose_name_plural = _("panel records")
        constraints = [
            models.UniqueConstraint(
                fields=["session", "proposal"], name="one_panel_record_per_proposal"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.proposal} · {self.session}"


class PanelScore(models.Model):
    record = models.ForeignKey(
        PanelRecord, on_delete=models.CASCADE, related_name="scores", verbose_name=_("panel record")
    )
    criterion = models.ForeignKey(
        RubricCriterion, on_delete=models.PROTECT, related_name="+", verbose_name=_("criterion")
    )
    value = models.PositiveSmallIntegerField(
        _("agreed score"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    class Meta:
        verbose_name = _("agreed score")
        verbose_name_plural = _("agreed scores")
        constraints = [
            models.UniqueConstraint(
                fields=["record", "criterion"], name="one_agreed_score_per_criterion"
            ),
            models.CheckConstraint(
                condition=Q(value__gte=1, value__lte=5), name="agreed_score_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.criterion.name}: {self.value}"


class EvaluationSummary(models.Model):
    """What programme staff tell the city of its proposal's evaluation (issue 19's feedback
    to every city): an overall assessment and, per criterion, strengths and weaknesses,
    written from the reviews and the panel, with no reviewer's name and no score. One a
    language: the city reads the one in its reader's language, else the English one, else
    any (`Proposal.evaluation_summary_for`). Shown once the proposal is decided, and sent
    with the decision."""

    proposal = models.ForeignKey(
        "proposals.Proposal",
        on_delete=models.CASCADE,
        related_name="evaluation_summaries",
        verbose_name=_("proposal"),
    )
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES)
    overall = models.TextField(_("overall assessment"))
    written_by = user_link(_("written by"))
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("evaluation summary")
        verbose_name_plural = _("evaluation summaries")
        constraints = [
            models.UniqueConstraint(
                fields=["proposal", "language"], name="one_evaluation_summary_per_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.proposal} ({self.language})"


class CriterionFeedback(models.Model):
    """An evaluation summary's strengths and weaknesses on one criterion of the rubric."""

    summary = models.ForeignKey(
        EvaluationSummary,
        on_delete=models.CASCADE,
        related_name="criteria",
        verbose_name=_("evaluation summary"),
    )
    criterion = models.ForeignKey(
        RubricCriterion, on_delete=models.PROTECT, related_name="+", verbose_name=_("criterion")
    )
    strengths = models.TextField(_("strengths"), blank=True)
    weaknesses = models.TextField(_("weaknesses"), blank=True)

    class Meta:
        ordering = ["criterion__position", "criterion__pk"]
        verbose_name = _("feedback on a criterion")
        verbose_name_plural = _("feedback on the criteria")
        constraints = [
            models.UniqueConstraint(
                fields=["summary", "criterion"], name="one_feedback_per_criterion"
            ),
        ]

    def __str__(self) -> str:
        return self.criterion.name


_TRAIL_LINK = {
    "on_delete": models.SET_NULL,
    "related_name": "audit_events",
    "null": True,
    "blank": True,
}


class AuditEvent(models.Model):
    """Who did what, to what, when and from where: every change, export, download, sign-in and
    refused access. Written only by `proposals.audit.record`; never edited or deleted (the
    admin is read-only, and the foreign keys are SET_NULL so a deleted proposal, city or user
    leaves its history, named in `target`)."""

    proposal = models.ForeignKey("proposals.Proposal", verbose_name=_("proposal"), **_TRAIL_LINK)
    city = models.ForeignKey(City, verbose_name=_("city"), **_TRAIL_LINK)
    actor = user_link(_("actor"))
    # The user acted upon (a member whose role changed, an account that signed in).
    user = user_link(_("user"), blank=True)
    action = models.CharField(_("action"), max_length=40, db_index=True)
    target = models.CharField(_("target"), max_length=200, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.action} by {self.actor} at {self.created_at:%Y-%m-%d %H:%M}"
