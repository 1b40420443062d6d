import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


def user_link(verbose_name=None, *, blank=False, related_name="+"):
    """A link to the user who did something (or got it): the row outlives their account."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=blank,
        related_name=related_name,
        verbose_name=verbose_name,
    )


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person with an account: a city official, an MLIT reviewer or programme staff.

    Email is the login; there is no username. Whether someone is staff or a reviewer is told by
    Django's `is_staff` and groups; what a city official may do follows from memberships.
    """

    username = None
    first_name = None
    last_name = None
    email = models.EmailField(_("email address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    position = models.CharField(
        _("position"), max_length=200, blank=True, help_text=_("Your job title or office.")
    )
    country = models.ForeignKey(
        "proposals.Country",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("country"),
        help_text=_("Where you work. Reviewers are not assigned proposals of their own country."),
    )
    language = models.CharField(
        _("preferred language"),
        max_length=10,
        choices=settings.LANGUAGES,
        default=settings.LANGUAGE_CODE,
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        choices=time_zone_choices,
        default="Asia/Tokyo",
        help_text=_("Dates and times are shown to you in this time zone."),
    )

    company = models.CharField(
        _("Japanese company"),
        max_length=200,
        blank=True,
        help_text=_(
            "Set by programme staff for the account of a Japanese company, which may then ask "
            "the consultation desk."
        ),
    )
    notify_calls = models.BooleanField(
        _("email me when a call opens"),
        default=True,
        help_text=_(
            "Deadline reminders and news about your proposals are always sent; call "
            "announcements you may switch off."
        ),
    )

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    get_full_name = get_short_name = __str__
