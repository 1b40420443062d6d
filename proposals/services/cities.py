"""Cities: registration, joining, verification by staff, and members' roles."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import audit as audit_trail
from .. import notifications
from ..models import (
    City,
    CityMembership,
    Country,
    JoinRequest,
    JoinRequestStatus,
    MemberRole,
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
    except IntegrityError:
        # Another official registered the same city at the same moment.
        delete_stored(stored_name)
        raise DuplicateCity(City.objects.get(country=country, name_key=key)) from None
    except BaseException:
        delete_stored(stored_name)
        raise
    return city


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
