from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, F, OuterRef, Subquery
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.http import require_POST

from .. import audit
from ..forms import ProfileForm
from ..models import (
    CITY_EDITABLE,
    AssignmentState,
    City,
    CityMembership,
    DeskRequest,
    DeskState,
    Message,
    Proposal,
    ReviewAssignment,
    Status,
    VerificationStatus,
)
from ..permissions import is_programme_staff

HOME_DRAFTS = 5  # drafts shown on the home, the nearest deadlines first; My proposals has all
# (the page's length, not its queries: what each draft misses is read from what is prefetched)


def home(request):
    """Anonymous visitors read the brochure; a signed-in reader, what to do next in each of
    their roles (a person may hold several: a reviewer who is also staff). Each block reads a
    fixed number of queries, whatever the rows."""
    user = request.user
    if not user.is_authenticated:
        return render(request, "proposals/home.html")
    context = {
        "official": _official_work(user),
        "verification_days": settings.CITY_VERIFICATION_WORKING_DAYS,
    }
    if is_programme_staff(user):
        context["queues"] = _staff_queues()
    if user.is_staff:
        context["assignments"] = list(
            ReviewAssignment.objects.filter(
                reviewer=user,
                state__in=[AssignmentState.AWAITING_DECLARATION, AssignmentState.ACCEPTED],
            )
            .select_related("proposal__city", "proposal__call")
            .order_by("due", "pk")
        )
    return render(request, "proposals/home.html", context)


def _official_work(user) -> dict | None:
    """A city official's cities, drafts with their deadline and what is still missing,
    revision requests with their due date, and the staff messages nobody answered yet."""
    memberships = list(
        CityMembership.objects.filter(user=user)
        .select_related("city__country")
        .order_by("city__name")
    )
    if not memberships:
        return None
    cities = [m.city_id for m in memberships]
    last_message = Message.objects.filter(proposal=OuterRef("pk")).order_by("-created_at", "-pk")
    editable = list(
        Proposal.objects.filter(city__in=cities, status__in=CITY_EDITABLE)
        .with_due_at()
        .select_related("call", "city")
        .prefetch_related("focus_areas", "sectors", "attachments")
        .order_by(F("due_at").asc(nulls_last=True), "pk")
    )
    drafts = [p for p in editable if p.status == Status.DRAFT]
    for proposal in drafts[:HOME_DRAFTS]:
        proposal.missing = proposal.missing_for_submission()
    waiting = list(
        Proposal.objects.filter(city__in=cities)
        .exclude(status=Status.WITHDRAWN)
        .alias(last_from_staff=Subquery(last_message.values("from_staff")[:1]))
        .filter(last_from_staff=True)
        .select_related("city")
        .order_by("-updated_at")
    )
    return {
        "memberships": memberships,
        "drafts": drafts[:HOME_DRAFTS],
        "more_drafts": max(len(drafts) - HOME_DRAFTS, 0),
        "revisions": [p for p in editable if p.status == Status.REVISION_REQUESTED],
        "waiting": waiting,
    }


def _staff_queues() -> list[dict]:
    """Programme staff's work queues, each with its count and the list where it is done."""
    today = timezone.localdate()
    late = [AssignmentState.AWAITING_DECLARATION, AssignmentState.ACCEPTED]
    assignments = ReviewAssignment.objects.filter(proposal=OuterRef("pk"))
    # Every active review in: one submitted at least, none still awaited.
    decide = (
        Proposal.objects.filter(status=Status.UNDER_REVIEW)
        .filter(Exists(assignments.filter(state=AssignmentState.SUBMITTED)))
        .exclude(Exists(assignments.filter(state__in=late)))
        .count()
    )
    last_message = Message.objects.filter(proposal=OuterRef("pk")).order_by("-created_at", "-pk")
    unanswered = list(
        Proposal.objects.alias(last_from_staff=Subquery(last_message.values("from_staff")[:1]))
        .filter(last_from_staff=False)
        .exclude(status=Status.WITHDRAWN)
        .select_related("city")
        .order_by("updated_at")
    )
    city_list = reverse("admin:proposals_city_changelist")
    proposal_list = reverse("admin:proposals_proposal_changelist")
    return [
        {
            "label": _("Cities to verify"),
            "count": City.objects.claimed()
            .filter(verification_status=VerificationStatus.PENDING)
            .count(),
            "url": f"{city_list}?registration=applications&verification_status__exact=pending",
        },
        {
            "label": _("Proposals to screen"),
            "count": Proposal.objects.filter(
                status__in=[Status.SUBMITTED, Status.SCREENING]
            ).count(),
            "url": f"{proposal_list}?status__in=submitted,screening",
        },
        {
            "label": _("Reviews overdue"),
            "count": ReviewAssignment.objects.filter(due__lt=today, state__in=late).count(),
            "url": reverse("admin:proposals_reviewassignment_changelist")
            + f"?due__lt={today.isoformat()}&state__in=awaiting,accepted",
        },
        {
            "label": _("Decisions pending (every review in)"),
            "count": decide,
            "url": f"{proposal_list}?status__exact=under_review",
        },
        {
            # No admin list of its own: each proposal's messages, linked one by one.
            "label": _("Messages from cities unanswered"),
            "count": len(unanswered),
            "proposals": unanswered[:HOME_DRAFTS],
        },
        {
            "label": _("Desk requests unanswered"),
            "count": DeskRequest.objects.filter(
                state=DeskState.OPEN, first_answered_at__isnull=True
            ).count(),
            "url": reverse("desk") + "?state=open",
        },
    ]


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        if form.changed_data:
            audit.record(
                actor=request.user,
                action="account.profile_changed",
                user=request.user,
                request=request,
                fields=form.changed_data,
            )
        messages.success(request, _("Your profile has been saved."))
        return redirect("profile")
    return render(request, "account/profile.html", {"form": form})


@require_POST
def set_language(request):
    """The header's language switcher: Django's own set_language (the language cookie, and
    back to `next`), and for a signed-in reader their profile's language too, which their
    pages and emails follow (UserPreferencesMiddleware, notifications.render)."""
    code = request.POST.get("language", "")
    if request.user.is_authenticated and code in dict(settings.LANGUAGES):
        request.user.language = code
        request.user.save(update_fields=["language"])
    return i18n.set_language(request)
