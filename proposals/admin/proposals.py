import datetime

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Prefetch, Q
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from smartjamp import cache_versions

from .. import scoring, services
from ..exports import export_proposal_queryset
from ..fiscal import jst_today
from ..forms import (
    ApproveForm,
    AssignForm,
    AutoAssignForm,
    ConsensusForm,
    EligibilityForm,
    EvaluationSummaryForm,
    LetterForm,
    RevisionForm,
)
from ..models import (
    Attachment,
    JapanesePartner,
    Message,
    PanelScore,
    Proposal,
    ReviewAssignment,
    Score,
    Status,
    StatusChange,
)
from .base import (
    CachedRows,
    CachedRowsChangeList,
    FilteredCountOnly,
    OwnPages,
    PlainActionCheckbox,
    ReadOnlyInline,
    has_perm,
    is_change_list,
    report_count,
    yen_field,
)


class PartnerInline(ReadOnlyInline, admin.TabularInline):
    model = JapanesePartner
    fields = ["name", "kind", "role"]


class AttachmentInline(ReadOnlyInline, admin.TabularInline):
    model = Attachment
    fields = ["download", "kind", "size", "uploaded_at"]

    @admin.display(description=_("file"))
    def download(self, attachment):
        url = reverse("proposal_attachment", args=[attachment.proposal.code, attachment.code])
        return format_html('<a href="{}">{}</a>', url, attachment.name)


class StatusChangeInline(ReadOnlyInline, admin.TabularInline):
    model = StatusChange
    fields = ["created_at", "from_status", "to_status", "actor", "message", "is_public"]


class MessageInline(admin.StackedInline):
    """Staff answer the city's questions here; earlier messages cannot be changed."""

    model = Message
    extra = 1
    fields = ["body"]
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False


class AssignmentInline(ReadOnlyInline, admin.TabularInline):
    """The proposal's reviewers, their declarations and scores (for staff)."""

    model = ReviewAssignment
    fields = [
        "reviewer",
        "due",
        "state",
        "conflict_reason",
        "weighted",
        "recommendation",
        "comment",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reviewer", "review")

    @staticmethod
    def _submitted(assignment):
        review = getattr(assignment, "review", None)
        return review if review is not None and review.is_submitted else None

    @admin.display(description=_("weighted score"))
    def weighted(self, assignment):
        review = self._submitted(assignment)
        if review is None or review.weighted_score is None:
            return "—"
        return f"{review.weighted_score:.2f}"

    @admin.display(description=_("recommendation"))
    def recommendation(self, assignment):
        review = self._submitted(assignment)
        return review.get_recommendation_display() if review else "—"

    @admin.display(description=_("comment"))
    def comment(self, assignment):
        review = self._submitted(assignment)
        return review.comment if review else "—"


ASSIGNMENTS_MADE = ngettext_lazy(
    "%(count)d assignment made.", "%(count)d assignments made.", "count"
)

# What a decision waits for has its home in the review services (`_after_the_reviews`).
OPEN_STATES = services.review.OPEN_REVIEW_STATES
outstanding_reviews = services.review.outstanding_reviews


def default_due() -> datetime.date:
    """The review due date prefilled when assigning: REVIEW_DUE_DAYS from today (JST)."""
    return jst_today() + datetime.timedelta(days=settings.REVIEW_DUE_DAYS)


def reviewer_pool_with_load():
    """The reviewer pool, each with `open_load`: their assignments still to review."""
    return (
        services.reviewer_pool()
        .annotate(open_load=Count("assignments", filter=Q(assignments__state__in=OPEN_STATES)))
        .order_by("email")
    )


def with_load(reviewer) -> str:
    """A reviewer as the assignment form lists them: name and open load."""
    return ngettext_lazy(
        "%(reviewer)s · %(count)d review open", "%(reviewer)s · %(count)d reviews open", "count"
    ) % {"reviewer": reviewer, "count": reviewer.open_load}


def _each_by(service, description, permission, done_message):
    """An action that calls `service` (by its name in `services`) on each proposal."""

    @admin.action(description=description, permissions=[permission])
    def action(self, request, queryset):
        call = getattr(services, service)
        self._each(request, queryset, lambda p: call(actor=request.user, proposal=p), done_message)

    return action


def _export_selected(fmt, description):
    """An action that exports the selected proposals in `fmt`."""

    @admin.action(description=description, permissions=["view"])
    def action(self, request, queryset):
        selected = Proposal.objects.filter(pk__in=queryset.values("pk"))
        return export_proposal_queryset(request, selected, fmt, selected=True)

    return action


# The list's columns sorted by a value that only `ProposalAdmin.with_list_scores` gives.
SCORE_ORDERING = {"review_count", "score"}


class ProposalChangeList(CachedRowsChangeList):
    """The proposal list: its rows cached (REPORTS covers all they show), and its scores
    read only to render them (`prepare_rows`, one query for the page's 50 proposals).

    The scores are a third of the list's time when built afresh: building, planning and
    running `with_scores`' correlated subqueries (a median per proposal). Sorted by a score,
    the database needs them for every row, and the list's queryset has them."""

    def get_queryset(self, request, exclude_parameters=None):
        ordering = {
            self.get_ordering_field(self.list_display[i]) for i in self.get_ordering_field_columns()
        }
        if ordering & SCORE_ORDERING and "score" not in self.root_queryset.query.annotations:
            self.root_queryset = self.model_admin.with_list_scores(self.root_queryset)
        return super().get_queryset(request, exclude_parameters)

    def prepare_rows(self) -> None:
        """The score columns of the page's rows, in one query keyed by their ids."""
        page = {proposal.pk: proposal for proposal in self.result_list}
        if all(hasattr(proposal, "assigned") for proposal in page.values()):
            return  # sorted by a score: read with the rows
        columns = ["review_count", "score", "score_spread", "assigned"]
        scored = self.model_admin.with_list_scores(Proposal.objects.filter(pk__in=page))
        for pk, *values in scored.values_list("pk", *columns):
            page[pk].__dict__.update(zip(columns, values, strict=True))


@admin.register(Proposal)
class ProposalAdmin(OwnPages, CachedRows, PlainActionCheckbox, FilteredCountOnly, admin.ModelAdmin):
    list_display = [
        "reference_code",
        "title",
        "city",
        "call",
        "status",
        "reviews",
        "combined_score",
        "spread",
        "requested",
    ]
    requested = yen_field(Proposal, "requested_jpy")
    approved = yen_field(Proposal, "approved_jpy")
    list_filter = ["status", "call", "city__country"]
    # The city column is "Name (ISO)" from the city's own row: no join to the country.
    list_select_related = ["city", "call"]
    search_fields = ["reference_code", "title", "city__name", "code"]
    inlines = [PartnerInline, AttachmentInline, AssignmentInline, StatusChangeInline, MessageInline]
    readonly_fields = [
        "code",
        "reference_code",
        "status",
        "call",
        "city",
        "submitted_at",
        "created_at",
        "updated_at",
        "updated_by",
        "title",
        "summary",
        "requested",
        "approved",
        "resubmission_due",
        "decision_letter",
        "decided_by",
        "decided_at",
        "workflow_links",
    ]
    fields = readonly_fields
    actions = [
        "screen_selected",
        "send_to_review_selected",
        "assign_selected",
        "auto_assign_selected",
        "shortlist_selected",
        "reject_selected",
        "export_csv_selected",
        "export_xlsx_selected",
    ]

    list_per_page = 50
    changelist_class = ProposalChangeList
    # Proposals, their reviews and assignments, cities, countries and calls.
    rows_versions = [cache_versions.REPORTS]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if is_change_list(request):
            # The list shows a few columns; the long texts stay in the database.
            queryset = queryset.only(
                "reference_code",
                "title",
                "status",
                "requested_jpy",
                "city__name",
                "city__country_id",
                "call__title",
            )
        return queryset

    def with_list_scores(self, queryset):
        """The list's score columns: the proposal's score (`with_scores`, its one home) and
        how many reviewers it has now (`assigned`)."""
        assigned = (
            ReviewAssignment.objects.active()
            .filter(proposal=OuterRef("pk"))
            .order_by()
            .values("proposal")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return queryset.with_scores().annotate(assigned=Coalesce(assigned, 0))

    @admin.display(description=_("reviews"), ordering="review_count")
    def reviews(self, proposal):
        return f"{proposal.review_count} / {proposal.assigned}"

    @admin.display(description=_("score"), ordering="score")
    def combined_score(self, proposal):
        return "—" if proposal.score is None else f"{proposal.score:.2f}"

    @admin.display(description=_("spread"))
    def spread(self, proposal):
        if proposal.score_spread is None:
            return "—"
        if proposal.reviewers_disagree:
            return format_html(
                '<strong class="disagreement">{} ⚠ {}</strong>',
                f"{proposal.score_spread:.2f}",
                _("disagreement"),
            )
        return f"{proposal.score_spread:.2f}"

    @admin.display(description=_("workflow"))
    def workflow_links(self, proposal):
        links = [
            (reverse("admin:proposals_proposal_screening", args=[proposal.pk]), _("Screening")),
            (reverse("admin:proposals_proposal_decision", args=[proposal.pk]), _("Decision")),
            (reverse("admin:proposals_proposal_versions", args=[proposal.pk]), _("Versions")),
            (
                reverse("admin:proposals_call_ranking", args=[proposal.call_id]),
                _("Ranking of the call"),
            ),
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # Proposals are the programme's record: withdrawn or rejected, never deleted.
        return False

    def save_model(self, request, obj, form, change):
        # Every field here is read-only; saving the row would only risk undoing a city's save
        # or a transition taken meanwhile. Messages are saved by save_formset.
        pass

    def save_formset(self, request, form, formset, change):
        if formset.model is not Message:
            return super().save_formset(request, form, formset, change)
        for message in formset.save(commit=False):
            services.post_message(user=request.user, proposal=form.instance, body=message.body)
        return None

    # Workflow: every change goes through a service, which takes the declared transition.

    def _each(self, request, queryset, action, done_message):
        done = 0
        for proposal in queryset:
            try:
                action(proposal)
            except (ValidationError, PermissionDenied) as exc:
                reason = (
                    " ".join(exc.messages) if isinstance(exc, ValidationError) else _("not allowed")
                )
                self.message_user(request, f"{proposal}: {reason}", messages.ERROR)
            else:
                done += 1
        if done:
            report_count(self, request, done_message, done)

    screen_selected = _each_by(
        "screen_proposal",
        _("Take into screening"),
        "screen",
        _("%(count)d proposal(s) in screening."),
    )
    send_to_review_selected = _each_by(
        "send_to_review",
        _("Send to review (eligible)"),
        "screen",
        _("%(count)d proposal(s) sent to review."),
    )

    @admin.action(description=_("Shortlist"), permissions=["decide"])
    def shortlist_selected(self, request, queryset):
        # No override here: a decision without every review is taken on the proposal's own
        # decision page, where the scores are shown and staff confirm it.
        def shortlist(proposal):
            services.shortlist_proposal(actor=request.user, proposal=proposal)

        self._each(request, queryset, shortlist, _("%(count)d proposal(s) shortlisted."))

    def _intermediate(self, request, queryset, form, action, title):
        return self.action_page(
            request,
            title,
            action=action,
            intro=_("Selected proposals:"),
            submit=_("Confirm"),
            rows=queryset,
            form=form,
        )

    @admin.action(description=_("Assign reviewers…"), permissions=["assign"])
    def assign_selected(self, request, queryset):
        form = AssignForm(
            request.POST if "apply" in request.POST else None,
            pool=reviewer_pool_with_load(),
            initial={"due": default_due()},
        )
        form.fields["reviewers"].label_from_instance = with_load
        if form.is_bound and form.is_valid():
            made, skipped = services.assign_reviewers(
                actor=request.user,
                proposals=list(queryset),
                reviewers=list(form.cleaned_data["reviewers"]),
                due=form.cleaned_data["due"],
            )
            self._report_assignments(request, made, skipped)
            return None
        return self._intermediate(request, queryset, form, "assign_selected", _("Assign reviewers"))

    @admin.action(description=_("Auto-assign reviewers…"), permissions=["assign"])
    def auto_assign_selected(self, request, queryset):
        form = AutoAssignForm(
            request.POST if "apply" in request.POST else None, initial={"due": default_due()}
        )
        if form.is_bound and form.is_valid():
            made, skipped = services.auto_assign(
                actor=request.user,
                proposals=list(queryset),
                per_proposal=form.cleaned_data["per_proposal"],
                due=form.cleaned_data["due"],
            )
            self._report_assignments(request, made, skipped)
            return None
        return self._intermediate(
            request, queryset, form, "auto_assign_selected", _("Auto-assign reviewers")
        )

    def _report_assignments(self, request, made, skipped):
        report_count(self, request, ASSIGNMENTS_MADE, len(made))
        for reason in skipped:
            self.message_user(request, reason, messages.WARNING)

    @admin.action(description=_("Reject with a letter…"), permissions=["decide"])
    def reject_selected(self, request, queryset):
        form = LetterForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._each(
                request,
                queryset,
                lambda p: services.reject_proposal(
                    actor=request.user, proposal=p, letter=form.cleaned_data["letter"]
                ),
                _("%(count)d proposal(s) rejected."),
            )
            return None
        return self._intermediate(request, queryset, form, "reject_selected", _("Reject proposals"))

    export_csv_selected = _export_selected("csv", _("Export the selected as CSV"))
    export_xlsx_selected = _export_selected("xlsx", _("Export the selected as Excel"))

    has_screen_permission = has_perm("screen_proposal")
    has_assign_permission = has_perm("assign_reviewers")
    has_decide_permission = has_perm("decide_proposal")

    # Pages of one proposal: screening, decision, versions.

    pages = {
        f"proposals_proposal_{name}": (f"<path:object_id>/{name}/", f"{name}_view")
        for name in ("screening", "decision", "consensus", "evaluation", "versions")
    }

    def _proposal_or_404(self, request, object_id, permission):
        # With its scores: the decision page shows them.
        proposals = self.get_queryset(request).with_scores()
        return self.object_or_404(request, object_id, permission, proposals)

    def _page(self, request, template, proposal, **context):
        return self.page(
            request,
            f"admin/proposals/proposal/{template}.html",
            f"{proposal.reference_code or proposal.title}",
            original=proposal,
            proposal=proposal,
            **context,
        )

    def _take_step(self, request, proposal, steps) -> bool:
        """Take the posted step of `steps`, {step: (its form or None, the service, the success
        message)}: the service is called with the actor, the proposal and the form's cleaned
        data. Whether it was taken (a service's refusal is shown as errors)."""
        step = request.POST.get("step")
        if step not in steps:
            return False
        form, service, success = steps[step]
        if form is not None and not form.is_valid():
            return False
        data = form.cleaned_data if form is not None else {}
        try:
            service(actor=request.user, proposal=proposal, **data)
        except ValidationError as exc:
            for message in exc.messages:
                self.message_user(request, message, messages.ERROR)
            return False
        self.message_user(request, success, messages.SUCCESS)
        return True

    def screening_view(self, request, object_id):
        proposal = self._proposal_or_404(request, object_id, "screen_proposal")
        step = request.POST.get("step")
        checklist = EligibilityForm(
            request.POST if step == "checklist" else None, checks=proposal.eligibility
        )
        revision = RevisionForm(request.POST if step == "revision" else None)
        rejection = LetterForm(request.POST if step == "reject" else None)

        def record_eligibility(*, actor, proposal, **checks):
            services.record_eligibility(actor=actor, proposal=proposal, checks=checks)

        done = self._take_step(
            request,
            proposal,
            {
                "screen": (None, services.screen_proposal, _("The proposal is in screening.")),
                "checklist": (checklist, record_eligibility, _("Checklist saved.")),
                "send": (None, services.send_to_review, _("Sent to review.")),
                "revision": (
                    revision,
                    services.request_revision,
                    _("Revision requested from the city."),
                ),
                "reject": (rejection, services.reject_proposal, _("Rejected as ineligible.")),
            },
        )
        if done or (step and step not in ("checklist", "revision", "reject")):
            return HttpResponseRedirect(request.path)
        return self._page(
            request,
            "screening",
            proposal,
            checklist=checklist,
            revision=revision,
            rejection=rejection,
            missing=proposal.missing_for_submission(),
            # What is screened: the proposal itself, as the print view shows it.
            partners=proposal.partners.all(),
            attachments=proposal.attachments.all(),
            focus_areas=proposal.focus_areas.all(),
            sectors=proposal.sectors.all(),
        )

    def decision_view(self, request, object_id):
        proposal = self._proposal_or_404(request, object_id, "decide_proposal")
        step = request.POST.get("step")
        approval = ApproveForm(
            request.POST if step == "approve" else None, requested=proposal.requested_jpy
        )
        rejection = LetterForm(request.POST if step == "reject" else None)
        outstanding = outstanding_reviews(proposal)
        # Deciding without every review is refused by the services unless staff tick the
        # override (recorded there); a refusal brings the page back with the forms as posted.
        override = bool(request.POST.get("override"))

        def decided(service):
            return lambda **kwargs: service(override=override, **kwargs)

        done = self._take_step(
            request,
            proposal,
            {
                "shortlist": (None, decided(services.shortlist_proposal), _("Shortlisted.")),
                "approve": (
                    approval,
                    decided(services.approve_proposal),
                    _("Approved; the city sees the decision letter."),
                ),
                "reject": (
                    rejection,
                    decided(services.reject_proposal),
                    _("Rejected; the city sees the decision letter."),
                ),
            },
        )
        if done or step == "shortlist":
            return HttpResponseRedirect(request.path)
        normalised = scoring.normalised_scores(proposal.call).get(proposal.pk)
        return self._page(
            request,
            "decision",
            proposal,
            approval=approval,
            rejection=rejection,
            normalised=normalised,
            outstanding=outstanding,
            envelope=services.envelope_use(proposal.call)
            if proposal.status == Status.SHORTLISTED
            else None,
            **self._reviews(proposal),
        )

    def consensus_view(self, request, object_id):
        """The consensus panel's page for a proposal: the individual reviews side by side
        (with their spread and the normalised score), and what the panel agreed."""
        proposal = self._proposal_or_404(request, object_id, "decide_proposal")
        sessions = proposal.call.panels.all()
        reviews = self._reviews(proposal)  # with the rubric's criteria, read once
        criteria = reviews["criteria"]
        form = ConsensusForm(request.POST or None, sessions=sessions, criteria=criteria)
        if request.method == "POST" and form.is_valid():
            try:
                services.record_consensus(
                    actor=request.user,
                    proposal=proposal,
                    session=form.cleaned_data["session"],
                    scores=form.scores(),
                    rationale=form.cleaned_data["rationale"],
                    recommendation=form.cleaned_data["recommendation"],
                )
            except ValidationError as exc:
                for message in exc.messages:
                    self.message_user(request, message, messages.ERROR)
            else:
                self.message_user(
                    request, _("The panel's consensus is recorded."), messages.SUCCESS
                )
                return HttpResponseRedirect(request.path)
        return self._page(
            request,
            "consensus",
            proposal,
            form=form,
            has_panels=sessions.exists(),
            records=self._panel_records(proposal, criteria),
            normalised=scoring.normalised_scores(proposal.call).get(proposal.pk),
            **reviews,
        )

    @staticmethod
    def _panel_records(proposal, criteria) -> list:
        """What the consensus panels agreed on the proposal, the latest first: each record
        with its agreed scores in the rubric's order."""
        records = (
            proposal.panel_records.select_related("session")
            .prefetch_related(
                Prefetch("scores", queryset=PanelScore.objects.only("record", "criterion", "value"))
            )
            .order_by("-session__held_on", "-pk")
        )
        rows = []
        for record in records:
            agreed = {score.criterion_id: score.value for score in record.scores.all()}
            rows.append((record, [agreed.get(criterion.pk) for criterion in criteria]))
        return rows

    def evaluation_view(self, request, object_id):
        """The evaluation summary the city reads once the proposal is decided, one a
        language (?language=vi), written from the reviews beside it."""
        proposal = self._proposal_or_404(request, object_id, "decide_proposal")
        languages = dict(settings.LANGUAGES)
        language = request.POST.get("language") or request.GET.get("language")
        language = language if language in languages else "en"
        summaries = {
            summary.language: summary
            for summary in proposal.evaluation_summaries.prefetch_related("criteria")
        }
        reviews = self._reviews(proposal)  # with the rubric's criteria, read once
        criteria = reviews["criteria"]
        initial = {"language": language}
        if language in summaries:
            summary = summaries[language]
            initial["overall"] = summary.overall
            for feedback in summary.criteria.all():
                initial[f"strengths_{feedback.criterion_id}"] = feedback.strengths
                initial[f"weaknesses_{feedback.criterion_id}"] = feedback.weaknesses
        form = EvaluationSummaryForm(request.POST or None, criteria=criteria, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                services.write_evaluation_summary(
                    actor=request.user,
                    proposal=proposal,
                    language=form.cleaned_data["language"],
                    overall=form.cleaned_data["overall"],
                    feedback=form.feedback(),
                )
            except ValidationError as exc:
                for message in exc.messages:
                    self.message_user(request, message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    _("The evaluation summary is saved; the city reads it once it is decided."),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    f"{request.path}?language={form.cleaned_data['language']}"
                )
        return self._page(
            request,
            "evaluation",
            proposal,
            form=form,
            language=language,
            languages=[(code, name, code in summaries) for code, name in settings.LANGUAGES],
            records=self._panel_records(proposal, criteria),
            **reviews,
        )

    @staticmethod
    def _reviews(proposal) -> dict:
        """Beside the aggregate: each reviewer's scores per criterion, weighted score,
        recommendation and comment (submitted reviews), and where the others stand."""
        criteria = list(proposal.call.criteria.all())
        assignments = (
            proposal.assignments.select_related("reviewer", "review")
            .prefetch_related(
                Prefetch(
                    "review__scores", queryset=Score.objects.only("review", "criterion", "value")
                )
            )
            .order_by("reviewer__email")
        )
        rows = []
        for assignment in assignments:
            review = getattr(assignment, "review", None)
            submitted = review is not None and review.is_submitted
            values = (
                {score.criterion_id: score.value for score in review.scores.all()}
                if submitted
                else {}
            )
            rows.append(
                {
                    "assignment": assignment,
                    "review": review if submitted else None,
                    "scores": [values.get(criterion.pk) for criterion in criteria],
                }
            )
        return {"criteria": criteria, "reviews": rows}

    def versions_view(self, request, object_id):
        proposal = self._proposal_or_404(request, object_id, "view_proposal")
        snapshots = list(proposal.snapshots.all())
        changes = []
        for older, newer in zip(snapshots, snapshots[1:], strict=False):
            changed = [
                (name, older.data.get(name), newer.data.get(name))
                for name in newer.data
                if older.data.get(name) != newer.data.get(name)
            ]
            changes.append((older, newer, changed))
        return self._page(request, "versions", proposal, snapshots=snapshots, changes=changes)
