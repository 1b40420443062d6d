import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.crypto import get_random_string
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..text import normalise_name
from .user import time_zone_choices, user_link

CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def new_code() -> str:
    return get_random_string(10, CODE_ALPHABET)


def letter_upload_to(instance: "City", filename: str) -> str:
    # Stored names are random; the uploader's name is kept, sanitised, in letter_name only.
    return f"letters/{uuid.uuid4().hex}.pdf"


class Country(models.Model):
    iso2 = models.CharField(_("ISO code"), max_length=2, primary_key=True)
    iso3 = models.CharField(_("ISO alpha-3 code"), max_length=3, unique=True)
    numeric = models.CharField(_("ISO numeric code"), max_length=3, unique=True)
    name = models.CharField(_("name"), max_length=100, unique=True)
    capital = models.CharField(_("capital"), max_length=100, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, choices=time_zone_choices)
    currency = models.CharField(_("currency"), max_length=3)
    asean_member = models.BooleanField(_("ASEAN member"), default=False)
    asean_member_since = models.DateField(_("ASEAN member since"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("country")
        verbose_name_plural = _("countries")

    def __str__(self) -> str:
        """The name in the reader's language (the reference names are in the catalogue:
        reference_data.COUNTRY_NAMES)."""
        return gettext(self.name)


class CityKind(models.TextChoices):
    CITY = "city", _("City or municipality")
    PROVINCE = "province", _("Province or region")
    NATIONAL = "national", _("National government body")


class AscnStatus(models.TextChoices):
    PILOT = "pilot", _("ASCN pilot city")
    MEMBER = "member", _("ASCN member")
    CANDIDATE = "candidate", _("ASCN candidate")
    NONE = "", _("Not in the ASCN")


class VerificationStatus(models.TextChoices):
    PENDING = "pending", _("Pending verification")
    VERIFIED = "verified", _("Verified")
    REJECTED = "rejected", _("Rejected")


class CityQuerySet(models.QuerySet):
    def visible_to(self, user) -> "CityQuerySet":
        """Cities whose page the user may open: programme staff see all, officials their own."""
        if not user.is_authenticated:
            return self.none()
        if user.is_staff and user.has_perm("proposals.view_city"):
            return self
        return self.filter(memberships__user=user)

    def claimed(self) -> "CityQuerySet":
        """Cities that officials registered or that have members (not bare reference rows)."""
        return self.filter(
            Q(registered_at__isnull=False) | Q(pk__in=CityMembership.objects.values("city"))
        )

    def find_registered(self, *, country, name: str) -> "City | None":
        """The claimed city that `name` in `country` would duplicate, if there is one."""
        return self.claimed().filter(country=country, name_key=normalise_name(name)).first()


class City(models.Model):
    """An applicant organisation: a city, a province or a national government body.

    Rows come from the ASEAN Smart Cities Network list (unclaimed until an official registers
    them), from officials' registrations, and from staff in the admin.
    """

    code = models.CharField(_("code"), max_length=16, unique=True, default=new_code, editable=False)
    kind = models.CharField(_("kind"), max_length=10, choices=CityKind, default=CityKind.CITY)
    name = models.CharField(_("name"), max_length=120)
    name_key = models.CharField(max_length=120, editable=False, verbose_name=_("name key"))
    country = models.ForeignKey(
        Country, on_delete=models.PROTECT, related_name="cities", verbose_name=_("country")
    )
    region = models.CharField(_("province or region"), max_length=120, blank=True)
    population = models.PositiveBigIntegerField(_("population"), null=True, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, choices=time_zone_choices)
    ascn_status = models.CharField(
        _("ASCN status"), max_length=10, choices=AscnStatus, default=AscnStatus.NONE, blank=True
    )
    ascn_joined = models.PositiveSmallIntegerField(_("joined the ASCN in"), null=True, blank=True)
    verification_status = models.CharField(
        _("verification"),
        max_length=10,
        choices=VerificationStatus,
        default=VerificationStatus.PENDING,
    )
    rejection_reason = models.TextField(_("reason for rejection"), blank=True)
    decided_by = user_link(_("verified or rejected by"), blank=True)
    decided_at = models.DateTimeField(_("verified or rejected at"), null=True, blank=True)
    authorisation_letter = models.FileField(
        _("authorisation letter"), upload_to=letter_upload_to, blank=True
    )
    letter_name = models.CharField(_("letter file name"), max_length=120, blank=True)
    registered_by = user_link(_("registered by"), blank=True)
    registered_at = models.DateTimeField(_("registered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = CityQuerySet.as_manager()

    class Meta:
        ordering = ["country__name", "name"]
        verbose_name = _("city")
        verbose_name_plural = _("cities")
        constraints = [
            models.UniqueConstraint(fields=["country", "name_key"], name="city_unique_per_country"),
            models.CheckConstraint(
                condition=~Q(verification_status="rejected") | ~Q(rejection_reason=""),
                name="city_rejection_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["verification_status"])]
        permissions = [("verify_city", _("Can verify or reject a city's registration"))]

    def __str__(self) -> str:
        return f"{self.name} ({self.country_id})"

    def save(self, *args, **kwargs):
        self.name = " ".join(self.name.split())
        self.name_key = normalise_name(self.name)
        if not self.time_zone and self.country_id:
            self.time_zone = self.country.time_zone
        super().save(*args, **kwargs)

    @property
    def is_verified(self) -> bool:
        return self.verification_status == VerificationStatus.VERIFIED


class MemberRole(models.TextChoices):
    LEAD = "lead", _("Lead")
    EDITOR = "editor", _("Editor")


class CityMembershipQuerySet(models.QuerySet):
    def leads(self) -> "CityMembershipQuerySet":
        """The memberships that make their user a lead of their city: leads submit and
        withdraw its proposals and manage its members (editors draft)."""
        return self.filter(role=MemberRole.LEAD)


def is_city_lead(user, city) -> bool:
    """Whether `user` is a lead of `city` (a City or its id)."""
    return (
        user.is_authenticated
        and CityMembership.objects.leads().filter(city=city, user=user.pk).exists()
    )


class CityMembership(models.Model):
    city = models.ForeignKey(
        City, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("city")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=10, choices=MemberRole, default=MemberRole.EDITOR)
    created_at = models.DateTimeField(_("member since"), auto_now_add=True)

    objects = CityMembershipQuerySet.as_manager()

    class Meta:
        ordering = ["city", "role", "user__email"]
        verbose_name = _("city member")
        verbose_name_plural = _("city members")
        constraints = [
            models.UniqueConstraint(fields=["city", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.city} ({self.get_role_display()})"


class JoinRequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    DECLINED = "declined", _("Declined")


class JoinRequest(models.Model):
    """An official's request to become a member of a city that is already registered."""

    city = models.ForeignKey(
        City, on_delete=models.CASCADE, related_name="join_requests", verbose_name=_("city")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="join_requests",
        verbose_name=_("user"),
    )
    message = models.TextField(_("message to the city's leads"), blank=True, max_length=2000)
    status = models.CharField(
        _("status"), max_length=10, choices=JoinRequestStatus, default=JoinRequestStatus.PENDING
    )
    decided_by = user_link(_("decided by"), blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("join request")
        verbose_name_plural = _("join requests")
        constraints = [
            models.UniqueConstraint(
                fields=["city", "user"],
                condition=Q(status="pending"),
                name="join_request_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.city} ({self.get_status_display()})"


class CityInvitationQuerySet(models.QuerySet):
    def usable(self, now=None) -> "CityInvitationQuerySet":
        """Invitations that can still be accepted: not accepted, not revoked, not expired."""
        from django.utils import timezone

        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now or timezone.now()
        )


class CityInvitation(models.Model):
    """A lead's invitation of a colleague, by email, to become a member of the city on sign-up
    or sign-in (issue 18). The link's secret is stored hashed (`token_hash`, SHA-256): the
    database alone does not let anyone accept it."""

    city = models.ForeignKey(
        City, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("city")
    )
    email = models.EmailField(_("email address"))
    role = models.CharField(_("role"), max_length=10, choices=MemberRole, default=MemberRole.EDITOR)
    token_hash = models.CharField(_("secret (hashed)"), max_length=64, unique=True)
    invited_by = user_link(_("invited by"))
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = user_link(_("accepted by"), blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_by = user_link(_("revoked by"), blank=True)

    objects = CityInvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("city invitation")
        verbose_name_plural = _("city invitations")
        indexes = [models.Index(fields=["city", "email"])]

    def __str__(self) -> str:
        return f"{self.email} → {self.city}"
