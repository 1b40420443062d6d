"""Projects in the admin: their deliverables' plan (due dates staff may move) and their
stage changes, taken as actions through the same service as every other caller."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from .. import services
from ..models import (
    ConsultantInvitation,
    Deliverable,
    Project,
    ProjectStageChange,
)
from .base import OwnPages, ReadOnlyInline, report_count

MOVED = ngettext_lazy("%(count)d project moved.", "%(count)d projects moved.", "count")
INVITED = ngettext_lazy(
    "The consultant is invited to %(count)d project.",
    "The consultant is invited to %(count)d projects.",
    "count",
)


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("The consultant's email address"))


class DeliverableInline(admin.TabularInline):
    model = Deliverable
    fields = ("kind", "due_on", "state")
    readonly_fields = ("kind", "state")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class StageChangeInline(ReadOnlyInline, admin.TabularInline):
    model = ProjectStageChange
    fields = ("created_at", "from_stage", "to_stage", "actor", "message")


class InvitationInline(ReadOnlyInline, admin.TabularInline):
    model = ConsultantInvitation
    fields = ("email", "invited_by", "created_at", "accepted_at")


def stage_action(name: str, description):
    """An action taking the stage transition `name` of each selected project."""

    def action(model_admin, request, queryset):
        moved = 0
        for project in queryset:
            try:
                services.take_project_transition(actor=request.user, project=project, name=name)
            except (ValidationError, PermissionDenied) as exc:
                reasons = " ".join(getattr(exc, "messages", [])) or _("Not allowed.")
                model_admin.message_user(request, f"{project.code}: {reasons}", messages.ERROR)
            else:
                model_admin.log_change(request, project, f"Stage: {name}")
                moved += 1
        if moved:
            report_count(model_admin, request, MOVED, moved)

    action.__name__ = f"take_{name}"
    return admin.action(description=description, permissions=["change"])(action)


@admin.register(Project)
class ProjectAdmin(OwnPages, admin.ModelAdmin):
    list_display = ("code", "proposal", "stage", "fiscal_year", "report_by")
    list_filter = ("stage", "fiscal_year")
    list_select_related = ("proposal",)
    search_fields = ("code", "proposal__title", "proposal__reference_code")
    fields = (
        "code",
        "proposal",
        "stage",
        "fiscal_year",
        "report_by",
        "cancel_reason",
        "consultant_company",
        "corporate_number",
        "consultant_contact",
        "procurement_method",
        "procured_on",
        "contract_date",
        "contract_amount_jpy",
        "consultants",
    )
    readonly_fields = ("code", "proposal", "stage", "cancel_reason", "consultants")
    inlines = [DeliverableInline, InvitationInline, StageChangeInline]
    actions = [
        stage_action("promote_investment", _("Move to investment promotion")),
        stage_action("follow_up", _("Hand to the consultation desk")),
        stage_action("close", _("Close")),
        "invite_consultant",
    ]

    @admin.action(description=_("Invite a consultant…"), permissions=["change"])
    def invite_consultant(self, request, queryset):
        form = InviteForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            for project in queryset:
                services.invite_consultant(
                    actor=request.user, project=project, email=form.cleaned_data["email"]
                )
                self.log_change(request, project, "Consultant invited")
            report_count(self, request, INVITED, len(queryset))
            return None
        return self.action_page(
            request,
            "admin/proposals/project/invite.html",
            _("Invite a consultant"),
            projects=queryset,
            form=form,
        )

    def has_add_permission(self, request):
        return False  # a project comes from its proposal's approval

    def has_delete_permission(self, request, obj=None):
        return False
