from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.db.models import Subquery
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartjamp import cache_versions

from .. import services
from ..forms import StartProposalForm
from ..models import Call, City, CityMembership, Proposal
from ..permissions import get_call_or_404
from ..templatetags.smartjamp import deadline as shown_deadline


def _home_city(user):
    """The city whose deadlines a signed-in official sees on lists (their first city), as a
    subquery, so that the list needs no query of its own to find it."""
    return Subquery(
        CityMembership.objects.filter(user=user).order_by("created_at").values("city_id")[:1]
    )


def call_list(request):
    # The rows are a cached fragment (calls/list.html), the same for every reader with the
    # same home city (or none): keyed by the calls' number, the home city's deadlines' number
    # and how many of the calls' openings and deadlines have passed (the clock's part), all
    # read with one light query; the rows themselves are read only when the fragment is built.
    user = request.user
    calls = Call.objects.published()
    home = None
    if user.is_authenticated:
        calls = calls.with_deadline_for(_home_city(user)).annotate(home=_home_city(user))
        times = list(calls.values_list("opens_at", "deadline", "home"))
        home = times[0][2] if times else None
    else:
        times = list(calls.values_list("opens_at", "closes_at"))
    now = timezone.now()
    keys = [cache_versions.CALLS] + ([cache_versions.city_deadlines(home)] if home else [])
    return render(
        request,
        "calls/list.html",
        {
            "groups": SimpleLazyObject(lambda: _call_groups(user, home)),
            "home": home,
            "versions": cache_versions.current(*keys),
            "passed": sum(now >= instant for row in times for instant in row[:2]),
        },
    )


def _call_groups(user, home) -> dict[str, list[Call]]:
    """The published calls by phase: open, upcoming and closed (the most recently closed
    first), each with the words and time its row shows (in the home city's zone)."""
    now = timezone.now()
    city = City.objects.only("name", "time_zone").get(pk=home) if home else None
    calls = Call.objects.published().only(
        "code", "title", "stage", "opens_at", "closes_at", "max_request_jpy"
    )
    if user.is_authenticated:
        calls = calls.with_deadline_for(_home_city(user))
    # Each row's words and times are prepared here, once per label and without the template
    # engine's per-variable work.
    stages = {value: str(label) for value, label in Call._meta.get_field("stage").choices}
    up_to = gettext("up to ¥%(amount)s per proposal")
    groups = {"open": [], "upcoming": [], "closed": []}
    for call in calls.order_by("closes_at"):
        deadline = getattr(call, "deadline", None) or call.closes_at
        call.summary = f"{stages.get(call.stage, call.stage)} · " + up_to % {
            "amount": intcomma(call.max_request_jpy)
        }
        if now < call.opens_at:
            call.when = shown_deadline(call.opens_at, city=city)
            groups["upcoming"].append(call)
        else:
            call.when = shown_deadline(deadline, city=city)
            groups["open" if now < deadline else "closed"].append(call)
    groups["closed"].reverse()  # most recently closed first
    return groups


def call_detail(request, code):
    user = request.user
    call = get_call_or_404(code)
    now = timezone.now()
    cities = []
    if user.is_authenticated:
        # The reader's cities with their deadlines for this call, in one query.
        cities = list(
            call.with_deadlines(City.objects.filter(memberships__user=user))
            .select_related("country")
            .order_by("name")
        )
    if cities:
        refusals = services.drafting_refusals_by_city(
            user=user,
            call=call,
            cities=cities,
            now=now,
            deadlines={city.pk: city.deadline for city in cities},
            member_of={city.pk for city in cities},  # read through the memberships just now
        )
        proposals = {city.pk: [] for city in cities}
        for proposal in (
            Proposal.objects.filter(call=call, city__in=cities)
            .only("code", "title", "status", "city_id")
            .order_by("created_at")
        ):
            proposals[proposal.city_id].append(proposal)
        for city in cities:
            city.refusals = refusals[city.pk]
            city.proposals_here = proposals[city.pk]
    eligible = [city for city in cities if not city.refusals]
    return render(
        request,
        "calls/detail.html",
        {
            "call": call,
            "now": now,
            "phase": call.phase(now),
            # The terms, description, rubric and eligible countries are a cached fragment,
            # the same for every reader (calls/_detail_facts.html): these querysets are
            # evaluated in the template only, when it is built.
            "versions": cache_versions.current(cache_versions.CALLS),
            "criteria": call.criteria.all(),
            "countries": call.eligible_countries.all(),
            "cities": cities,
            # Whose zone the call's dates are shown in first: the reader's first city's.
            "home_city": cities[0] if cities else None,
            # The start form, for the cities the reader may start a proposal for.
            "start_form": StartProposalForm(cities=eligible) if eligible else None,
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
