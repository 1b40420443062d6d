"""Projects in the admin: their deliverables' plan (due dates staff may move) and their
stage changes, taken as actions through the same service as every other caller."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from smartjamp.uploads import (
    DOCUMENTS,
    JPEG,
    PDF,
    PNG,
    check_upload,
    checked_file_name,
    reencoded_image,
)

from .. import audit, services
from ..models import (
    ConsultantInvitation,
    Deliverable,
    FinancingDocument,
    FinancingStatusChange,
    FinancingTrack,
    KickOff,
    Payment,
    Project,
    ProjectStageChange,
)
from ..templatetags.smartjamp import short_datetime
from ..timeline import project_timeline
from .base import OwnPages, ReadOnlyInline, report_count, yen_field

MOVED = ngettext_lazy("%(count)d row moved on.", "%(count)d rows moved on.", "count")
INVITED = ngettext_lazy(
    "The consultant is invited to %(count)d project.",
    "The consultant is invited to %(count)d projects.",
    "count",
)


PUBLISHED = ngettext_lazy("%(count)d project published.", "%(count)d projects published.", "count")
UNPUBLISHED = ngettext_lazy(
    "%(count)d project taken off the public page.",
    "%(count)d projects taken off the public page.",
    "count",
)
# The public image: a photo or drawing of the project, checked by content like every upload
# (smartjamp/uploads.py, which also bounds its pixels).
PUBLIC_IMAGE_TYPES = {PNG: "PNG", JPEG: "JPEG"}
MAX_PUBLIC_IMAGE_BYTES = 5 * 1024 * 1024


def publication_action(published: bool, description, done):
    def action(model_admin, request, queryset):
        changed = 0
        for project in queryset:
            try:
                if services.set_published(
                    actor=request.user, project=project, published=published, request=request
                ):
                    model_admin.log_change(
                        request, project, "Published" if published else "Unpublished"
                    )
                    changed += 1
            except ValidationError as exc:
                model_admin.message_user(
                    request, f"{project}: {' '.join(exc.messages)}", messages.ERROR
                )
        if changed:
            report_count(model_admin, request, done, changed)

    action.__name__ = "publish" if published else "unpublish"
    return admin.action(description=description, permissions=["change"])(action)


class ProjectForm(forms.ModelForm):
    # The names of the file fields the upload handler skipped as too large (set per request
    # by ProjectAdmin.get_form): they would otherwise look like no file at all.
    oversized_uploads: list[str] = []

    def clean_consultants(self):
        """Staff remove consultants here; a consultant joins only by invitation (the action
        "Invite a consultant…"), which checks the address is theirs."""
        chosen = self.cleaned_data.get("consultants")
        if chosen is None:
            return chosen
        before = {user.pk for user in self.initial.get("consultants", [])}
        if {user.pk for user in chosen} - before:
            raise forms.ValidationError(
                _("A consultant joins by invitation: use the action “Invite a consultant…”.")
            )
        return chosen

    def clean_public_image(self):
        """The public image, checked by content: PNG or JPEG, at most 5 MB (its stored name
        and type are those of the checked content), stored re-encoded."""
        image = self.cleaned_data.get("public_image")
        if image is False:  # cleared
            self.instance.public_image_type = ""
        elif image and image != self.initial.get("public_image"):
            self.instance.public_image_type = check_upload(
                image, allowed=PUBLIC_IMAGE_TYPES, max_bytes=MAX_PUBLIC_IMAGE_BYTES
            )
            # Its pixels only, shown to anybody: nothing it carried besides.
            image = reencoded_image(image, self.instance.public_image_type)
        return image

    def clean(self):
        cleaned = super().clean()
        if "public_image" in self.oversized_uploads:
            self.add_error(
                "public_image",
                _("The file is larger than %(limit)s and was not accepted.")
                % {"limit": filesizeformat(settings.UPLOAD_HARD_LIMIT_BYTES)},
            )
        publishing = cleaned.get("published") and not self.instance.published
        if publishing and (
            refusal := services.publication_refusal(cleaned.get("public_summary", ""))
        ):
            self.add_error("public_summary", refusal)
        return cleaned


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("The consultant's email address"))


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for cancelling"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class DeliverableInline(admin.TabularInline):
    model = Deliverable
    fields = ("kind", "due_on", "state")
    readonly_fields = ("kind", "state")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class KickOffForm(forms.ModelForm):
    class Meta:
        model = KickOff
        fields = ("held_on", "place", "mlit_signatory", "city_signatory", "minutes", "committee")

    def clean_minutes(self):
        """The signed minutes, checked by content like every upload (a PDF)."""
        minutes = self.cleaned_data.get("minutes")
        if minutes and minutes != self.initial.get("minutes"):
            check_upload(minutes, allowed={PDF: "PDF"}, max_bytes=settings.UPLOAD_HARD_LIMIT_BYTES)
            self.instance.minutes_name = checked_file_name(minutes.name, PDF)
        return minutes


class KickOffInline(admin.StackedInline):
    model = KickOff
    form = KickOffForm
    extra = 0
    max_num = 1
    can_delete = False


class PaymentInline(admin.TabularInline):
    model = Payment
    fields = ("deliverable", "amount_jpy", "paid_on")
    extra = 0

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # The deliverables of the project shown (the model's clean checks it too).
        if db_field.name == "deliverable" and request.resolver_match.kwargs.get("object_id"):
            kwargs["queryset"] = Deliverable.objects.filter(
                project_id=request.resolver_match.kwargs["object_id"]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class StageChangeInline(ReadOnlyInline, admin.TabularInline):
    model = ProjectStageChange
    fields = ("created_at", "from_stage", "to_stage", "actor", "message")


class InvitationInline(ReadOnlyInline, admin.TabularInline):
    model = ConsultantInvitation
    fields = ("email", "invited_by", "created_at", "accepted_at")


def transition_action(name: str, description, take):
    """An action taking the transition `name` of each selected row with `take(actor, row,
    name)` (a service), saying each refusal."""

    def action(model_admin, request, queryset):
        moved = 0
        for row in queryset:
            try:
                take(request.user, row, name)
            except (ValidationError, PermissionDenied) as exc:
                reasons = " ".join(getattr(exc, "messages", [])) or _("Not allowed.")
                model_admin.message_user(request, f"{row}: {reasons}", messages.ERROR)
            else:
                model_admin.log_change(request, row, f"Transition: {name}")
                moved += 1
        if moved:
            report_count(model_admin, request, MOVED, moved)

    action.__name__ = f"take_{name}"
    return admin.action(description=description, permissions=["change"])(action)


def stage_action(name: str, description):
    return transition_action(
        name,
        description,
        lambda actor, project, name: services.take_project_transition(
            actor=actor, project=project, name=name
        ),
    )


def financing_action(name: str, description):
    return transition_action(
        name,
        description,
        lambda actor, track, name: services.change_financing_status(
            actor=actor, track=track, name=name
        ),
    )


class FinancingInline(ReadOnlyInline, admin.TabularInline):
    model = FinancingTrack
    fields = ("kind", "counterpart", "sought", "committed", "status")
    show_change_link = True
    sought = yen_field(FinancingTrack, "sought_jpy")
    committed = yen_field(FinancingTrack, "committed_jpy")


@admin.register(Project)
class ProjectAdmin(OwnPages, admin.ModelAdmin):
    list_display = ("code", "proposal", "stage", "fiscal_year", "report_by")
    list_filter = ("stage", "fiscal_year", "published")
    list_select_related = ("proposal",)
    search_fields = ("code", "proposal__title", "proposal__reference_code")
    form = ProjectForm
    fieldsets = [
        (
            None,
            {
                "fields": (
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
            },
        ),
        (
            _("Public summary"),
            {
                "fields": (
                    "published",
                    "published_at",
                    "public_title",
                    "public_summary",
                    "public_image",
                ),
                "description": _(
                    "What the public page of projects (/projects/) shows once the project is "
                    "published: the title, city, country, focus areas, stage, fiscal year and "
                    "consultant's company, this summary and the image (PNG or JPEG, at most "
                    "5 MB). Nothing else of the project is public."
                ),
            },
        ),
        (_("Timeline"), {"fields": ("timeline",), "classes": ("collapse",)}),
    ]
    readonly_fields = ("code", "proposal", "stage", "cancel_reason", "published_at", "timeline")
    # Staff remove a consultant here (the change is audited); they are added by invitation.
    raw_id_fields = ("consultants",)
    inlines = [
        KickOffInline,
        DeliverableInline,
        PaymentInline,
        FinancingInline,
        InvitationInline,
        StageChangeInline,
    ]
    actions = [
        stage_action("promote_investment", _("Move to investment promotion")),
        stage_action("follow_up", _("Hand to the consultation desk")),
        stage_action("close", _("Close")),
        "invite_consultant",
        "cancel_projects",
        publication_action(True, _("Publish on the public page of projects"), PUBLISHED),
        publication_action(False, _("Take off the public page of projects"), UNPUBLISHED),
    ]

    @admin.display(description=_("everything that happened, oldest first"))
    def timeline(self, project):
        if project.pk is None:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (short_datetime(localtime(event.at)), event.what, event.by, event.note)
                for event in project_timeline(project)
            ),
        )
        return format_html(
            '<table><thead><tr><th scope="col">{}</th><th scope="col">{}</th>'
            '<th scope="col">{}</th><th scope="col">{}</th></tr></thead><tbody>{}</tbody></table>',
            _("when"),
            _("what"),
            _("by"),
            _("note"),
            rows,
        )

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)  # a new class on each call
        form.oversized_uploads = getattr(request, "oversized_uploads", [])
        return form

    def save_related(self, request, form, formsets, change):
        before = {user.pk: user for user in form.initial.get("consultants", [])}
        super().save_related(request, form, formsets, change)
        after = set(form.instance.consultants.values_list("pk", flat=True))
        for pk in before.keys() - after:
            # Named in the audit trail and so on the project's timeline.
            audit.record(
                actor=request.user,
                action="project.consultant_removed",
                proposal=form.instance.proposal,
                user=before[pk],
                request=request,
                project=form.instance.code,
                email=before[pk].email,
            )

    def save_model(self, request, obj, form, change):
        # Publishing from the form is publishing (published_at, the audit trail); a replaced
        # or cleared image's file is deleted once the change is committed.
        published = "published" in form.changed_data
        if published:
            obj.published = form.initial["published"]  # as it was, for mark_published
            services.mark_published(obj, form.cleaned_data["published"])
        previous = form.initial.get("public_image")
        super().save_model(request, obj, form, change)
        if published:
            services.record_publication(actor=request.user, project=obj, request=request)
        if previous and previous.name != obj.public_image.name:
            storage, name = previous.storage, previous.name
            transaction.on_commit(lambda: storage.delete(name))

    @admin.action(description=_("Cancel the selected projects…"), permissions=["change"])
    def cancel_projects(self, request, queryset):
        form = CancelForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            cancel = transition_action(
                "cancel",
                "",
                lambda actor, project, name: services.take_project_transition(
                    actor=actor, project=project, name=name, reason=form.cleaned_data["reason"]
                ),
            )
            return cancel(self, request, queryset)
        return self.action_page(
            request,
            _("Cancel projects"),
            action="cancel_projects",
            intro=_("These projects will be cancelled. Their cities see the reason."),
            submit=_("Cancel the projects"),
            rows=queryset,
            form=form,
        )

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
            _("Invite a consultant"),
            action="invite_consultant",
            intro=_(
                "The consultant is invited to these projects. An account with this verified "
                "address joins at once; any other address is sent an invitation to sign up."
            ),
            submit=_("Invite"),
            rows=queryset,
            form=form,
        )

    def has_add_permission(self, request):
        return False  # a project comes from its proposal's approval

    def has_delete_permission(self, request, obj=None):
        return False


class FinancingChangeInline(ReadOnlyInline, admin.TabularInline):
    model = FinancingStatusChange
    fields = ("created_at", "from_status", "to_status", "actor", "note")


class FinancingDocumentForm(forms.ModelForm):
    class Meta:
        model = FinancingDocument
        fields = ("file",)

    def clean_file(self):
        """Checked by content here, to say so on the form; stored by the service."""
        upload = self.cleaned_data.get("file")
        if upload and self.instance.pk is None:
            check_upload(upload, allowed=DOCUMENTS, max_bytes=settings.UPLOAD_HARD_LIMIT_BYTES)
        return upload


class FinancingDocumentInline(admin.TabularInline):
    """Staff add a track's documents (services.add_financing_document, in save_formset) and
    download them through the gate; none is changed or deleted once kept."""

    model = FinancingDocument
    form = FinancingDocumentForm
    fields = ("file", "download", "size", "uploaded_by", "uploaded_at")
    extra = 1
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return ("download", "size", "uploaded_by", "uploaded_at")

    def has_change_permission(self, request, obj=None):
        return False  # kept as uploaded; new rows are added (has_add_permission)

    @admin.display(description=_("document"))
    def download(self, document):
        if document.pk is None:
            return ""
        url = reverse("financing_document", args=[document.track.project.code, document.code])
        return format_html('<a href="{}">{}</a>', url, document.name)


class FinancingTrackForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        project = cleaned.get("project")
        if self.instance.pk is None and project is not None and not project.seeks_financing:
            raise forms.ValidationError(services.projects.NOT_SEEKING_FINANCING)
        return cleaned


@admin.register(FinancingTrack)
class FinancingTrackAdmin(admin.ModelAdmin):
    """Added through services.projects.add_financing_track; the committed amount is entered
    here (the model's rule on amounts applies), then the investor's decision taken as an
    action."""

    list_display = ("project", "kind", "counterpart", "sought", "committed", "status")
    sought = yen_field(FinancingTrack, "sought_jpy")
    committed = yen_field(FinancingTrack, "committed_jpy")
    list_filter = ("kind", "status")
    list_select_related = ("project__proposal",)
    search_fields = ("counterpart", "project__code", "project__proposal__title")
    fields = (
        "project",
        "kind",
        "counterpart",
        "contact",
        "sought_jpy",
        "committed_jpy",
        "above_sought_reason",
        "status",
    )
    readonly_fields = ("status",)
    raw_id_fields = ("project",)  # works without JavaScript
    form = FinancingTrackForm
    inlines = [FinancingDocumentInline, FinancingChangeInline]
    actions = [
        financing_action("refer", _("Referred to the investor")),
        financing_action("appraise", _("Under the investor's appraisal")),
        financing_action("approve", _("Approved by the investor")),
        financing_action("decline", _("Declined by the investor")),
        financing_action("disburse", _("Disbursed")),
    ]

    def get_readonly_fields(self, request, obj=None):
        # A track's project and kind are set when it is added.
        return ("project", "kind", "status") if obj else ("status",)

    def save_formset(self, request, form, formset, change):
        if formset.model is not FinancingDocument:
            return super().save_formset(request, form, formset, change)
        # What Django's change message reads of a saved formset.
        formset.new_objects = [
            services.add_financing_document(actor=request.user, track=form.instance, upload=upload)
            for document_form in formset.extra_forms
            if (upload := document_form.cleaned_data.get("file"))
        ]
        formset.changed_objects, formset.deleted_objects = [], []
        return None

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.add_financing_track(
            actor=request.user,
            project=obj.project,
            kind=obj.kind,
            counterpart=obj.counterpart,
            contact=obj.contact,
            sought_jpy=obj.sought_jpy,
        )
        obj.pk = created.pk
