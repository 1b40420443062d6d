import uuid

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import (
    Avg,
    Case,
    Count,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Subquery,
    When,
)
from django.db.models.functions import Abs, Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from smartjamp.uploads import EXTENSIONS

from .call import Aggregation, Call, deadline_for_city
from .geo import City, is_city_lead, new_code
from .review import Review
from .user import user_link


class Taxonomy(models.Model):
    """A term of a fixed list a proposal picks from, in the list's order."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))

    class Meta:
        abstract = True
        ordering = ["position", "name"]

    def __str__(self) -> str:
        """The name in the reader's language (reference_data's names are in the catalogue)."""
        return gettext(self.name)


class FocusArea(Taxonomy):
    """The six focus areas of the ASEAN Smart Cities Framework."""

    class Meta(Taxonomy.Meta):
        verbose_name = _("focus area")
        verbose_name_plural = _("focus areas")


class Sector(Taxonomy):
    class Meta(Taxonomy.Meta):
        verbose_name = _("sector")
        verbose_name_plural = _("sectors")


class Instrument(models.TextChoices):
    MLIT_STUDY = "mlit_study", _("MLIT project formation survey")
    JOIN_EQUITY = "join_equity", _("JOIN equity")
    JBIC_LOAN = "jbic_loan", _("JBIC loan")
    ODA = "oda", _("Official development assistance (ODA)")


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    SCREENING = "screening", _("Screening")
    REVISION_REQUESTED = "revision_requested", _("Revision requested")
    UNDER_REVIEW = "under_review", _("Under review")
    SHORTLISTED = "shortlisted", _("Shortlisted")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


# Value -> label (lazy: translated when shown), for code that labels many rows at once
# (get_status_display builds a dict of every choice on each call).
STATUS_LABELS = dict(Status.choices)

# The city edits its proposal only in these states.
CITY_EDITABLE = [Status.DRAFT, Status.REVISION_REQUESTED]
# A lead may withdraw before a decision.
BEFORE_DECISION = [
    Status.DRAFT,
    Status.SUBMITTED,
    Status.SCREENING,
    Status.REVISION_REQUESTED,
    Status.UNDER_REVIEW,
    Status.SHORTLISTED,
]
# The sections of a proposal as its city fills them in, with their fields, in the form's order.
SECTIONS = [
    (_("Overview"), ["title", "summary", "contact_name", "contact_email", "contact_phone"]),
    (_("Problem and solution"), ["problem", "solution"]),
    (_("Focus areas and sectors"), ["focus_areas", "sectors"]),
    (_("Outcomes and indicators"), ["outcomes", "indicators"]),
    (_("Timeline"), ["start_date", "duration_months", "timeline"]),
    (
        _("Budget and financing"),
        [
            "total_cost_jpy",
            "requested_jpy",
            "co_financing_jpy",
            "co_financing_sources",
            "instruments",
        ],
    ),
]
# The fields a city sets on its proposal: its sections' (besides focus areas and sectors, which
# are relations, as are partners) and the declaration; status, city, call, reference code and
# the decision are never among them.
CITY_FIELDS = [
    *(
        name
        for _title, names in SECTIONS
        for name in names
        if name not in ("focus_areas", "sectors")
    ),
    "declaration",
]
# Proposals that take one of the city's places in a call.
COUNTS_TOWARDS_LIMIT = [s for s in Status.values if s not in (Status.DRAFT, Status.WITHDRAWN)]


ELIGIBILITY_CHECKS = [
    (
        "applicant",
        _("The applicant is a verified city, province or national body of an eligible country"),
    ),
    ("scope", _("The project fits the call's stage and scope")),
    ("amount", _("The request is within the call's maximum and the budget adds up")),
    ("documents", _("The concept note and other documents are complete and readable")),
    ("partners", _("Japanese partners, where named, are plausible for the work")),
]


def staff_may(permission: str):
    def check(proposal: "Proposal", user) -> bool:
        return user.is_active and user.has_perm(f"proposals.{permission}")

    check.__name__ = f"may_{permission}"
    return check


# Conditions of transitions: their docstrings are the messages shown when one does not hold.


def eligibility_confirmed(proposal: "Proposal") -> bool:
    """Every item of the eligibility checklist must be ticked first."""
    return all(proposal.eligibility.get(key) for key, _label in ELIGIBILITY_CHECKS)


def has_submitted_review(proposal: "Proposal") -> bool:
    """At least one review must be submitted first."""
    return proposal.assignments.filter(review__submitted_at__isnull=False).exists()


def has_decision_letter(proposal: "Proposal") -> bool:
    """A decision letter is required."""
    return bool(proposal.decision_letter.strip())


def has_approved_amount(proposal: "Proposal") -> bool:
    """The approved amount must be set, and at most the requested amount."""
    return (
        proposal.approved_jpy is not None
        and proposal.requested_jpy is not None
        and 0 < proposal.approved_jpy <= proposal.requested_jpy
    )


def has_resubmission_due(proposal: "Proposal") -> bool:
    """A resubmission deadline in the future is required."""
    return proposal.resubmission_due is not None and proposal.resubmission_due > timezone.now()


def by_a_city_lead(proposal: "Proposal", user) -> bool:
    # django-fsm asks (instance, user); the rule itself is is_city_lead's.
    return is_city_lead(user, proposal.city_id)


def is_programme_staff(user) -> bool:
    """Programme staff: active admin users who may read every proposal (anybody else reads
    only their cities', see visible_to). Reviewers sign in to the admin too, but are not.
    Checking is_staff first spares officials the permission lookup."""
    return (
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("proposals.view_proposal")
    )


# Reviewers whose weighted scores of a proposal lie further apart than this disagree.
DISAGREEMENT_SPREAD = 1.5


class ProposalQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ProposalQuerySet":
        """Proposals a user may read: programme staff all, officials their cities'."""
        if not user.is_authenticated:
            return self.none()
        if is_programme_staff(user):
            return self
        return self.filter(city__memberships__user=user)

    def taking_places(self) -> "ProposalQuerySet":
        return self.filter(status__in=COUNTS_TOWARDS_LIMIT)

    def with_due_at(self) -> "ProposalQuerySet":
        """Annotate `due_at`: the instant the proposal is due now. While staff ask for a
        revision, the date they set for the resubmission; otherwise its city's deadline for
        the call (Call.deadline_for)."""
        return self.annotate(
            due_at=Case(
                When(status=Status.REVISION_REQUESTED, then=F("resubmission_due")),
                default=deadline_for_city(OuterRef("call"), OuterRef("city"), F("call__closes_at")),
            )
        )

    def with_scores(self) -> "ProposalQuerySet":
        """Annotate each proposal's score, the one definition that every page, job and export
        reads: `review_count` (its counted reviews, `Review.objects.counted`), `score` (their
        weighted scores combined as its call says, mean or median; None without reviews) and
        `score_spread` (the highest minus the lowest; see `reviewers_disagree`)."""
        counted = Review.objects.counted().order_by()

        def of_proposal(proposal, value, reviews=counted):
            # A correlated subquery rather than a join with GROUP BY: the database computes it
            # only for the rows it returns (a page of 50), not for every proposal.
            return Subquery(
                reviews.filter(assignment__proposal=proposal)
                .values("assignment__proposal")
                .annotate(value=value)
                .values("value")
            )

        # The median, in SQL that SQLite and PostgreSQL both run: the mean of the distinct
        # middle values, those with no more reviews above them than at or below them, nor
        # below them than at or above (|above - below| <= ties).
        here = OuterRef("weighted_score")
        balance = of_proposal(
            OuterRef("assignment__proposal"),
            Count("pk", filter=Q(weighted_score=here))
            - Abs(
                Count("pk", filter=Q(weighted_score__gt=here))
                - Count("pk", filter=Q(weighted_score__lt=here))
            ),
        )
        middle = counted.alias(balance=balance).filter(balance__gte=0)
        proposal = OuterRef("pk")
        return self.annotate(
            review_count=Coalesce(of_proposal(proposal, Count("pk")), 0),
            score=Case(
                When(
                    call__score_aggregation=Aggregation.MEDIAN,
                    then=of_proposal(proposal, Avg("weighted_score", distinct=True), middle),
                ),
                default=of_proposal(proposal, Avg("weighted_score")),
            ),
            score_spread=of_proposal(proposal, Max("weighted_score") - Min("weighted_score")),
        )


class Proposal(FSMModelMixin, models.Model):
    """A city's proposal to a call. Its status changes only through the transitions below."""

    code = models.CharField(_("code"), max_length=16, unique=True, default=new_code, editable=False)
    call = models.ForeignKey(
        Call, on_delete=models.PROTECT, related_name="proposals", verbose_name=_("call")
    )
    city = models.ForeignKey(
        City, on_delete=models.PROTECT, related_name="proposals", verbose_name=_("city")
    )
    reference_code = models.CharField(
        _("reference code"), max_length=24, unique=True, null=True, blank=True, editable=False
    )
    status = FSMField(
        _("status"), default=Status.DRAFT, choices=Status.choices, protected=True, db_index=True
    )

    # Overview
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("summary"), blank=True, max_length=3000)
    # Problem and solution
    problem = models.TextField(_("problem to solve"), blank=True, max_length=10000)
    solution = models.TextField(_("proposed solution"), blank=True, max_length=10000)
    # Focus areas and sectors
    focus_areas = models.ManyToManyField(
        FocusArea, blank=True, related_name="proposals", verbose_name=_("ASCN focus areas")
    )
    sectors = models.ManyToManyField(
        Sector, blank=True, related_name="proposals", verbose_name=_("sectors")
    )
    # Outcomes and indicators
    outcomes = models.TextField(_("expected outcomes"), blank=True, max_length=5000)
    indicators = models.TextField(_("indicators"), blank=True, max_length=5000)
    # Timeline
    start_date = models.DateField(_("planned start"), null=True, blank=True)
    duration_months = models.PositiveSmallIntegerField(
        _("duration (months)"), null=True, blank=True, validators=[MinValueValidator(1)]
    )
    timeline = models.TextField(_("milestones"), blank=True, max_length=5000)
    # Budget and financing
    total_cost_jpy = models.PositiveBigIntegerField(_("total cost (JPY)"), null=True, blank=True)
    requested_jpy = models.PositiveBigIntegerField(
        _("requested amount (JPY)"), null=True, blank=True
    )
    co_financing_jpy = models.PositiveBigIntegerField(
        _("co-financing (JPY)"), null=True, blank=True
    )
    co_financing_sources = models.TextField(
        _("sources of co-financing"), blank=True, max_length=2000
    )
    instruments = models.JSONField(_("financing instruments sought"), default=list, blank=True)
    # Contact
    contact_name = models.CharField(_("contact person"), max_length=200, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=40, blank=True)
    # Declaration
    declaration = models.BooleanField(_("declaration"), default=False)

    # Set by staff only: screening and the decision.
    eligibility = models.JSONField(_("eligibility checklist"), default=dict, blank=True)
    resubmission_due = models.DateTimeField(_("resubmit by"), null=True, blank=True)
    # An editor's word to the leads that the draft is ready for them to submit (issue 18).
    ready_at = models.DateTimeField(_("marked ready for the lead at"), null=True, blank=True)
    ready_by = user_link(_("marked ready by"), blank=True)
    approved_jpy = models.PositiveBigIntegerField(_("approved amount (JPY)"), null=True, blank=True)
    decision_letter = models.TextField(_("decision letter"), blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = user_link(blank=True, verbose_name=_("decided by"))

    # Optimistic locking: a save based on an older version is refused.
    version = models.PositiveIntegerField(default=1, editable=False, verbose_name=_("version"))
    # The city's earlier proposal this draft was started from (services.copy_proposal): its
    # edit page shows the earlier one's evaluation summary.
    copied_from = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="copies",
        verbose_name=_("copied from"),
    )
    created_by = user_link(verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_by = user_link(verbose_name=_("updated by"))
    updated_at = models.DateTimeField(_("last saved"), auto_now=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)

    objects = ProposalQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("proposal")
        verbose_name_plural = _("proposals")
        indexes = [
            models.Index(fields=["call", "city", "status"]),
            models.Index(fields=["-created_at", "-id"], name="proposal_newest_first"),
            models.Index(fields=["city", "-updated_at"], name="proposal_city_recent"),
        ]
        permissions = [
            ("screen_proposal", _("Can screen proposals and request revisions")),
            ("assign_reviewers", _("Can assign reviewers")),
            ("decide_proposal", _("Can shortlist, approve and reject proposals")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(requested_jpy__isnull=True)
                | Q(total_cost_jpy__isnull=True)
                | Q(requested_jpy__lte=models.F("total_cost_jpy")),
                name="proposal_request_within_cost",
            ),
        ]

    def __str__(self) -> str:
        return self.reference_code or self.title

    def get_absolute_url(self) -> str:
        return reverse("proposal_detail", args=[self.code])

    @property
    def is_editable(self) -> bool:
        return self.status in CITY_EDITABLE

    @property
    def is_decided(self) -> bool:
        return self.status not in BEFORE_DECISION and self.status != Status.WITHDRAWN

    def evaluation_summary_for(self, language: str):
        """The evaluation summary a reader of `language` gets: the one in their language,
        else the English one, else any (None without one). Reads `evaluation_summaries`
        (prefetched by pages, with their criteria)."""
        summaries = {summary.language: summary for summary in self.evaluation_summaries.all()}
        return (
            summaries.get(language)
            or summaries.get("en")
            or next(iter(sorted(summaries.items())), (None, None))[1]
        )

    def get_due_at(self):
        """The instant this proposal is due now (ProposalQuerySet.with_due_at), in one query;
        lists annotate it instead."""
        return Proposal.objects.with_due_at().values_list("due_at", flat=True).get(pk=self.pk)

    @property
    def reviewers_disagree(self) -> bool:
        """Of a proposal read `with_scores()`: its reviews' spread is above 1.5 points."""
        return self.score_spread is not None and self.score_spread > DISAGREEMENT_SPREAD

    def missing_for_submission(self) -> list[tuple[str, str]]:
        """What still stops submission, as (section, what is missing), in the form's order."""
        missing: list[tuple[str, str]] = []

        def need(section, ok, message):
            if not ok:
                missing.append((section, message))

        overview, problem, areas, outcomes, timeline, budget = (title for title, _names in SECTIONS)
        need(overview, self.title.strip(), _("a title"))
        need(overview, self.summary.strip(), _("a summary"))
        need(
            overview,
            self.contact_name.strip() and self.contact_email,
            _("a contact person with an email address"),
        )
        need(problem, self.problem.strip(), _("the problem to solve"))
        need(problem, self.solution.strip(), _("the proposed solution"))
        need(areas, self.focus_areas.exists(), _("at least one ASCN focus area"))  # prefetched
        need(areas, self.sectors.exists(), _("at least one sector"))  # lists: no query
        need(outcomes, self.outcomes.strip(), _("the expected outcomes"))
        need(outcomes, self.indicators.strip(), _("indicators to measure them"))
        need(
            timeline, self.start_date and self.duration_months, _("a planned start and a duration")
        )
        need(timeline, self.timeline.strip(), _("the milestones"))
        need(budget, self.total_cost_jpy, _("the total cost"))
        need(budget, self.requested_jpy, _("the requested amount"))
        if self.requested_jpy and self.requested_jpy > self.call.max_request_jpy:
            missing.append(
                (
                    budget,
                    _("a requested amount within the call's maximum of ¥%(max)s")
                    % {"max": f"{self.call.max_request_jpy:,}"},
                )
            )
        need(budget, self.instruments, _("at least one financing instrument"))
        need(
            _("Attachments"),
            # Read through .all(), so that a list of drafts prefetching their attachments
            # (the home page) asks no query per draft.
            any(a.kind == AttachmentKind.CONCEPT_NOTE for a in self.attachments.all()),
            _("a concept note"),
        )
        need(_("Declaration"), self.declaration, _("the declaration, ticked"))
        return missing

    # The workflow of SPEC.md, declared here and nowhere else: for each transition who may
    # take it (permission) and what must hold first (conditions). Services take transitions
    # through services.take_transition, which records a StatusChange and tells listeners.

    @transition(
        field=status,
        source=[Status.DRAFT, Status.REVISION_REQUESTED],
        target=Status.SUBMITTED,
        permission=by_a_city_lead,
    )
    def submit(self) -> None:
        """A lead submits a complete proposal while the call is open for the city."""

    @transition(
        field=status,
        source=Status.SUBMITTED,
        target=Status.SCREENING,
        permission=staff_may("screen_proposal"),
    )
    def screen(self) -> None:
        """Staff take a submitted proposal into screening."""

    @transition(
        field=status,
        source=Status.SCREENING,
        target=Status.REVISION_REQUESTED,
        permission=staff_may("screen_proposal"),
        conditions=[has_resubmission_due],
    )
    def request_revision(self) -> None:
        """Staff return the proposal to the city, with a message and a resubmission deadline."""

    @transition(
        field=status,
        source=Status.SCREENING,
        target=Status.UNDER_REVIEW,
        permission=staff_may("screen_proposal"),
        conditions=[eligibility_confirmed],
    )
    def send_to_review(self) -> None:
        """Staff send an eligible proposal to the reviewers."""

    @transition(
        field=status,
        source=Status.UNDER_REVIEW,
        target=Status.SHORTLISTED,
        permission=staff_may("decide_proposal"),
        conditions=[has_submitted_review],
    )
    def shortlist(self) -> None:
        """Staff shortlist a reviewed proposal."""

    @transition(
        field=status,
        source=Status.SHORTLISTED,
        target=Status.APPROVED,
        permission=staff_may("decide_proposal"),
        conditions=[has_approved_amount, has_decision_letter],
    )
    def approve(self) -> None:
        """Staff approve a shortlisted proposal with an amount and a decision letter."""

    @transition(
        field=status,
        source=[Status.SCREENING, Status.UNDER_REVIEW, Status.SHORTLISTED],
        target=Status.REJECTED,
        permission=staff_may("decide_proposal"),
        conditions=[has_decision_letter],
    )
    def reject(self) -> None:
        """Staff reject the proposal (as ineligible in screening, or after review) with a letter."""

    @transition(
        field=status, source=BEFORE_DECISION, target=Status.WITHDRAWN, permission=by_a_city_lead
    )
    def withdraw(self) -> None:
        """A lead withdraws the proposal, with a reason, before a decision."""


class PartnerKind(models.TextChoices):
    COMPANY = "company", _("Company")
    UNIVERSITY = "university", _("University or research institute")
    PUBLIC = "public", _("Public body or agency")
    LOCAL_GOVERNMENT = "local_government", _("Japanese local government")
    NGO = "ngo", _("Non-profit organisation")
    OTHER = "other", _("Other")


class JapanesePartner(models.Model):
    proposal = models.ForeignKey(
        Proposal, on_delete=models.CASCADE, related_name="partners", verbose_name=_("proposal")
    )
    name = models.CharField(_("organisation"), max_length=200)
    kind = models.CharField(_("type"), max_length=20, choices=PartnerKind)
    role = models.CharField(_("role in the project"), max_length=300)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("Japanese partner")
        verbose_name_plural = _("Japanese partners")

    def __str__(self) -> str:
        return self.name


class AttachmentKind(models.TextChoices):
    CONCEPT_NOTE = "concept_note", _("Concept note")
    BUDGET = "budget", _("Budget sheet")
    MAP = "map", _("Map")
    LETTER = "letter", _("Letter of support")
    OTHER = "other", _("Other")


def attachment_upload_to(instance: "Attachment", filename: str) -> str:
    # A random name with the extension of the checked content, never the uploader's.
    return f"attachments/{uuid.uuid4().hex}.{EXTENSIONS[instance.content_type][0]}"


class Attachment(models.Model):
    code = models.CharField(
        max_length=16, unique=True, default=new_code, editable=False, verbose_name=_("code")
    )
    proposal = models.ForeignKey(
        Proposal, on_delete=models.CASCADE, related_name="attachments", verbose_name=_("proposal")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=AttachmentKind)
    file = models.FileField(_("file"), upload_to=attachment_upload_to)
    name = models.CharField(_("file name"), max_length=120)
    content_type = models.CharField(max_length=100, verbose_name=_("content type"))
    size = models.PositiveBigIntegerField(_("size"))
    uploaded_by = user_link(verbose_name=_("uploaded by"))
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        ordering = ["kind", "uploaded_at"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.name


class StatusChange(models.Model):
    """Every transition of a proposal: who, when, from, to, and the message."""

    proposal = models.ForeignKey(
        Proposal,
        on_delete=models.CASCADE,
        related_name="status_changes",
        verbose_name=_("proposal"),
    )
    from_status = models.CharField(_("from"), max_length=20, choices=Status.choices)
    to_status = models.CharField(_("to"), max_length=20, choices=Status.choices)
    actor = user_link(_("by"))
    message = models.TextField(_("message"), blank=True)
    is_public = models.BooleanField(
        _("shown to the city"), default=True, help_text=_("Internal notes are for staff only.")
    )
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status}"

    @property
    def shown_message(self) -> str:
        """The message in the reader's language: the portal's own ("Submitted.", written with
        gettext_noop by the services) translated, what staff typed as typed."""
        return gettext(self.message) if self.message else ""


class ProposalSnapshot(models.Model):
    """The proposal as it was at each submission, so staff can compare versions."""

    proposal = models.ForeignKey(
        Proposal, on_delete=models.CASCADE, related_name="snapshots", verbose_name=_("proposal")
    )
    number = models.PositiveSmallIntegerField(_("submission"))
    data = models.JSONField(verbose_name=_("data"))
    submitted_by = user_link(verbose_name=_("submitted by"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["proposal", "number"]
        verbose_name = _("submitted version")
        verbose_name_plural = _("submitted versions")
        constraints = [
            models.UniqueConstraint(fields=["proposal", "number"], name="snapshot_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.proposal} #{self.number}"


class ProposalRevision(models.Model):
    """The editable content of a draft at each saved version, so that a save based on an older
    version can be merged field by field with what colleagues saved since."""

    proposal = models.ForeignKey(
        Proposal, on_delete=models.CASCADE, related_name="revisions", verbose_name=_("proposal")
    )
    version = models.PositiveIntegerField(verbose_name=_("version"))
    values = models.JSONField(verbose_name=_("values"))
    saved_by = user_link(verbose_name=_("saved by"))
    saved_at = models.DateTimeField(auto_now_add=True, verbose_name=_("saved at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposal", "version"], name="revision_version_unique"),
        ]
        verbose_name = _("saved revision")
        verbose_name_plural = _("saved revisions")

    def __str__(self) -> str:
        return f"{self.proposal} v{self.version}"


class ReferenceSequence(models.Model):
    """The last reference number given per year and country (numbers are never reused)."""

    year = models.PositiveSmallIntegerField(verbose_name=_("year"))
    country = models.ForeignKey(
        "proposals.Country", on_delete=models.PROTECT, verbose_name=_("country")
    )
    last = models.PositiveIntegerField(default=0, verbose_name=_("last"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["year", "country"], name="reference_sequence_unique"),
        ]
        verbose_name = _("reference sequence")
        verbose_name_plural = _("reference sequences")

    def __str__(self) -> str:
        return f"{self.year} {self.country_id}: {self.last}"


class Message(models.Model):
    """A clarification message between the city and programme staff about one proposal."""

    proposal = models.ForeignKey(
        Proposal, on_delete=models.CASCADE, related_name="messages", verbose_name=_("proposal")
    )
    author = user_link(verbose_name=_("author"))
    from_staff = models.BooleanField(_("from programme staff"), default=False)
    body = models.TextField(_("message"), max_length=5000)
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("clarification message")
        verbose_name_plural = _("clarification messages")

    def __str__(self) -> str:
        return self.body[:60]
