import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.db.models import Subquery, prefetch_related_objects
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .. import page_cache, services
from ..forms import StartProposalForm
from ..models import Call, City, CityMembership, Proposal
from ..permissions import get_call_or_404
from ..templatetags.smartjamp import deadline_short


def _home_city(user):
    """The city whose deadlines a signed-in official sees on lists (their first city), as a
    subquery, so that the list needs no query of its own to find it."""
    return Subquery(
        CityMembership.objects.filter(user=user).order_by("created_at").values("city_id")[:1]
    )


def call_list(request):
    # The list below the heading is cached per reader (their home city's extensions) until a
    # call, an extension or their memberships change, or a call opens or closes (page_cache).
    user = request.user
    body = page_cache.cached_part(
        "call-list",
        depends_on=page_cache.reader_keys(user),
        vary_on=[user.pk or "anonymous"],
        build=lambda: _call_list_body(user),
    )
    return render(request, "calls/list.html", {"body": body})


def _call_list_body(user) -> tuple[str, datetime.datetime | None]:
    """The list as HTML, and the instant until which it holds (the next opening or deadline)."""
    now = timezone.now()
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
    changes = []
    for call in calls.order_by("closes_at"):
        deadline = getattr(call, "deadline", None) or call.closes_at
        call.summary = f"{stages.get(call.stage, call.stage)} · " + up_to % {
            "amount": intcomma(call.max_request_jpy)
        }
        changes += [call.opens_at, deadline]
        if now < call.opens_at:
            call.when = deadline_short(call.opens_at)
            groups["upcoming"].append(call)
        else:
            call.when = deadline_short(deadline)
            groups["open" if now < deadline else "closed"].append(call)
    groups["closed"].reverse()  # most recently closed first
    body = render_to_string("calls/_list_body.html", {"groups": groups})
    return body, min((moment for moment in changes if moment > now), default=None)


def call_detail(request, code):
    # The page but for the start form (which carries the reader's CSRF token) is cached per
    # reader until the call, their cities or their cities' proposals change, a deadline passes
    # or a minute goes by (the time left it shows), see page_cache.
    user = request.user
    page = page_cache.cached_part(
        "call-page",
        depends_on=page_cache.reader_keys(user),
        # The reader's cities as they are now, too (see my_proposals).
        vary_on=[user.pk or "anonymous", code, *page_cache.member_city_ids(user)],
        build=lambda: _call_page(code, user),
    )
    if page is None:
        raise Http404("No such call.")
    return render(request, "calls/detail.html", page)


def _call_page(code, user) -> tuple[dict | None, datetime.datetime | None]:
    """The call page's parts as HTML (rendered without the request), the cities the reader
    may start a proposal for, and the instant until which it all holds."""
    try:
        call = get_call_or_404(code)
    except Http404:
        return None, None
    now = timezone.now()
    # Shown on the page and read again by the refusals below, from this one query.
    prefetch_related_objects([call], "eligible_countries")
    cities = []
    changes = [call.opens_at, call.closes_at, now + PAGE_CLOCK]
    if user.is_authenticated:
        cities = list(
            City.objects.filter(memberships__user=user).select_related("country").order_by("name")
        )
        deadlines = call.deadlines_for(cities)
        changes += deadlines.values()
        refusals = services.drafting_refusals_by_city(
            user=user,
            call=call,
            cities=cities,
            now=now,
            deadlines=deadlines,
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
            city.deadline = deadlines[city.pk]
            city.refusals = refusals[city.pk]
            city.proposals_here = proposals[city.pk]
    phase = call.phase(now)
    context = {
        "call": call,
        "now": now,
        "phase": phase,
        "criteria": call.criteria.all(),
        "countries": call.eligible_countries.all(),
        "cities": cities,
        "signed_in": user.is_authenticated,
    }
    page = {
        "code": call.code,
        "title": call.title,
        "phase": phase,
        "facts": render_to_string("calls/_detail_facts.html", context),
        "your_cities": render_to_string("calls/_detail_cities.html", context),
    }
    # The start form's fields (for the cities the reader may start a proposal for) are part of
    # the cached page; its CSRF token is the reader's own, written around them on each request.
    eligible = [city for city in cities if not city.refusals]
    page["start_fields"] = (
        render_to_string("calls/_start_fields.html", {"form": StartProposalForm(cities=eligible)})
        if eligible
        else ""
    )
    return page, min(moment for moment in changes if moment > now)


# The call page shows the time left to its deadlines, to the minute when it is short.
PAGE_CLOCK = datetime.timedelta(minutes=1)


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
