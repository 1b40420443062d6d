from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from smartjamp.uploads import PDF, file_download, report_oversized_uploads

from .. import audit, services
from ..forms import (
    CityInvitationForm,
    CityRegistrationForm,
    CitySearchForm,
    JoinRequestForm,
    RejectionForm,
)
from ..models import (
    City,
    CityInvitation,
    CityMembership,
    JoinRequest,
    JoinRequestStatus,
    MemberRole,
    normalise_name,
)
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
    search = CitySearchForm(request.GET if "name" in request.GET else None)
    return render(
        request,
        "proposals/my_cities.html",
        {
            "memberships": memberships,
            "join_requests": join_requests,
            "search": search,
            "found": _found_cities(request.user, search) if search.is_valid() else None,
            "join_form": JoinRequestForm(),
        },
    )


FOUND_CITIES = 20  # results shown at most: a search to narrow, not a directory to browse


def _found_cities(user, search: CitySearchForm) -> list[City]:
    """ "Find my city": registered cities whose name holds what was typed (compared as the
    duplicate check compares names), other than the reader's own, each with `asked` (the
    reader's request to join is pending)."""
    cities = City.objects.claimed().filter(
        name_key__contains=normalise_name(search.cleaned_data["name"])
    )
    if search.cleaned_data["country"]:
        cities = cities.filter(country=search.cleaned_data["country"])
    cities = list(
        cities.exclude(memberships__user=user)
        .select_related("country")
        .order_by("name", "country__name")[:FOUND_CITIES]
    )
    asked = set(
        JoinRequest.objects.filter(
            user=user, status=JoinRequestStatus.PENDING, city__in=cities
        ).values_list("city_id", flat=True)
    )
    for city in cities:
        city.asked = city.pk in asked
    return cities


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
                        "letter and verify the city, usually within %(days)s working days; you "
                        "can already invite colleagues and start drafting."
                    )
                    % {"city": city.name, "days": settings.CITY_VERIFICATION_WORKING_DAYS},
                )
                return redirect("city_detail", code=city.code)
    return render(
        request,
        "proposals/city_register.html",
        {
            "form": form,
            "duplicate": duplicate,
            "join_form": JoinRequestForm(),
            "verification_days": settings.CITY_VERIFICATION_WORKING_DAYS,
        },
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
    invitations = (
        city.invitations.usable().select_related("invited_by").order_by("email")
        if manage
        else CityInvitation.objects.none()
    )
    # is_staff first: an official's page is spared the permission lookup.
    may_verify = request.user.is_staff and request.user.has_perm("proposals.verify_city")
    return render(
        request,
        "proposals/city_detail.html",
        {
            "city": city,
            "members": members,
            "join_requests": join_requests,
            "can_manage": manage,
            "roles": MemberRole.choices,
            "invitations": invitations,
            "invite_form": CityInvitationForm() if manage else None,
            "may_verify": may_verify,
            "reject_form": RejectionForm() if may_verify else None,
            "verification_days": settings.CITY_VERIFICATION_WORKING_DAYS,
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


@login_required
@require_POST
def invite(request, code):
    city = get_city_for_user(request.user, code, manage=True)
    form = CityInvitationForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(_invitations_of(city))
    with refusal_shown(request):
        invitation, _token = services.invite_to_city(
            actor=request.user,
            city=city,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
        )
        messages.success(
            request,
            _("An invitation has been sent to %(email)s.") % {"email": invitation.email},
        )
    return redirect(_invitations_of(city))


@login_required
@require_POST
def revoke_invitation(request, code):
    city = get_city_for_user(request.user, code, manage=True)
    invitation = get_object_or_404(CityInvitation, city=city, pk=_posted_id(request, "invitation"))
    with refusal_shown(request):
        services.revoke_invitation(actor=request.user, invitation=invitation)
        messages.success(
            request,
            _("The invitation to %(email)s has been withdrawn.") % {"email": invitation.email},
        )
    return redirect(_invitations_of(city))


def _invitations_of(city: City) -> str:
    return reverse("city_detail", args=[city.code]) + "#invitations"


INVITATION_SESSION_KEY = "city_invitation"


def invitation(request, token):
    """An invitation's link: signed in with the invited address, Accept makes a member; not
    signed in, the secret waits in the session while the colleague signs in or signs up
    (AccountAdapter.post_login accepts it then). A link that cannot be used says why."""
    found = services.find_invitation(token)
    user = request.user if request.user.is_authenticated else None
    refusal = services.invitation_refusal(found, user)
    if request.method == "POST" and user is not None and not refusal:
        with refusal_shown(request):
            accepted = services.accept_invitation(user=user, token=token)
            request.session.pop(INVITATION_SESSION_KEY, None)
            messages.success(
                request,
                _("You are now a member of %(city)s.") % {"city": accepted.city.name},
            )
            return redirect("city_detail", code=accepted.city.code)
        return redirect("city_invitation", token=token)
    if user is None and found is not None and not refusal:
        request.session[INVITATION_SESSION_KEY] = token
    return render(
        request,
        "proposals/invitation.html",
        {"invitation": found, "refusal": refusal, "token": token},
        status=404 if found is None else 200,
    )


@login_required
@require_POST
def verify(request, code):
    city = get_city_for_user(request.user, code)
    with refusal_shown(request):
        services.verify_city(actor=request.user, city=city)
        messages.success(request, _("%(city)s is verified.") % {"city": city.name})
    return redirect("city_detail", code=city.code)


@login_required
@require_POST
def reject(request, code):
    city = get_city_for_user(request.user, code)
    form = RejectionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("A reason is required to reject a city."))
        return redirect(reverse("city_detail", args=[city.code]) + "#verification")
    with refusal_shown(request):
        services.reject_city(actor=request.user, city=city, reason=form.cleaned_data["reason"])
        messages.success(
            request, _("The registration of %(city)s is rejected.") % {"city": city.name}
        )
    return redirect("city_detail", code=city.code)


def _posted_id(request, name: str) -> int:
    value = request.POST.get(name, "")
    if not value.isdigit():
        raise Http404("No such row.")
    return int(value)
