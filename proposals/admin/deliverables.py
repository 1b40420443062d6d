"""Deliverables in the admin: staff accept an uploaded report or return it with comments, as
actions that call the same service as the project page (services.review_deliverable)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from .. import services
from ..models import Deliverable, DeliverableVersion
from .base import OwnPages, ReadOnlyInline, report_count

REVIEWED = ngettext_lazy(
    "%(count)d deliverable reviewed.", "%(count)d deliverables reviewed.", "count"
)


class ReturnForm(forms.Form):
    comment = forms.CharField(
        label=_("What must change (the consultant and the city read it)"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class VersionInline(ReadOnlyInline, admin.TabularInline):
    model = DeliverableVersion
    fields = ("download", "size", "uploaded_by", "uploaded_at", "outcome", "comment")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("deliverable__project", "uploaded_by")

    @admin.display(description=_("file"))
    def download(self, version):
        # Through the project's gate, which audits the download.
        url = reverse("deliverable_file", args=[version.deliverable.project.code, version.code])
        return format_html('<a href="{}">{}</a>', url, version.name)


@admin.register(Deliverable)
class DeliverableAdmin(OwnPages, admin.ModelAdmin):
    list_display = ("kind", "project", "due_on", "state")
    list_filter = ("state", "kind")
    list_select_related = ("project__proposal",)
    search_fields = ("project__code", "project__proposal__title")
    date_hierarchy = "due_on"
    fields = ("project", "kind", "due_on", "state")
    readonly_fields = ("project", "kind", "state")
    inlines = [VersionInline]
    actions = ["accept", "return_with_comments"]

    def _review(self, request, queryset, *, accept: bool, comment: str = ""):
        reviewed = 0
        for deliverable in queryset:
            try:
                services.review_deliverable(
                    actor=request.user, deliverable=deliverable, accept=accept, comment=comment
                )
            except (ValidationError, PermissionDenied) as exc:
                reasons = " ".join(getattr(exc, "messages", [])) or _("Not allowed.")
                self.message_user(request, f"{deliverable}: {reasons}", messages.ERROR)
            else:
                self.log_change(request, deliverable, "Accepted" if accept else "Returned")
                reviewed += 1
        if reviewed:
            report_count(self, request, REVIEWED, reviewed)

    @admin.action(description=_("Accept the uploaded version"), permissions=["change"])
    def accept(self, request, queryset):
        self._review(request, queryset, accept=True)

    @admin.action(description=_("Return with comments…"), permissions=["change"])
    def return_with_comments(self, request, queryset):
        form = ReturnForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._review(request, queryset, accept=False, comment=form.cleaned_data["comment"])
            return None
        return self.action_page(
            request,
            _("Return deliverables with comments"),
            action="return_with_comments",
            intro=_("The consultant uploads these deliverables again after reading your comments."),
            submit=_("Return"),
            rows=queryset,
            form=form,
        )

    def has_add_permission(self, request):
        return False  # a project's plan makes its deliverables

    def has_delete_permission(self, request, obj=None):
        return False
