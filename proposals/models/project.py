"""After selection: the project an approved proposal becomes, through the programme's stages
(SPEC.md, "After selection"): the formation survey, the promotion of investment and the
consultation desk's follow-up."""

import datetime
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, Exists, F, FloatField, OuterRef, Subquery, Sum, When
from django.db.models.functions import Cast, Coalesce
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from smartjamp.uploads import EXTENSIONS

from ..fiscal import fiscal_year_end
from .geo import new_code
from .proposal import Proposal
from .user import user_link


class ProjectStage(models.TextChoices):
    FORMATION_SURVEY = "formation_survey", _("Formation survey")
    INVESTMENT = "investment", _("Investment promotion")
    CONSULTATION = "consultation", _("Consultation desk (follow-up)")
    CLOSED = "closed", _("Closed")
    CANCELLED = "cancelled", _("Cancelled")


class DeliverableKind(models.TextChoices):
    INCEPTION = "inception", _("Inception report")
    INTERIM = "interim", _("Interim report")
    DRAFT_FINAL = "draft_final", _("Draft final report")
    FINAL = "final", _("Final report")


class DeliverableState(models.TextChoices):
    PLANNED = "planned", _("Planned")
    UPLOADED = "uploaded", _("Uploaded")
    RETURNED = "returned", _("Returned with comments")
    ACCEPTED = "accepted", _("Accepted")


# The default plan of a survey's deliverables: how many months after the start of its fiscal
# year (1 April) each is due; the final report on the last day of the year (fiscal_year_end).
DEFAULT_PLAN_MONTHS = {
    DeliverableKind.INCEPTION: 2,
    DeliverableKind.INTERIM: 6,
    DeliverableKind.DRAFT_FINAL: 10,
}


def default_plan(year: int) -> list[tuple[str, datetime.date]]:
    """(kind, due date) of each deliverable of a survey funded in fiscal year `year`."""
    plan = [
        (kind, datetime.date(year + (4 + months - 1) // 12, (4 + months - 1) % 12 + 1, 1))
        for kind, months in DEFAULT_PLAN_MONTHS.items()
    ]
    return [*plan, (DeliverableKind.FINAL, fiscal_year_end(year))]


def may_manage(user) -> bool:
    """Programme staff who may change projects (the project admin's permission): the one
    rule for the stage transitions, the services and the pages."""
    return user.is_active and user.has_perm("proposals.change_project")


def staff_may_manage(project: "Project", user) -> bool:
    # django-fsm asks (instance, user); the rule itself is may_manage's.
    return may_manage(user)


def final_report_accepted(project: "Project") -> bool:
    """The final report of the survey must be accepted first."""
    return project.deliverables.filter(
        kind=DeliverableKind.FINAL, state=DeliverableState.ACCEPTED
    ).exists()


def has_cancel_reason(project: "Project") -> bool:
    """Give the reason for cancelling the project."""
    return bool(project.cancel_reason.strip())


def public_image_upload_to(instance: "Project", filename: str) -> str:
    # A random name with the extension of the checked content, never the uploader's.
    return f"public/{uuid.uuid4().hex}.{EXTENSIONS[instance.public_image_type][0]}"


OPEN_STAGES = [ProjectStage.FORMATION_SURVEY, ProjectStage.INVESTMENT, ProjectStage.CONSULTATION]


def _track_total(tracks, statuses, field: str = "committed_jpy") -> Coalesce:
    """The sum of `field` over `tracks` (correlated to the outer row) whose status is one of
    `statuses`; 0 when there is none. A subquery rather than a join: the outer rows are not
    multiplied by their tracks, so other sums over them stay right."""
    return Coalesce(
        Subquery(
            tracks.filter(status__in=statuses)
            .order_by()
            .annotate(total=Sum(field))
            .values("total")[:1]
        ),
        0,
        output_field=models.BigIntegerField(),
    )


class ProjectQuerySet(models.QuerySet):
    def published(self):
        """What the public page of projects shows: projects staff published, never others."""
        return self.filter(published=True)

    def with_financing(self):
        """Annotate what investors put in each project, the one definition of it for the
        portfolio and its exports: `financing_committed_jpy` (committed on its tracks that
        investors approved or disbursed), `financing_disbursed_jpy` (on those disbursed),
        `has_financing` and `has_disbursement` (whether there is any such track, whatever the
        amount), and `leverage`: yen committed per yen of survey funding (the contract
        amount), None while the project has no contract amount."""
        tracks = FinancingTrack.objects.filter(project=OuterRef("pk")).values("project")
        committed = _track_total(tracks, COMMITTED_STATUSES)
        return self.annotate(
            financing_committed_jpy=committed,
            financing_disbursed_jpy=_track_total(tracks, [FinancingStatus.DISBURSED]),
            has_financing=Exists(tracks.filter(status__in=COMMITTED_STATUSES)),
            has_disbursement=Exists(tracks.filter(status=FinancingStatus.DISBURSED)),
            leverage=Case(
                When(
                    contract_amount_jpy__gt=0,
                    then=Cast(committed, FloatField())
                    / Cast(F("contract_amount_jpy"), FloatField()),
                ),
                default=None,
                output_field=FloatField(),
            ),
        )

    def with_survey_reported(self):
        """Annotate `survey_reported`: whether the survey's final report is accepted (the
        many-row form of final_report_accepted, which investment promotion waits for)."""
        final = Deliverable.objects.filter(
            project=OuterRef("pk"), kind=DeliverableKind.FINAL, state=DeliverableState.ACCEPTED
        )
        return self.annotate(survey_reported=Exists(final))


class Project(FSMModelMixin, models.Model):
    """One per approved proposal. Its stage changes only through the transitions below, taken
    by services.projects.take_project_transition, which records each."""

    proposal = models.OneToOneField(
        Proposal, on_delete=models.PROTECT, related_name="project", verbose_name=_("proposal")
    )
    code = models.CharField(_("code"), max_length=12, unique=True, default=new_code)
    stage = FSMField(
        _("stage"),
        max_length=20,
        choices=ProjectStage.choices,
        default=ProjectStage.FORMATION_SURVEY,
        protected=True,
    )
    fiscal_year = models.PositiveSmallIntegerField(
        _("fiscal year"), help_text=_("The Japanese fiscal year (April–March) funding the survey.")
    )
    report_by = models.DateField(
        _("survey reports by"), help_text=_("31 March of the fiscal year unless changed.")
    )
    cancel_reason = models.TextField(_("reason for cancelling"), blank=True)
    # The survey's consultant (a Japanese company) and its contract.
    consultant_company = models.CharField(_("consultant (company)"), max_length=200, blank=True)
    corporate_number = models.CharField(
        _("corporate number"),
        max_length=13,
        blank=True,
        help_text=_("The company's 13-digit corporate number (法人番号)."),
    )
    consultant_contact = models.CharField(_("consultant's contact"), max_length=200, blank=True)
    procurement_method = models.CharField(_("procurement method"), max_length=100, blank=True)
    procured_on = models.DateField(_("procured on"), null=True, blank=True)
    contract_date = models.DateField(_("contract date"), null=True, blank=True)
    contract_amount_jpy = models.PositiveBigIntegerField(
        _("contract amount (JPY)"), null=True, blank=True
    )
    # The public summary on /projects/ (unpublished by default; staff publish it).
    published = models.BooleanField(
        _("published"), default=False, help_text=_("Shown on the public page of projects.")
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    public_title = models.CharField(
        _("public title"),
        max_length=200,
        blank=True,
        help_text=_("The proposal's title unless set."),
    )
    public_summary = models.TextField(_("public summary"), max_length=2000, blank=True)
    public_image = models.FileField(
        _("public image (PNG or JPEG)"), upload_to=public_image_upload_to, blank=True
    )
    public_image_type = models.CharField(
        max_length=100, blank=True, editable=False, verbose_name=_("public image type")
    )
    consultants = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="consulted_projects",
        verbose_name=_("consultants' accounts"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("project")
        verbose_name_plural = _("projects")

    def __str__(self) -> str:
        return f"{self.proposal.title} ({self.code})"

    def get_absolute_url(self) -> str:
        return reverse("project_detail", args=[self.code])

    @property
    def is_open(self) -> bool:
        return self.stage in OPEN_STAGES

    @property
    def takes_deliverables(self) -> bool:
        """Deliverables are uploaded while the formation survey is under way."""
        return self.stage == ProjectStage.FORMATION_SURVEY

    @property
    def seeks_financing(self) -> bool:
        """Financing tracks are added from the promotion of investment on."""
        return self.stage in (ProjectStage.INVESTMENT, ProjectStage.CONSULTATION)

    @transition(
        field=stage,
        source=ProjectStage.FORMATION_SURVEY,
        target=ProjectStage.INVESTMENT,
        permission=staff_may_manage,
        conditions=[final_report_accepted],
    )
    def promote_investment(self) -> None:
        """Staff move a surveyed project to the promotion of investment."""

    @transition(
        field=stage,
        source=ProjectStage.INVESTMENT,
        target=ProjectStage.CONSULTATION,
        permission=staff_may_manage,
    )
    def follow_up(self) -> None:
        """Staff hand the project to the consultation desk's follow-up."""

    @transition(
        field=stage,
        source=[ProjectStage.INVESTMENT, ProjectStage.CONSULTATION],
        target=ProjectStage.CLOSED,
        permission=staff_may_manage,
    )
    def close(self) -> None:
        """Staff close a project whose follow-up is over."""

    @transition(
        field=stage,
        source=OPEN_STAGES,
        target=ProjectStage.CANCELLED,
        permission=staff_may_manage,
        conditions=[has_cancel_reason],
    )
    def cancel(self) -> None:
        """Staff cancel an open project, with a reason."""


class ProjectStageChange(models.Model):
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="stage_changes", verbose_name=_("project")
    )
    from_stage = models.CharField(_("from"), max_length=20, choices=ProjectStage.choices)
    to_stage = models.CharField(_("to"), max_length=20, choices=ProjectStage.choices)
    actor = user_link(_("by"))
    message = models.TextField(_("message"), blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("project stage change")
        verbose_name_plural = _("project stage changes")

    def __str__(self) -> str:
        return f"{self.from_stage} → {self.to_stage}"


class Deliverable(models.Model):
    """A report the survey's consultant owes, with its due date (default_plan, editable)."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="deliverables", verbose_name=_("project")
    )
    kind = models.CharField(_("deliverable"), max_length=20, choices=DeliverableKind.choices)
    due_on = models.DateField(_("due"))
    state = models.CharField(
        _("state"),
        max_length=20,
        choices=DeliverableState.choices,
        default=DeliverableState.PLANNED,
    )

    class Meta:
        ordering = ["due_on", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind"], name="one_deliverable_per_kind")
        ]
        verbose_name = _("deliverable")
        verbose_name_plural = _("deliverables")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.project.code})"


class ConsultantInvitation(models.Model):
    """Staff invite a consultant to a project by email; the account whose verified address it
    is joins the project (at once if it exists, when the address is confirmed otherwise)."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("project")
    )
    email = models.EmailField(_("email"))
    invited_by = user_link(_("invited by"))
    created_at = models.DateTimeField(_("invited"), auto_now_add=True)
    accepted_at = models.DateTimeField(_("joined"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("consultant invitation")
        verbose_name_plural = _("consultant invitations")

    def __str__(self) -> str:
        return f"{self.email} → {self.project.code}"


def deliverable_upload_to(instance: "DeliverableVersion", filename: str) -> str:
    # A random name with the extension of the checked content, never the uploader's.
    return f"deliverables/{uuid.uuid4().hex}.{EXTENSIONS[instance.content_type][0]}"


class DeliverableVersion(models.Model):
    """One upload of a deliverable; every version is kept, with what staff said of it."""

    deliverable = models.ForeignKey(
        Deliverable,
        on_delete=models.CASCADE,
        related_name="versions",
        verbose_name=_("deliverable"),
    )
    code = models.CharField(
        max_length=16, unique=True, default=new_code, editable=False, verbose_name=_("code")
    )
    file = models.FileField(_("file"), upload_to=deliverable_upload_to)
    name = models.CharField(_("file name"), max_length=120)
    content_type = models.CharField(max_length=100, verbose_name=_("content type"))
    size = models.PositiveBigIntegerField(_("size"))
    uploaded_by = user_link(_("uploaded by"))
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    outcome = models.CharField(
        _("outcome"), max_length=20, choices=DeliverableState.choices, blank=True
    )
    comment = models.TextField(_("staff's comments"), blank=True)
    reviewed_by = user_link(_("reviewed by"))
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]
        verbose_name = _("deliverable version")
        verbose_name_plural = _("deliverable versions")

    def __str__(self) -> str:
        return f"{self.deliverable} · {self.name}"


class FinancingKind(models.TextChoices):
    JOIN_EQUITY = "join_equity", _("JOIN equity")
    JBIC_LOAN = "jbic_loan", _("JBIC loan")
    JICA_LOAN = "jica_loan", _("JICA ODA loan")
    JICA_GRANT = "jica_grant", _("JICA grant aid")
    JICA_TECHNICAL = "jica_technical", _("JICA technical cooperation")
    PRIVATE = "private", _("Private investment")
    OTHER = "other", _("Other")


class FinancingStatus(models.TextChoices):
    IDENTIFIED = "identified", _("Identified")
    REFERRED = "referred", _("Referred")
    UNDER_APPRAISAL = "under_appraisal", _("Under appraisal")
    APPROVED = "approved", _("Approved")
    DECLINED = "declined", _("Declined")
    DISBURSED = "disbursed", _("Disbursed")


# Where an investor's money stands: committed once approved (and still once disbursed); sought,
# "in the pipeline", while the track is open.
COMMITTED_STATUSES = [FinancingStatus.APPROVED, FinancingStatus.DISBURSED]
PIPELINE_STATUSES = [
    FinancingStatus.IDENTIFIED,
    FinancingStatus.REFERRED,
    FinancingStatus.UNDER_APPRAISAL,
]


def has_committed_amount(track: "FinancingTrack") -> bool:
    """Give the amount the investor committed."""
    return track.committed_jpy is not None


class FinancingTrack(FSMModelMixin, models.Model):
    """One way of financing a surveyed project (promotion of investment), with its status
    from identified to disbursed, changed only through the transitions below."""

    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        related_name="financing_tracks",
        verbose_name=_("project"),
    )
    kind = models.CharField(_("financing"), max_length=20, choices=FinancingKind.choices)
    counterpart = models.CharField(_("counterpart"), max_length=200)
    contact = models.CharField(_("contact"), max_length=200, blank=True)
    sought_jpy = models.PositiveBigIntegerField(_("amount sought (JPY)"))
    committed_jpy = models.PositiveBigIntegerField(
        _("amount committed (JPY)"), null=True, blank=True
    )
    above_sought_reason = models.TextField(
        _("why more than sought is committed"),
        blank=True,
        help_text=_("Required when the committed amount is above the amount sought."),
    )
    status = FSMField(
        _("status"),
        max_length=20,
        choices=FinancingStatus.choices,
        default=FinancingStatus.IDENTIFIED,
        protected=True,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("financing track")
        verbose_name_plural = _("financing tracks")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.counterpart}"

    def clean(self) -> None:
        """The amounts' rule: more committed than sought only with a reason."""
        if (
            self.committed_jpy is not None
            and self.committed_jpy > self.sought_jpy
            and not self.above_sought_reason.strip()
        ):
            raise ValidationError(
                {"above_sought_reason": _("More than the amount sought is committed: say why.")}
            )

    @transition(
        field=status,
        source=FinancingStatus.IDENTIFIED,
        target=FinancingStatus.REFERRED,
        permission=staff_may_manage,
    )
    def refer(self) -> None:
        """Staff refer the project to the investor."""

    @transition(
        field=status,
        source=FinancingStatus.REFERRED,
        target=FinancingStatus.UNDER_APPRAISAL,
        permission=staff_may_manage,
    )
    def appraise(self) -> None:
        """The investor appraises the project."""

    @transition(
        field=status,
        source=FinancingStatus.UNDER_APPRAISAL,
        target=FinancingStatus.APPROVED,
        permission=staff_may_manage,
        conditions=[has_committed_amount],
    )
    def approve(self) -> None:
        """The investor approved, with the amount committed."""

    @transition(
        field=status,
        source=[FinancingStatus.REFERRED, FinancingStatus.UNDER_APPRAISAL],
        target=FinancingStatus.DECLINED,
        permission=staff_may_manage,
    )
    def decline(self) -> None:
        """The investor declined."""

    @transition(
        field=status,
        source=FinancingStatus.APPROVED,
        target=FinancingStatus.DISBURSED,
        permission=staff_may_manage,
    )
    def disburse(self) -> None:
        """The committed amount was disbursed."""


class FacilityQuerySet(models.QuerySet):
    def with_use(self, projects=None):
        """Annotate each facility's use, for the portfolio: `committed_jpy` (committed on the
        tracks of its kind that investors approved or disbursed) and `pipeline_jpy` (sought
        on its open tracks: identified, referred, under appraisal); over the tracks of
        `projects` (a queryset) when given, of every project otherwise."""
        tracks = FinancingTrack.objects.filter(kind=OuterRef("kind")).values("kind")
        if projects is not None:
            tracks = tracks.filter(project__in=projects.order_by().values("pk"))
        return self.annotate(
            committed_jpy=_track_total(tracks, COMMITTED_STATUSES),
            pipeline_jpy=_track_total(tracks, PIPELINE_STATUSES, "sought_jpy"),
        )


class Facility(models.Model):
    """A facility that finances projects from an envelope (JOIN's ¥50 bn for equity, JBIC's
    ¥200 bn for loans): data staff edit. Tracks of its kind draw on it."""

    kind = models.CharField(
        _("financing"), max_length=20, choices=FinancingKind.choices, unique=True
    )
    name = models.CharField(_("name"), max_length=200)
    envelope_jpy = models.PositiveBigIntegerField(_("envelope (JPY)"))

    objects = FacilityQuerySet.as_manager()

    class Meta:
        ordering = ["kind"]
        verbose_name = _("facility")
        verbose_name_plural = _("facilities")

    def __str__(self) -> str:
        return self.name

    def share_of_envelope(self, amount_jpy: int | None) -> float:
        """`amount_jpy` as a percentage of the envelope (one decimal), at most 100."""
        if not self.envelope_jpy or not amount_jpy:
            return 0.0
        return min(round(100 * amount_jpy / self.envelope_jpy, 1), 100.0)

    def left_jpy(self, committed_jpy: int) -> int:
        """What the envelope has left once `committed_jpy` is drawn (never below 0)."""
        return max(self.envelope_jpy - committed_jpy, 0)


class FinancingStatusChange(models.Model):
    track = models.ForeignKey(
        FinancingTrack,
        on_delete=models.CASCADE,
        related_name="status_changes",
        verbose_name=_("track"),
    )
    from_status = models.CharField(_("from"), max_length=20, choices=FinancingStatus.choices)
    to_status = models.CharField(_("to"), max_length=20, choices=FinancingStatus.choices)
    actor = user_link(_("by"))
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("financing status change")
        verbose_name_plural = _("financing status changes")

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"


def financing_upload_to(instance: "FinancingDocument", filename: str) -> str:
    # A random name with the extension of the checked content, never the uploader's.
    return f"financing/{uuid.uuid4().hex}.{EXTENSIONS[instance.content_type][0]}"


class FinancingDocument(models.Model):
    """A document of a financing track (a term sheet, an appraisal, a letter of intent),
    uploaded by programme staff and read by them only: investors' papers are not the city's."""

    track = models.ForeignKey(
        FinancingTrack, on_delete=models.CASCADE, related_name="documents", verbose_name=_("track")
    )
    code = models.CharField(
        max_length=16, unique=True, default=new_code, editable=False, verbose_name=_("code")
    )
    file = models.FileField(_("file"), upload_to=financing_upload_to)
    name = models.CharField(_("file name"), max_length=120)
    content_type = models.CharField(max_length=100, verbose_name=_("content type"))
    size = models.PositiveBigIntegerField(_("size"))
    uploaded_by = user_link(_("uploaded by"))
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]
        verbose_name = _("financing document")
        verbose_name_plural = _("financing documents")

    def __str__(self) -> str:
        return self.name


def minutes_upload_to(instance: "KickOff", filename: str) -> str:
    # A random name; the signed minutes are always a checked PDF.
    return f"minutes/{uuid.uuid4().hex}.pdf"


class KickOff(models.Model):
    """The survey's kick-off meeting: when and where, who signed its minutes (the MLIT
    counsellor and the mayor or governor), the signed minutes, and the Joint Coordinating
    Committee that follows the survey."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="kickoff", verbose_name=_("project")
    )
    held_on = models.DateField(_("held on"))
    place = models.CharField(_("place"), max_length=200)
    mlit_signatory = models.CharField(_("signed for MLIT by"), max_length=200)
    city_signatory = models.CharField(
        _("signed for the city by"), max_length=200, help_text=_("The mayor or governor.")
    )
    minutes = models.FileField(_("signed minutes (PDF)"), upload_to=minutes_upload_to, blank=True)
    minutes_name = models.CharField(
        max_length=120, blank=True, editable=False, verbose_name=_("minutes name")
    )
    committee = models.TextField(
        _("Joint Coordinating Committee"), blank=True, help_text=_("One member per line.")
    )

    class Meta:
        verbose_name = _("kick-off meeting")
        verbose_name_plural = _("kick-off meetings")

    def __str__(self) -> str:
        return f"{self.project.code} · {self.held_on}"

    def committee_members(self) -> list[str]:
        return [line.strip() for line in self.committee.splitlines() if line.strip()]


class Payment(models.Model):
    """An instalment of the survey's contract, usually tied to a deliverable: paid only once
    that deliverable is accepted, and all of them together at most the contract amount."""

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="payments", verbose_name=_("project")
    )
    deliverable = models.ForeignKey(
        Deliverable,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name=_("for the deliverable"),
    )
    amount_jpy = models.PositiveBigIntegerField(_("amount (JPY)"))
    paid_on = models.DateField(_("paid on"), null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")

    def __str__(self) -> str:
        return f"¥{self.amount_jpy:,} ({self.project.code})"

    def clean(self) -> None:
        errors = {}
        if self.deliverable_id and self.deliverable.project_id != self.project_id:
            errors["deliverable"] = _("Choose a deliverable of this project.")
        elif (
            self.paid_on
            and self.deliverable_id
            and self.deliverable.state != DeliverableState.ACCEPTED
        ):
            errors["paid_on"] = _("An instalment is paid once its deliverable is accepted.")
        contract = self.project.contract_amount_jpy
        if contract is not None and self.amount_jpy is not None:
            others = self.project.payments.exclude(pk=self.pk).aggregate(
                total=models.Sum("amount_jpy")
            )["total"]
            if (others or 0) + self.amount_jpy > contract:
                errors["amount_jpy"] = _(
                    "The instalments would come to more than the contract amount (¥%(amount)s)."
                ) % {"amount": f"{contract:,}"}
        if errors:
            raise ValidationError(errors)
