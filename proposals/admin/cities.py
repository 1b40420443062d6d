from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from .. import audit, services
from ..forms import RejectionForm
from ..models import (
    City,
    CityMembership,
    Country,
    JoinRequest,
    JoinRequestStatus,
    User,
    VerificationStatus,
    normalise_name,
)
from .base import FilteredCountOnly, OwnPages, ReadOnlyInline, has_perm, report_count

admin.site.site_header = _("Smart JAMP administration")
admin.site.site_title = _("Smart JAMP")
admin.site.index_title = _("Programme administration")

VERIFIED = ngettext_lazy("%(count)d city verified.", "%(count)d cities verified.", "count")
REJECTED = ngettext_lazy("%(count)d city rejected.", "%(count)d cities rejected.", "count")
ANSWERED = ngettext_lazy("%(count)d request answered.", "%(count)d requests answered.", "count")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "position", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_active", "groups", "language"]
    search_fields = ["email", "full_name", "position"]
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (_("Profile"), {"fields": ["full_name", "position", "country", "language", "time_zone"]}),
        (
            _("Permissions"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "full_name", "password1", "password2"]}),
    ]
    actions = ["reset_second_factor"]
    # Only superusers hand out admin powers, change addresses or passwords, or touch the
    # accounts of admin users. Staff edit city officials' profiles, nothing more: an address
    # they could set would let them reset its owner's password.
    POWER_FIELDS = ["email", "is_staff", "is_superuser", "groups", "user_permissions"]

    @staticmethod
    def holds_rights(user) -> bool:
        """Admin powers of any kind: staff, superuser, a group or a permission of their own."""
        return (
            user.is_staff
            or user.is_superuser
            or user.groups.exists()
            or user.user_permissions.exists()
        )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or request.user.is_superuser:
            return fieldsets
        # No password field (and so no link to the form that sets one).
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "password"]})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += self.POWER_FIELDS
        return readonly

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        if (
            obj is not None
            and not request.user.is_superuser
            and obj != request.user
            and self.holds_rights(obj)
        ):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def user_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            actions.pop("reset_second_factor", None)
        return actions

    @admin.action(description=_("Reset the second factor (the person sets up a new one)"))
    def reset_second_factor(self, request, queryset):
        if not request.user.is_superuser:
            raise PermissionDenied
        from allauth.mfa.models import Authenticator

        with transaction.atomic():
            for user in queryset:
                deleted, _counts = Authenticator.objects.filter(user=user).delete()
                if deleted:
                    audit.record(actor=request.user, action="mfa.reset", user=user, request=request)
        self.message_user(
            request,
            _("Second factors reset. Each person is asked to set up a new one at next sign-in."),
            messages.SUCCESS,
        )


@admin.register(Country)
class CountryAdmin(admin.ModelAdmin):
    # The name in the reader's language (Country.__str__); the form edits the stored one.
    list_display = ["__str__", "iso2", "iso3", "time_zone", "currency", "asean_member"]
    list_filter = ["asean_member"]
    search_fields = ["name", "iso2", "iso3"]


class MembershipInline(ReadOnlyInline, admin.TabularInline):
    """Members are shown here; leads and staff change them on the city's page, where the
    rule that a city keeps at least one lead is enforced (services.change_member_role)."""

    model = CityMembership
    fields = ["user", "role", "created_at"]


class CityAdminForm(forms.ModelForm):
    class Meta:
        model = City
        fields = ["name", "country"]

    def clean(self):
        cleaned = super().clean()
        name, country = cleaned.get("name"), cleaned.get("country")
        if name and country:
            twins = City.objects.filter(country=country, name_key=normalise_name(name))
            if self.instance.pk:
                twins = twins.exclude(pk=self.instance.pk)
            if twin := twins.first():
                raise forms.ValidationError(
                    _("%(city)s is already a city of %(country)s under that name.")
                    % {"city": twin.name, "country": country}
                )
        return cleaned


class RegistrationFilter(admin.SimpleListFilter):
    """Applications (cities that officials registered or joined) by default: the ASEAN Smart
    Cities Network's reference rows that nobody applied for are not work, and would bury the
    few real applications among "pending verification" rows."""

    title = _("registration")
    parameter_name = "registration"
    APPLICATIONS, REFERENCE, ALL = "applications", "reference", "all"

    def lookups(self, request, model_admin):
        return [
            (self.APPLICATIONS, _("Applications (registered by officials)")),
            (self.REFERENCE, _("Reference cities, no application")),
            (self.ALL, _("All")),
        ]

    def value(self):
        return super().value() or self.APPLICATIONS

    def choices(self, changelist):
        # Django's "All" stands for no parameter, which here means applications: the three
        # choices are ours, each with its own value.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        claimed = City.objects.claimed().values("pk")
        if self.value() == self.REFERENCE:
            return queryset.exclude(pk__in=claimed)
        if self.value() == self.ALL:
            return queryset
        return queryset.filter(pk__in=claimed)


@admin.register(City)
class CityAdmin(OwnPages, FilteredCountOnly, admin.ModelAdmin):
    form = CityAdminForm
    list_display = [
        "name",
        "country",
        "kind",
        "ascn_status",
        "verification_status",
        "member_count",
        "registered_at",
    ]
    list_filter = [RegistrationFilter, "verification_status", "country", "ascn_status", "kind"]
    list_select_related = ["country"]
    search_fields = ["name", "region", "code"]
    ordering = ["country__name", "name"]
    inlines = [MembershipInline]
    actions = ["verify_selected", "reject_selected"]
    # Set by registration and verification only.
    VERIFICATION = [
        "verification_status",
        "rejection_reason",
        "decided_by",
        "decided_at",
        "letter_link",
        "registered_by",
        "registered_at",
    ]
    readonly_fields = ["code", *VERIFICATION]
    fieldsets = [
        (
            None,
            {"fields": ["code", "name", "kind", "country", "region", "population", "time_zone"]},
        ),
        (_("ASEAN Smart Cities Network"), {"fields": ["ascn_status", "ascn_joined"]}),
        (_("Verification"), {"fields": VERIFICATION}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description=_("members"), ordering="_member_count")
    def member_count(self, city):
        return city._member_count

    @admin.display(description=_("authorisation letter"))
    def letter_link(self, city):
        if not city.authorisation_letter:
            return "—"
        letter = format_html(
            '<a href="{}">{}</a>', reverse("city_letter", args=[city.code]), city.letter_name
        )
        if city.verification_status != VerificationStatus.PENDING:
            return letter
        # The decision is taken on the city's portal page, beside the letter (its Verify and
        # Reject forms, with the reason a rejection needs): one place for it.
        return format_html(
            '{} · <a href="{}" class="button">{}</a>',
            letter,
            reverse("city_detail", args=[city.code]),
            _("Verify or reject on the city's page"),
        )

    has_verify_permission = has_perm("verify_city")

    @admin.action(description=_("Verify the selected cities"), permissions=["verify"])
    def verify_selected(self, request, queryset):
        for city in queryset:
            services.verify_city(actor=request.user, city=city)
            self.log_change(request, city, "Verified")
        report_count(self, request, VERIFIED, len(queryset))

    @admin.action(description=_("Reject the selected cities…"), permissions=["verify"])
    def reject_selected(self, request, queryset):
        form = RejectionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            for city in queryset:
                services.reject_city(actor=request.user, city=city, reason=reason)
                self.log_change(request, city, f"Rejected: {reason}")
            report_count(self, request, REJECTED, len(queryset))
            return None
        return self.action_page(
            request,
            _("Reject cities"),
            action="reject_selected",
            intro=_("These cities will be rejected. Their members see the reason."),
            submit=_("Reject"),
            rows=queryset,
            form=form,
        )


@admin.register(JoinRequest)
class JoinRequestAdmin(FilteredCountOnly, admin.ModelAdmin):
    list_display = ["user", "city", "status", "created_at", "decided_by", "decided_at"]
    list_filter = ["status", "city__country"]
    list_select_related = ["user", "city__country", "decided_by"]
    search_fields = ["user__email", "user__full_name", "city__name"]
    readonly_fields = [
        "city",
        "user",
        "message",
        "status",
        "decided_by",
        "decided_at",
        "created_at",
    ]
    actions = ["approve_selected", "decline_selected"]

    def has_add_permission(self, request):
        return False

    @transaction.atomic
    def _decide(self, request, queryset, *, approve: bool):
        done = 0
        for join_request in queryset.filter(status=JoinRequestStatus.PENDING):
            try:
                services.decide_join_request(
                    actor=request.user, join_request=join_request, approve=approve
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                done += 1
        report_count(self, request, ANSWERED, done)

    @admin.action(description=_("Approve the selected join requests"), permissions=["change"])
    def approve_selected(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description=_("Decline the selected join requests"), permissions=["change"])
    def decline_selected(self, request, queryset):
        self._decide(request, queryset, approve=False)
