"""Desk requests in the admin: the list with each request's age in working days and the
overdue ones, the thread read-only. Staff answer on the request's portal page (the link at
the top, "View on site"), through the same service as every other answer; here they only
link a request to a project (services.desk.link_request_to_project)."""

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import services
from ..models import DeskFile, DeskMessage, DeskRequest
from ..services.desk import age_in_working_days, is_overdue, overdue
from .base import FilteredCountOnly, ReadOnlyInline


class OverdueFilter(admin.SimpleListFilter):
    title = _("first answer")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(overdue())
        if self.value() == "no":
            return queryset.exclude(overdue())
        return queryset


class MessageInline(ReadOnlyInline, admin.StackedInline):
    model = DeskMessage
    fields = ("created_at", "author", "from_staff", "body")
    readonly_fields = fields
    verbose_name_plural = _("thread")

    def has_change_permission(self, request, obj=None):
        return False


class FileInline(ReadOnlyInline, admin.TabularInline):
    model = DeskFile
    fields = ("name", "content_type", "size", "uploaded_by", "uploaded_at", "message")
    readonly_fields = fields

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(DeskRequest)
class DeskRequestAdmin(FilteredCountOnly, admin.ModelAdmin):
    list_display = (
        "subject",
        "code",
        "topic",
        "state",
        "asked_by",
        "created_at",
        "age",
        "is_overdue",
    )
    list_filter = ("state", "topic", OverdueFilter)
    list_select_related = ("requester", "city")
    search_fields = ("code", "subject", "company", "requester__email", "city__name")
    date_hierarchy = "created_at"
    fields = (
        "code",
        "topic",
        "subject",
        "body",
        "requester",
        "city",
        "company",
        "project",
        "state",
        "created_at",
        "first_answered_at",
        "closed_at",
        "answer_on_the_portal",
    )
    readonly_fields = tuple(name for name in fields if name != "project")
    raw_id_fields = ("project",)  # works without JavaScript
    inlines = [MessageInline, FileInline]

    @admin.display(description=_("asked by"))
    def asked_by(self, obj):
        return obj.city or obj.company or obj.requester

    @admin.display(description=_("age (working days)"))
    def age(self, obj):
        return age_in_working_days(obj, timezone.now())

    @admin.display(description=_("overdue"), boolean=True)
    def is_overdue(self, obj):
        return is_overdue(obj, timezone.now())

    @admin.display(description=_("answer"))
    def answer_on_the_portal(self, obj):
        return format_html('<a href="{}">{}</a>', obj.get_absolute_url(), _("The request's page"))

    def save_model(self, request, obj, form, change):
        # Only the project is edited here, through the service (audited).
        if "project" in form.changed_data:
            services.link_request_to_project(
                actor=request.user, desk_request=obj, project=obj.project
            )

    def has_add_permission(self, request):
        return False  # requests are opened on the portal

    def has_delete_permission(self, request, obj=None):
        return False
