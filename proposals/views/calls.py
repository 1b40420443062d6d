from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import services
from ..forms import StartProposalForm
from ..models import Call, City, CityMembership, Proposal
from ..permissions import get_call_or_404


def _home_city_id(user) -> int | None:
    """The city whose deadlines a signed-in official sees on lists (their first city)."""
    if not user.is_authenticated:
        return None
    return (
        CityMembership.objects.filter(user=user)
        .order_by("created_at")
        .values_list("city_id", flat=True)
        .first()
    )


def call_list(request):
    now = timezone.now()
    calls = Call.objects.published()
    city_id = _home_city_id(request.user)
    if city_id is not None:
        calls = calls.with_deadline_for(city_id)
    groups = {"open": [], "upcoming": [], "closed": []}
    for call in calls.order_by("closes_at"):
        deadline = getattr(call, "deadline", call.closes_at)
        if now < call.opens_at:
            groups["upcoming"].append(call)
        elif now < deadline:
            groups["open"].append(call)
        else:
            groups["closed"].append(call)
    groups["closed"].reverse()  # most recently closed first
    return render(request, "calls/list.html", {"groups": groups, "now": now})


def call_detail(request, code):
    call = get_call_or_404(code)
    now = timezone.now()
    cities = []
    form = None
    if request.user.is_authenticated:
        cities = list(
            City.objects.filter(memberships__user=request.user)
            .select_related("country")
            .order_by("name")
        )
        deadlines = {
            e.city_id: max(e.closes_at, call.closes_at)
            for e in call.extensions.filter(city__in=cities)
        }
        for city in cities:
            city.deadline = deadlines.get(city.pk, call.closes_at)
            city.refusals = services.drafting_refusals(
                user=request.user, call=call, city=city, now=now
            )
            city.proposals_here = list(
                Proposal.objects.filter(call=call, city=city).order_by("created_at")
            )
        eligible = [city for city in cities if not city.refusals]
        if eligible:
            form = StartProposalForm(
                cities=City.objects.filter(pk__in=[c.pk for c in eligible]).order_by("name")
            )
    return render(
        request,
        "calls/detail.html",
        {
            "call": call,
            "now": now,
            "phase": call.phase(now),
            "criteria": call.criteria.all(),
            "countries": call.eligible_countries.all(),
            "cities": cities,
            "form": form,
        },
    )


@login_required
@require_POST
def start_proposal(request, code):
    call = get_call_or_404(code)
    cities = City.objects.filter(memberships__user=request.user)
    form = StartProposalForm(request.POST, cities=cities)
    if not form.is_valid():
        messages.error(request, _("Choose one of your cities and give a title."))
        return redirect("call_detail", code=call.code)
    try:
        proposal = services.start_proposal(
            user=request.user,
            call=call,
            city=form.cleaned_data["city"],
            title=form.cleaned_data["title"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("call_detail", code=call.code)
    messages.success(request, _("Your draft is ready. Save as often as you like."))
    return redirect("proposal_edit", code=proposal.code)
