import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .geo import City, Country, new_code


class Stage(models.TextChoices):
    FORMATION_SURVEY = "formation_survey", _("Project formation survey")
    INVESTMENT = "investment", _("Investment promotion")
    CONSULTATION = "consultation", _("Consultation desk")


class Aggregation(models.TextChoices):
    MEAN = "mean", _("Mean")
    MEDIAN = "median", _("Median")


def default_reminder_days() -> list[int]:
    return [14, 7, 1]


def deadline_for_city(call_ref, city_ref, closes_at_ref):
    """The closing instant of a call for one city, as an SQL expression: the city's extension
    if staff granted one, never earlier than the call's own close (an extension only ever
    gives more time, even if staff later move the close). `call_ref` and `city_ref` are
    references from the outer query (`OuterRef`) or ids, `closes_at_ref` the call's close (`F`
    or `Value`). The one statement of the rule: Call.deadline_for, Call.with_deadlines,
    CallQuerySet.with_deadline_for and ProposalQuerySet.with_due_at all evaluate it."""
    extension = DeadlineExtension.objects.filter(call=call_ref, city=city_ref).values("closes_at")[
        :1
    ]
    return Greatest(Coalesce(Subquery(extension), closes_at_ref), closes_at_ref)


class CallQuerySet(models.QuerySet):
    def open_at(self, when: datetime.datetime) -> "CallQuerySet":
        return self.filter(opens_at__lte=when, closes_at__gt=when)

    def published(self) -> "CallQuerySet":
        return self.filter(is_published=True)

    def with_deadline_for(self, city_ref) -> "CallQuerySet":
        """Annotate `deadline`: the closing instant for one city, its extension included.

        `city_ref` is a city, a city id or an OuterRef to one.
        """
        return self.annotate(deadline=deadline_for_city(OuterRef("pk"), city_ref, F("closes_at")))


class Call(models.Model):
    """A funding round: what may be proposed, by whom, until when, and how it is scored."""

    code = models.CharField(_("code"), max_length=16, unique=True, default=new_code, editable=False)
    title = models.CharField(_("title"), max_length=200)
    stage = models.CharField(_("stage"), max_length=20, choices=Stage)
    description = models.TextField(_("description"))
    opens_at = models.DateTimeField(_("opens at"))
    closes_at = models.DateTimeField(_("closes at"))
    eligible_countries = models.ManyToManyField(
        Country, related_name="calls", verbose_name=_("eligible countries")
    )
    max_request_jpy = models.PositiveBigIntegerField(
        _("maximum request per proposal (JPY)"), validators=[MinValueValidator(1)]
    )
    envelope_jpy = models.PositiveBigIntegerField(_("total envelope (JPY)"))
    max_proposals_per_city = models.PositiveSmallIntegerField(
        _("maximum proposals per city"), default=3, validators=[MinValueValidator(1)]
    )
    review_due = models.DateField(_("reviews due by"), null=True, blank=True)
    reminder_days = models.JSONField(
        _("reminders (days before closing)"),
        default=default_reminder_days,
        help_text=_("A list of whole days, e.g. [14, 7, 1]."),
    )
    score_aggregation = models.CharField(
        _("how reviews are combined"),
        max_length=10,
        choices=Aggregation,
        default=Aggregation.MEAN,
        help_text=_("A proposal's score is the mean or the median of its reviews."),
    )
    is_published = models.BooleanField(
        _("published"), default=True, help_text=_("Unpublished calls are not listed publicly.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = CallQuerySet.as_manager()

    class Meta:
        ordering = ["-closes_at"]
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        constraints = [
            models.CheckConstraint(
                condition=Q(closes_at__gt=models.F("opens_at")), name="call_closes_after_opening"
            ),
        ]
        indexes = [models.Index(fields=["opens_at", "closes_at"])]

    def __str__(self) -> str:
        return self.title

    def clean(self):
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValidationError({"closes_at": _("A call must close after it opens.")})
        days = self.reminder_days
        if not isinstance(days, list) or not all(isinstance(d, int) and d > 0 for d in days):
            raise ValidationError(
                {"reminder_days": _("Give a list of whole numbers of days, e.g. [14, 7, 1].")}
            )
        if self.max_request_jpy and self.envelope_jpy and self.max_request_jpy > self.envelope_jpy:
            raise ValidationError(
                {"max_request_jpy": _("The maximum request cannot exceed the envelope.")}
            )

    def phase(self, now: datetime.datetime | None = None) -> str:
        now = now or timezone.now()
        if now < self.opens_at:
            return "upcoming"
        if now < self.closes_at:
            return "open"
        return "closed"

    def deadline_for(self, city: City) -> datetime.datetime:
        """The closing instant for `city`: its own extension if staff granted one."""
        return self.deadlines_for([city])[city.pk]

    def with_deadlines(self, cities: "models.QuerySet[City]") -> "models.QuerySet[City]":
        """`cities` annotated with `deadline`: each one's closing instant for this call."""
        return cities.annotate(
            deadline=deadline_for_city(self.pk, OuterRef("pk"), Value(self.closes_at))
        )

    def deadlines_for(self, cities) -> dict[int, datetime.datetime]:
        """The closing instant of each of `cities` (by id), in one query."""
        cities = City.objects.filter(pk__in=[city.pk for city in cities])
        return dict(self.with_deadlines(cities).order_by().values_list("pk", "deadline"))

    def is_eligible(self, city: City) -> bool:
        return self.eligible_countries.filter(pk=city.country_id).exists()


class RubricCriterion(models.Model):
    call = models.ForeignKey(
        Call, on_delete=models.CASCADE, related_name="criteria", verbose_name=_("call")
    )
    name = models.CharField(_("criterion"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    weight = models.DecimalField(
        _("weight"), max_digits=5, decimal_places=2, validators=[MinValueValidator(0.01)]
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    # What each score means for this criterion (issue 19's score descriptors), shown to
    # reviewers beside the score's radio button; blank where staff wrote none.
    descriptor_1 = models.CharField(_("1 means"), max_length=300, blank=True)
    descriptor_2 = models.CharField(_("2 means"), max_length=300, blank=True)
    descriptor_3 = models.CharField(_("3 means"), max_length=300, blank=True)
    descriptor_4 = models.CharField(_("4 means"), max_length=300, blank=True)
    descriptor_5 = models.CharField(_("5 means"), max_length=300, blank=True)

    DESCRIPTORS = ["descriptor_1", "descriptor_2", "descriptor_3", "descriptor_4", "descriptor_5"]

    class Meta:
        ordering = ["call", "position", "pk"]
        verbose_name = _("rubric criterion")
        verbose_name_plural = _("rubric criteria")
        constraints = [
            models.CheckConstraint(condition=Q(weight__gt=0), name="criterion_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (×{self.weight})"

    def meaning(self, score: int | None) -> str:
        """What `score` (1 to 5) means for this criterion, as staff described it ("" if not)."""
        if score is None or not 1 <= score <= 5:
            return ""
        return getattr(self, self.DESCRIPTORS[score - 1])


class DeadlineExtension(models.Model):
    """More time for one city on one call, granted by staff; the others are unaffected."""

    call = models.ForeignKey(
        Call, on_delete=models.CASCADE, related_name="extensions", verbose_name=_("call")
    )
    city = models.ForeignKey(
        City, on_delete=models.CASCADE, related_name="extensions", verbose_name=_("city")
    )
    closes_at = models.DateTimeField(_("new closing instant"))
    reason = models.TextField(_("reason"))
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("granted by"),
        null=True,
        blank=True,
    )
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("deadline extension")
        verbose_name_plural = _("deadline extensions")
        constraints = [
            models.UniqueConstraint(
                fields=["call", "city"], name="one_extension_per_city_and_call"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.city} → {self.closes_at:%Y-%m-%d %H:%M} UTC"

    def clean(self):
        if self.closes_at and self.call_id and self.closes_at <= self.call.closes_at:
            raise ValidationError(
                {"closes_at": _("An extension must end after the call's own closing instant.")}
            )
