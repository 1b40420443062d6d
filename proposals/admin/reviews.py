"""The reviewer's panel ("My assignments") and the audit trail."""

import datetime
import json

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from smartjamp import cache_versions
from smartjamp.uploads import file_download

from .. import services
from ..exports import download
from ..forms import ConflictForm, ReviewForm, score_field
from ..models import AssignmentState, AuditEvent, Recommendation, ReviewAssignment, Score
from ..permissions import (
    get_assignment_for_reviewer,
    get_attachment_for_reviewer,
    is_programme_staff,
    reviewer_may_read,
)
from ..scoring import weighted_score
from ..templatetags.smartjamp import short_date
from .base import CachedRows, FilteredCountOnly, OwnPages, ReadOnlyAdmin, is_change_list


@admin.register(ReviewAssignment)
class ReviewAssignmentAdmin(
    OwnPages, ReadOnlyAdmin, CachedRows, FilteredCountOnly, admin.ModelAdmin
):
    """Read-only: staff assign from the proposals list, reviewers work in `review_view`."""

    list_display = ["proposal_reference", "proposal_title", "city", "due_on", "state", "open"]
    list_filter = ["state", "proposal__call"]
    search_fields = ["proposal__reference_code", "proposal__title", "proposal__city__name"]
    ordering = ["due", "pk"]
    list_per_page = 50

    # The columns each reader's list shows (get_list_display), and the rows they read: staff
    # see every reviewer's assignments, a reviewer their own with the proposal's city.
    STAFF_COLUMNS = [
        "proposal__reference_code",
        "proposal__title",
        "reviewer__email",
        "reviewer__full_name",
    ]
    REVIEWER_COLUMNS = [
        "proposal__reference_code",
        "proposal__title",
        "proposal__city__name",
        "proposal__city__country_id",
    ]

    def get_list_select_related(self, request):
        if is_programme_staff(request.user):
            return ["proposal", "reviewer"]
        return ["proposal__city"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        staff = is_programme_staff(request.user)
        if is_change_list(request):
            # Only what the reader's columns show: the rows' long texts stay in the database.
            columns = self.STAFF_COLUMNS if staff else self.REVIEWER_COLUMNS
            queryset = queryset.only("due", "state", *columns)
        if staff:
            return queryset
        return queryset.filter(reviewer=request.user)  # a reviewer's own assignments only

    def get_list_display(self, request):
        if is_programme_staff(request.user):
            return ["proposal_reference", "proposal_title", "reviewer", "due_on", "state"]
        return self.list_display

    def get_list_display_links(self, request, list_display):
        if is_programme_staff(request.user):
            return super().get_list_display_links(request, list_display)
        # A reviewer opens an assignment by its own button (`open`): the change page would
        # only send them on to the review page.
        return None

    # Assignments, their proposals, cities and countries.
    rows_versions = [cache_versions.REPORTS]

    def rows_unversioned(self, rows, list_display):
        # The reviewers' names as staff's rows show them: no number follows a renamed user.
        return (
            [str(assignment.reviewer) for assignment in rows] if "reviewer" in list_display else []
        )

    def get_list_filter(self, request):
        return self.list_filter if is_programme_staff(request.user) else ["state"]

    def changelist_view(self, request, extra_context=None):
        title = _("Review assignments") if is_programme_staff(request.user) else _("My assignments")
        return super().changelist_view(request, {**(extra_context or {}), "title": title})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not is_programme_staff(request.user):
            return redirect("admin:proposals_reviewassignment_review", object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("reference"), ordering="proposal__reference_code")
    def proposal_reference(self, assignment):
        return assignment.proposal.reference_code

    @admin.display(description=_("proposal"))
    def proposal_title(self, assignment):
        return assignment.proposal.title

    @admin.display(description=_("review due"), ordering="due")
    def due_on(self, assignment):
        # As the review page shows it; Django's formatting of a date field parsed the format
        # and translated the month again in each row (an eighth of the list's time).
        return short_date(assignment.due)

    @admin.display(description=_("city"))
    def city(self, assignment):
        return str(assignment.proposal.city)  # "Name (ISO)", as in the proposal list

    @admin.display(description="")
    def open(self, assignment):
        url = reverse("admin:proposals_reviewassignment_review", args=[assignment.pk])
        label = _("Review") if assignment.state != AssignmentState.SUBMITTED else _("See")
        return format_html('<a class="button" href="{}">{}</a>', url, label)

    pages = {
        "proposals_reviewassignment_review": ("<str:pk>/review/", "review_view"),
        "proposals_reviewassignment_attachment": (
            "<str:pk>/attachments/<str:code>/",
            "attachment_view",
        ),
    }

    def review_view(self, request, pk):
        assignment = get_assignment_for_reviewer(request.user, pk)
        proposal = assignment.proposal
        criteria = list(proposal.call.criteria.all())
        review = getattr(assignment, "review", None)
        conflict_form = review_form = None
        confirming = False
        if assignment.state == AssignmentState.AWAITING_DECLARATION:
            conflict_form = ConflictForm(request.POST or None)
            if request.method == "POST" and conflict_form.is_valid():
                services.declare_conflict(
                    reviewer=request.user,
                    assignment=assignment,
                    conflict=conflict_form.cleaned_data["conflict"],
                    reason=conflict_form.cleaned_data["reason"],
                )
                if conflict_form.cleaned_data["conflict"]:
                    self.message_user(
                        request,
                        _("Thank you. Programme staff will assign another reviewer."),
                        messages.SUCCESS,
                    )
                    return redirect("admin:proposals_reviewassignment_changelist")
                return HttpResponseRedirect(request.path)
        elif assignment.state in (AssignmentState.ACCEPTED, AssignmentState.SUBMITTED):
            initial = {}
            if review is not None:
                initial = {"comment": review.comment, "recommendation": review.recommendation}
                initial.update({score_field(s.criterion_id): s.value for s in review.scores.all()})
            locked = assignment.state == AssignmentState.SUBMITTED
            review_form = ReviewForm(
                None if locked else (request.POST or None), criteria=criteria, initial=initial
            )
            if request.method == "POST" and not locked and review_form.is_valid():
                response = self._post_review(request, assignment, review_form)
                if response is not None:
                    return response
                confirming = "submit" in request.POST and not {"confirm", "back"} & set(
                    request.POST
                )
                confirming = confirming and not self._submission_refusals(
                    request, assignment, review_form
                )
        if confirming:
            self.message_user(
                request,
                _("Check your review: once submitted it is locked and can no longer change."),
                messages.WARNING,
            )
        readable = reviewer_may_read(assignment)
        return self.page(
            request,
            "admin/proposals/review.html",
            _("Review of %(proposal)s") % {"proposal": proposal.reference_code},
            assignment=assignment,
            proposal=proposal,
            readable=readable,
            conflict_form=conflict_form,
            review_form=review_form,
            review=review,
            criteria=criteria,
            partners=proposal.partners.all(),
            # The proposal's parts, read only where the template shows them (readable).
            attachments=proposal.attachments.all(),
            focus_areas=proposal.focus_areas.all(),
            sectors=proposal.sectors.all(),
            others=self._other_reviews(assignment, criteria),
            confirming=confirming,
            recommendation_label=dict(Recommendation.choices).get(
                review_form.cleaned_data.get("recommendation") if confirming else None
            ),
            total=running_total(criteria, review_form),
            score_rows=score_rows(review_form, criteria),
        )

    def _post_review(self, request, assignment, review_form):
        """Save a draft, or submit a confirmed review; None when the page is shown again: the
        confirmation (a submission not yet confirmed), or the form (a refusal, "Back")."""
        submit = "submit" in request.POST
        if "back" in request.POST or (submit and "confirm" not in request.POST):
            # "Submit review" leads to the confirmation and stores nothing: the values travel
            # in its hidden fields, and only its own button (with `confirm`) locks the review.
            return None
        try:
            _save(request, assignment, review_form, submit=submit)
        except ValidationError as exc:
            for message in exc.messages:
                self.message_user(request, message, messages.ERROR)
            return None
        self.message_user(
            request,
            _("Your review is submitted.") if submit else _("Your draft is saved."),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(request.path)

    def _submission_refusals(self, request, assignment, review_form) -> list[str]:
        """Why the review service would refuse to submit these values (a criterion unscored,
        no recommendation...), each told to the reviewer: the confirmation is offered only
        for a review that can be submitted."""
        refusals = services.review_submission_refusals(
            reviewer=request.user,
            assignment=assignment,
            scores=review_form.scores(),
            recommendation=review_form.cleaned_data["recommendation"],
        )
        for message in refusals:
            self.message_user(request, message, messages.ERROR)
        return refusals

    @staticmethod
    def _other_reviews(assignment, criteria):
        """Colleagues' submitted scores, shown only once this reviewer has submitted."""
        if assignment.state != AssignmentState.SUBMITTED:
            return None
        others = (
            ReviewAssignment.objects.filter(
                proposal=assignment.proposal, review__submitted_at__isnull=False
            )
            .exclude(pk=assignment.pk)
            .select_related("review")
            .prefetch_related(
                Prefetch("review__scores", queryset=Score.objects.select_related("criterion"))
            )
        )
        rows = []
        for other in others:
            scores = list(other.review.scores.all())
            rows.append(
                {
                    "scores": {s.criterion_id: s.value for s in scores},
                    "weighted": weighted_score([(s.criterion.weight, s.value) for s in scores]),
                    "recommendation": other.review.get_recommendation_display(),
                }
            )
        return rows

    def attachment_view(self, request, pk, code):
        attachment = get_attachment_for_reviewer(request.user, pk, code)
        services.audit_download(request, attachment)
        return file_download(attachment.file, attachment.name, attachment.content_type)


# The values a score may take, as the form offers them ("1".."5").
SCORES = {value for value, _label in ReviewForm.SCORE_CHOICES if value}


def _save(request, assignment, review_form, *, submit: bool) -> None:
    """The reviewer's form, saved (a draft) or submitted through the review service."""
    services.save_review(
        reviewer=request.user,
        assignment=assignment,
        scores=review_form.scores(),
        comment=review_form.cleaned_data["comment"],
        recommendation=review_form.cleaned_data["recommendation"],
        submit=submit,
    )


def score_rows(review_form, criteria) -> list:
    """Each criterion's score field beside the criterion (whose weight the running total
    uses), with its radio buttons (1 to 5) and what staff said each score means."""
    if review_form is None:
        return []
    return [
        (
            field,
            criterion,
            [
                (choice, criterion.meaning(int(choice.data["value"])))
                for choice in field
                if choice.data["value"] != ""
            ],
        )
        for field, criterion in zip(review_form.score_fields(), criteria, strict=True)
    ]


def running_total(criteria, review_form):
    """The weighted total of the scores the form shows (posted or saved), by the one formula
    (scoring.weighted_score), and how many of the criteria are scored; None without a form.
    static/js/admin-review.js recomputes it as the reviewer picks scores, from the same
    weights (the fieldsets' data-weight)."""
    if review_form is None:
        return None
    if review_form.is_bound and review_form.is_valid():
        values = review_form.scores()
    else:
        values = {}
        for criterion in criteria:
            value = review_form[score_field(criterion.pk)].value()
            if str(value) in SCORES:
                values[criterion.pk] = int(value)
    pairs = [(c.weight, values[c.pk]) for c in criteria if c.pk in values]
    return {
        "value": weighted_score(pairs) if pairs else None,
        "scored": len(pairs),
        # The count the script updates, marked in the translated sentence.
        "scored_html": format_html('<span class="running-total-scored">{}</span>', len(pairs)),
        "criteria": len(criteria),
        "rows": [
            {"criterion": c, "score": values.get(c.pk), "meaning": c.meaning(values.get(c.pk))}
            for c in criteria
        ],
    }


class AuditKindFilter(admin.SimpleListFilter):
    """What kind of event, by the first part of its action (a fixed list: no query)."""

    title = _("kind")
    parameter_name = "kind"
    KINDS = {
        "auth": _("Sign-ins and sign-outs"),
        "account": _("Passwords and email addresses"),
        "mfa": _("Second factors"),
        "admin": _("Admin edits"),
        "city": _("City registrations"),
        "decision": _("Decisions without every review or beyond the envelope"),
        "member": _("City members"),
        "join_request": _("Join requests"),
        "attachment": _("Attachments"),
        "download": _("Downloads"),
        "export": _("Exports"),
        "security": _("Refused access"),
    }

    def lookups(self, request, model_admin):
        return list(self.KINDS.items())

    def queryset(self, request, queryset):
        if self.value() in self.KINDS:
            return queryset.filter(action__startswith=f"{self.value()}.")
        return queryset


# The audit trail's export: each column's label and value.
TRAIL_COLUMNS = [
    (_("At (UTC)"), lambda e: e.created_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")),
    (_("Action"), lambda e: e.action),
    (_("Actor"), lambda e: e.actor.email if e.actor else ""),
    (_("Proposal"), lambda e: (e.proposal.reference_code or e.proposal.code) if e.proposal else ""),
    (_("City"), lambda e: e.city.name if e.city else ""),
    (_("User"), lambda e: e.user.email if e.user else ""),
    (_("Target"), lambda e: e.target),
    (_("IP address"), lambda e: e.ip or ""),
    (_("Details"), lambda e: json.dumps(e.details, ensure_ascii=False, sort_keys=True)),
]


@admin.register(AuditEvent)
class AuditEventAdmin(OwnPages, ReadOnlyAdmin, FilteredCountOnly, admin.ModelAdmin):
    """The audit trail: read by programme staff (view permission), changed by no one.

    A proposal's, city's or user's admin page links here filtered to it
    (templates/admin/proposals/change_form.html); filtering by an actor or a subject user uses
    the same kind of link (`actor__id__exact`, `user__id__exact`) or the search, rather than a
    list of every user beside the rows."""

    list_display = ["created_at", "action", "actor", "target", "city", "user", "ip", "details"]
    list_filter = [AuditKindFilter, ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["actor", "city", "user"]
    search_fields = [
        "target",
        "proposal__reference_code",
        "city__name",
        "actor__email",
        "user__email",
    ]
    date_hierarchy = "created_at"
    change_list_template = "admin/proposals/auditevent/change_list.html"
    actions = None

    pages = {"proposals_auditevent_export": ("export.csv", "export_view")}

    def export_view(self, request):
        """The filtered trail (the change list's filters and search) as CSV; the export is
        itself recorded."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            events = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            return redirect(reverse("admin:proposals_auditevent_changelist") + "?e=1")
        header = [label for label, _value in TRAIL_COLUMNS]
        events = events.select_related("actor", "proposal", "city", "user")
        rows = (
            [value(event) for _label, value in TRAIL_COLUMNS]
            for event in events.iterator(chunk_size=2000)
        )
        return download(request, header, rows, "csv", "audit-trail")
