from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartjamp.uploads import PDF, file_download, report_oversized_uploads

from .. import audit, services
from ..forms import CityRegistrationForm, JoinRequestForm
from ..models import City, CityMembership, JoinRequest, JoinRequestStatus, MemberRole
from ..permissions import can_manage_city, get_city_for_user
from . import refusal_shown


@login_required
def my_cities(request):
    memberships = (
        CityMembership.objects.filter(user=request.user)
        .select_related("city__country")
        .order_by("city__name")
    )
    join_requests = (
        JoinRequest.objects.filter(user=request.user, status=JoinRequestStatus.PENDING)
        .select_related("city__country")
        .order_by("city__name")
    )
    return render(
        request,
        "proposals/my_cities.html",
        {"memberships": memberships, "join_requests": join_requests},
    )


@login_required
def register_city(request):
    form = CityRegistrationForm(request.POST or None, request.FILES or None)
    duplicate = None
    if request.method == "POST":
        valid = form.is_valid()
        report_oversized_uploads(request, form)
        # Offer to join an existing city at once, even if the letter still needs fixing.
        if form.cleaned_data.get("country") and form.cleaned_data.get("name"):
            duplicate = City.objects.find_registered(
                country=form.cleaned_data["country"], name=form.cleaned_data["name"]
            )
        if valid and duplicate is None:
            data = form.cleaned_data
            try:
                city = services.register_city(
                    user=request.user,
                    country=data["country"],
                    name=data["name"],
                    kind=data["kind"],
                    region=data["region"],
                    population=data["population"],
                    time_zone=data["time_zone"],
                    letter=data["authorisation_letter"],
                    letter_name=data["letter_name"],
                )
            except services.DuplicateCity as exc:
                duplicate = exc.city
            else:
                messages.success(
                    request,
                    _(
                        "%(city)s is registered. Programme staff will check your authorisation "
                        "letter and verify the city; you can already invite colleagues."
                    )
                    % {"city": city.name},
                )
                return redirect("city_detail", code=city.code)
    return render(
        request,
        "proposals/city_register.html",
        {"form": form, "duplicate": duplicate, "join_form": JoinRequestForm()},
    )


@login_required
def city_detail(request, code):
    city = get_city_for_user(request.user, code)
    manage = can_manage_city(request.user, city)
    members = city.memberships.select_related("user").order_by("role", "user__email")
    join_requests = (
        city.join_requests.filter(status=JoinRequestStatus.PENDING).select_related("user")
        if manage
        else JoinRequest.objects.none()
    )
    return render(
        request,
        "proposals/city_detail.html",
        {
            "city": city,
            "members": members,
            "join_requests": join_requests,
            "can_manage": manage,
            "roles": MemberRole.choices,
        },
    )


@login_required
def city_letter(request, code):
    city = get_city_for_user(request.user, code)
    if not city.authorisation_letter:
        raise Http404("No letter.")
    audit.record(
        actor=request.user,
        action="download.authorisation_letter",
        city=city,
        request=request,
        name=city.letter_name,
    )
    return file_download(city.authorisation_letter, city.letter_name or "authorisation-letter", PDF)


@login_required
@require_POST
def request_join(request, code):
    # Any signed-in official may ask to join a registered city: the register page offers it
    # when the city exists already. Only the city's name is revealed, never its members.
    city = get_object_or_404(City.objects.claimed(), code=code)
    form = JoinRequestForm(request.POST)
    if form.is_valid():
        with refusal_shown(request):
            services.request_to_join(
                user=request.user, city=city, message=form.cleaned_data["message"]
            )
            messages.success(
                request,
                _("Your request to join %(city)s has been sent to its leads.")
                % {"city": city.name},
            )
    else:
        messages.error(request, _("Your message is too long."))
    return redirect("my_cities")


@login_required
@require_POST
def manage_member(request, code):
    city = get_city_for_user(request.user, code)
    membership = get_object_or_404(CityMembership, city=city, pk=_posted_id(request, "membership"))
    action = request.POST.get("action")
    with refusal_shown(request):
        if action == "remove":
            services.remove_member(actor=request.user, membership=membership)
            messages.success(
                request, _("%(user)s is no longer a member.") % {"user": membership.user}
            )
            if membership.user == request.user and not request.user.is_staff:
                return redirect("my_cities")
        elif action in MemberRole.values:
            services.change_member_role(actor=request.user, membership=membership, role=action)
            messages.success(
                request, _("%(user)s's role has been changed.") % {"user": membership.user}
            )
        else:
            raise Http404("Unknown action.")
    return redirect("city_detail", code=city.code)


@login_required
@require_POST
def answer_join_request(request, code):
    city = get_city_for_user(request.user, code, manage=True)
    join_request = get_object_or_404(
        JoinRequest.objects.select_related("user"), city=city, pk=_posted_id(request, "request")
    )
    approve = request.POST.get("action") == "approve"
    with refusal_shown(request):
        services.decide_join_request(actor=request.user, join_request=join_request, approve=approve)
        if approve:
            messages.success(request, _("%(user)s is now an editor.") % {"user": join_request.user})
        else:
            messages.success(request, _("The request has been declined."))
    return redirect("city_detail", code=city.code)


def _posted_id(request, name: str) -> int:
    value = request.POST.get(name, "")
    if not value.isdigit():
        raise Http404("No such row.")
    return int(value)
