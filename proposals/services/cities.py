"""Cities: registration, joining, invitations, verification by staff, and members' roles."""

import datetime
import hashlib
import secrets

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from .. import audit as audit_trail
from .. import notifications
from ..models import (
    City,
    CityInvitation,
    CityMembership,
    Country,
    JoinRequest,
    JoinRequestStatus,
    MemberRole,
    NotificationKind,
    User,
    VerificationStatus,
    normalise_name,
)
from ..permissions import (
    can_manage_city,
)


class DuplicateCity(Exception):
    """The city is registered already; the official may ask to join it instead."""

    def __init__(self, city: City):
        super().__init__(f"{city} is registered already.")
        self.city = city


def register_city(
    *,
    user: User,
    country: Country,
    name: str,
    kind: str,
    region: str = "",
    population: int | None = None,
    time_zone: str = "",
    letter: UploadedFile,
    letter_name: str,
) -> City:
    """Register a city for staff verification, with `user` as its lead.

    A city of the ASCN reference list that nobody has registered yet is claimed (it keeps its
    network status); a city that is registered already raises DuplicateCity, and nothing is
    stored.
    """
    stored_name = ""
    try:
        with transaction.atomic():
            key = normalise_name(name)
            city = City.objects.select_for_update().filter(country=country, name_key=key).first()
            if city is not None and City.objects.claimed().filter(pk=city.pk).exists():
                raise DuplicateCity(city)
            if city is None:
                city = City(country=country, name=name)
            city.kind = kind
            city.region = region
            city.population = population
            city.time_zone = time_zone or country.time_zone
            city.verification_status = VerificationStatus.PENDING
            city.rejection_reason = ""
            city.registered_by = user
            city.registered_at = timezone.now()
            city.letter_name = letter_name
            city.authorisation_letter.save(letter_name, letter, save=False)
            stored_name = city.authorisation_letter.name
            city.save()
            CityMembership.objects.create(city=city, user=user, role=MemberRole.LEAD)
            audit_trail.record(actor=user, action="city.registered", city=city, letter=letter_name)
            _tell_staff_of_registration(city)
    except IntegrityError:
        # Another official registered the same city at the same moment.
        delete_stored(stored_name)
        raise DuplicateCity(City.objects.get(country=country, name_key=key)) from None
    except BaseException:
        delete_stored(stored_name)
        raise
    return city


def _tell_staff_of_registration(city: City) -> None:
    """Programme staff hear of each registration (a rejected city registering again too: the
    key holds the moment of registration), with a link to the city's page and its letter."""
    stamp = city.registered_at.strftime("%Y%m%d%H%M%S%f")
    notifications.notify_each(
        notifications.programme_staff(),
        kind=NotificationKind.CITY_REGISTERED,
        key=f"city-registered:{city.pk}:{stamp}",
        context={"city": city, "registered_by": city.registered_by},
        link=reverse("city_detail", args=[city.code]),
    )


def delete_stored(name: str) -> None:
    if name:
        from django.core.files.storage import default_storage

        default_storage.delete(name)


@transaction.atomic
def request_to_join(*, user: User, city: City, message: str = "") -> JoinRequest:
    """Ask to become an editor of `city`; asking twice returns the pending request."""
    if city.memberships.filter(user=user).exists():
        raise ValidationError(_("You are a member of %(city)s already.") % {"city": city.name})
    pending = JoinRequest.objects.filter(city=city, user=user, status=JoinRequestStatus.PENDING)
    if existing := pending.first():
        return existing
    try:
        with transaction.atomic():
            join_request = JoinRequest.objects.create(city=city, user=user, message=message)
            audit_trail.record(actor=user, action="join_request.sent", city=city, user=user)
    except IntegrityError:  # the same request, posted twice at once
        return pending.get()
    notifications.join_requested(join_request)
    return join_request


@transaction.atomic
def decide_join_request(*, actor: User, join_request: JoinRequest, approve: bool) -> JoinRequest:
    """Approve (the requester becomes an editor) or decline a join request."""
    join_request = JoinRequest.objects.select_for_update().get(pk=join_request.pk)
    if not can_manage_city(actor, join_request.city):
        raise PermissionDenied
    if join_request.status != JoinRequestStatus.PENDING:
        raise ValidationError(_("This request has been answered already."))
    join_request.status = JoinRequestStatus.APPROVED if approve else JoinRequestStatus.DECLINED
    join_request.decided_by = actor
    join_request.decided_at = timezone.now()
    join_request.save(update_fields=["status", "decided_by", "decided_at"])
    if approve:
        CityMembership.objects.get_or_create(
            city=join_request.city, user=join_request.user, defaults={"role": MemberRole.EDITOR}
        )
    audit_trail.record(
        actor=actor,
        action=f"join_request.{join_request.status}",
        city=join_request.city,
        user=join_request.user,
    )
    notifications.join_answered(join_request)
    return join_request


# Invitations ------------------------------------------------------------------------------------


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _is_member_address(city: City, email: str) -> bool:
    """Whether an account with `email` among its addresses is a member of `city` already."""
    members = city.memberships.values("user")
    return (
        User.objects.filter(pk__in=members, email__iexact=email).exists()
        or EmailAddress.objects.filter(user__in=members, email__iexact=email).exists()
    )


@transaction.atomic
def invite_to_city(
    *, actor: User, city: City, email: str, role: str = MemberRole.EDITOR
) -> tuple[CityInvitation, str]:
    """A lead (or staff) invites a colleague by email; returns the invitation and the secret
    of its link, which only the email holds (the row keeps its SHA-256).

    Inviting the same address again replaces the earlier invitation (its link stops working):
    the way to send a lost email again. At most CITY_INVITATIONS_PER_HOUR a lead an hour, so
    that the portal cannot be used to send mail in bulk.
    """
    if not can_manage_city(actor, city):
        raise PermissionDenied
    email = email.strip()
    if role not in MemberRole.values:
        raise ValidationError(_("Unknown role."))
    if _is_member_address(city, email):
        raise ValidationError(
            _("%(email)s is a member of %(city)s already.") % {"email": email, "city": city.name}
        )
    now = timezone.now()
    # Locking the inviter's row serialises their invitations, so the limit holds when two are
    # posted at once.
    User.objects.select_for_update().filter(pk=actor.pk).first()
    sent = CityInvitation.objects.filter(
        invited_by=actor, created_at__gt=now - datetime.timedelta(hours=1)
    ).count()
    if sent >= settings.CITY_INVITATIONS_PER_HOUR:
        raise ValidationError(
            _(
                "You have sent %(count)s invitations in the last hour, the most allowed. "
                "Please send the next ones later."
            )
            % {"count": sent}
        )
    for earlier in city.invitations.usable(now).filter(email__iexact=email):
        _revoke(actor, earlier, now, replaced=True)
    token = secrets.token_urlsafe(32)
    invitation = CityInvitation.objects.create(
        city=city,
        email=email,
        role=role,
        token_hash=invitation_token_hash(token),
        invited_by=actor,
        expires_at=now + datetime.timedelta(days=settings.CITY_INVITATION_DAYS),
    )
    audit_trail.record(
        actor=actor, action="city_invitation.sent", city=city, email=email, role=role
    )
    # The link's secret is in the email (and so in the outbox, which staff read): it is not
    # enough to join, since accepting needs an account holding the invited address.
    notifications.notify(
        kind=NotificationKind.CITY_INVITATION,
        dedup_key=f"city-invitation:{invitation.pk}",
        recipient=User.objects.filter(email__iexact=email, is_active=True).first(),
        email=email,
        context={"invitation": invitation, "city": city, "inviter": actor},
        link=reverse("city_invitation", args=[token]),
    )
    return invitation, token


def _revoke(actor: User, invitation: CityInvitation, now, *, replaced: bool = False) -> None:
    invitation.revoked_at = now
    invitation.revoked_by = actor
    invitation.save(update_fields=["revoked_at", "revoked_by"])
    audit_trail.record(
        actor=actor,
        action="city_invitation.replaced" if replaced else "city_invitation.revoked",
        city=invitation.city,
        email=invitation.email,
    )


@transaction.atomic
def revoke_invitation(*, actor: User, invitation: CityInvitation) -> CityInvitation:
    """A lead (or staff) withdraws an invitation that has not been accepted."""
    if not can_manage_city(actor, invitation.city):
        raise PermissionDenied
    invitation = CityInvitation.objects.select_for_update().get(pk=invitation.pk)
    if not CityInvitation.objects.usable().filter(pk=invitation.pk).exists():
        raise ValidationError(_("This invitation was accepted, revoked or expired already."))
    _revoke(actor, invitation, timezone.now())
    return invitation


def find_invitation(token: str) -> CityInvitation | None:
    """The invitation of a link's secret (whatever its state), with its city."""
    return (
        CityInvitation.objects.select_related("city__country", "invited_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )


def invitation_refusal(invitation: CityInvitation | None, user: User | None = None) -> str:
    """Why the invitation cannot be accepted (by `user`, when given); "" when it can."""
    if invitation is None:
        return _("This invitation link is not valid. Please check that it is complete.")
    if invitation.revoked_at:
        return _("This invitation has been withdrawn. Ask a lead of %(city)s for a new one.") % {
            "city": invitation.city.name
        }
    if invitation.accepted_at:
        return _("This invitation has been used already.")
    if invitation.expires_at <= timezone.now():
        return _("This invitation expired on %(date)s. Ask a lead of %(city)s for a new one.") % {
            "date": formats.date_format(
                timezone.localtime(invitation.expires_at), "DATETIME_FORMAT"
            ),
            "city": invitation.city.name,
        }
    if user is None:
        return ""
    if invitation.city.memberships.filter(user=user).exists():
        return _("You are a member of %(city)s already.") % {"city": invitation.city.name}
    verified = EmailAddress.objects.filter(user=user, email__iexact=invitation.email, verified=True)
    if not verified.exists():
        return _(
            "This invitation was sent to another address than yours. Sign in with the address "
            "it was sent to, or add that address to your account and confirm it."
        )
    return ""


@transaction.atomic
def accept_invitation(*, user: User, token: str) -> CityInvitation:
    """The invited colleague, signed in with a confirmed invited address, becomes a member
    with the invitation's role. Nothing is stored when the invitation cannot be accepted."""
    invitation = find_invitation(token)
    if invitation is not None:
        invitation = (
            CityInvitation.objects.select_for_update()
            .select_related("city__country")
            .get(pk=invitation.pk)
        )
    if reason := invitation_refusal(invitation, user):
        raise ValidationError(reason)
    CityMembership.objects.create(city=invitation.city, user=user, role=invitation.role)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_trail.record(
        actor=user,
        action="city_invitation.accepted",
        city=invitation.city,
        user=user,
        email=invitation.email,
        role=invitation.role,
    )
    return invitation


# Verification -----------------------------------------------------------------------------------


def _require_verifier(actor: User) -> None:
    if not actor.has_perm("proposals.verify_city"):
        raise PermissionDenied


@transaction.atomic
def verify_city(*, actor: User, city: City) -> City:
    """Staff confirm that the city's officials hold a mandate (their letter was checked)."""
    _require_verifier(actor)
    city = City.objects.select_for_update().get(pk=city.pk)
    city.verification_status = VerificationStatus.VERIFIED
    city.rejection_reason = ""
    city.decided_by = actor
    city.decided_at = timezone.now()
    city.save(update_fields=["verification_status", "rejection_reason", "decided_by", "decided_at"])
    audit_trail.record(actor=actor, action="city.verified", city=city)
    notifications.city_decided(city)
    return city


@transaction.atomic
def reject_city(*, actor: User, city: City, reason: str) -> City:
    """Staff reject a city's registration; the reason is shown to its members."""
    _require_verifier(actor)
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("A reason is required to reject a city."))
    city = City.objects.select_for_update().get(pk=city.pk)
    city.verification_status = VerificationStatus.REJECTED
    city.rejection_reason = reason
    city.decided_by = actor
    city.decided_at = timezone.now()
    city.save(update_fields=["verification_status", "rejection_reason", "decided_by", "decided_at"])
    audit_trail.record(actor=actor, action="city.rejected", city=city, reason=reason)
    notifications.city_decided(city)
    return city


def _lock_leads(city: City) -> list[CityMembership]:
    return list(CityMembership.objects.select_for_update().leads().filter(city=city))


@transaction.atomic
def change_member_role(*, actor: User, membership: CityMembership, role: str) -> CityMembership:
    """A lead (or staff) makes a member a lead or an editor; a city keeps at least one lead."""
    if not can_manage_city(actor, membership.city):
        raise PermissionDenied
    if role not in MemberRole.values:
        raise ValidationError(_("Unknown role."))
    leads = _lock_leads(membership.city)
    membership = CityMembership.objects.select_for_update().get(pk=membership.pk)
    if membership in leads and role != MemberRole.LEAD and len(leads) <= 1:
        raise ValidationError(
            _("A city must keep at least one lead. Make another member lead first.")
        )
    previous, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    audit_trail.record(
        actor=actor,
        action="member.role_changed",
        city=membership.city,
        user=membership.user,
        **{"from": previous, "to": role},
    )
    return membership


@transaction.atomic
def remove_member(*, actor: User, membership: CityMembership) -> None:
    """A lead (or staff) removes a member, or a member leaves; the last lead cannot go."""
    if actor != membership.user and not can_manage_city(actor, membership.city):
        raise PermissionDenied
    leads = _lock_leads(membership.city)
    membership = CityMembership.objects.select_for_update().get(pk=membership.pk)
    if membership in leads and len(leads) <= 1:
        raise ValidationError(
            _("A city must keep at least one lead. Make another member lead first.")
        )
    membership.delete()
    audit_trail.record(
        actor=actor,
        action="member.removed",
        city=membership.city,
        user=membership.user,
        role=membership.role,
    )
