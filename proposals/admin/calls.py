from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from .. import reports, scoring, services
from ..forms import PanelForm
from ..models import (
    Call,
    DeadlineExtension,
    RubricCriterion,
)
from .base import FilteredCountOnly, OwnPages, yen_field

# A date and time as one labelled field (the browser's date and time picker), not Django's
# split date/time pair, whose second input has no label and whose width overflows the page.
ONE_FIELD_DATETIMES = {
    models.DateTimeField: {
        "form_class": forms.DateTimeField,
        "widget": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    }
}


class RubricInline(admin.StackedInline):
    """The call's criteria, each with what its scores mean (closed until opened: a <details>,
    which needs no JavaScript)."""

    model = RubricCriterion
    extra = 1
    fieldsets = [
        (None, {"fields": [("position", "weight"), "name", "description"]}),
        (
            _("What each score means"),
            {
                "classes": ["collapse"],
                "description": _(
                    "Shown to reviewers beside each score, e.g. “1: no evidence of the "
                    "problem”, “5: the problem measured and its cause shown”."
                ),
                "fields": RubricCriterion.DESCRIPTORS,
            },
        ),
    ]
    formfield_overrides = {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 60})}
    }


class ExtensionInline(admin.TabularInline):
    model = DeadlineExtension
    extra = 0
    fields = ["city", "closes_at", "reason", "granted_by", "granted_at"]
    readonly_fields = ["granted_by", "granted_at"]
    autocomplete_fields = ["city"]
    formfield_overrides = ONE_FIELD_DATETIMES | {
        models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 30})}
    }


@admin.register(Call)
class CallAdmin(OwnPages, FilteredCountOnly, admin.ModelAdmin):
    list_display = ["title", "stage", "opens_at", "closes_at", "max_request", "is_published"]
    max_request = yen_field(Call, "max_request_jpy")
    list_filter = ["stage", "is_published"]
    search_fields = ["title", "code"]
    # A list of checkboxes (eleven countries) rather than Django's two-list picker, whose
    # markup axe-core finds at fault (aria-prohibited-attr) and which needs JavaScript.
    formfield_overrides = ONE_FIELD_DATETIMES | {
        models.ManyToManyField: {"widget": forms.CheckboxSelectMultiple}
    }
    inlines = [RubricInline, ExtensionInline]
    readonly_fields = ["code"]
    fieldsets = [
        (None, {"fields": ["code", "title", "stage", "description", "is_published"]}),
        (_("Dates (UTC)"), {"fields": ["opens_at", "closes_at", "review_due", "reminder_days"]}),
        (_("Scoring"), {"fields": ["score_aggregation"]}),
        (
            _("Eligibility and money"),
            {
                "fields": [
                    "eligible_countries",
                    "max_request_jpy",
                    "envelope_jpy",
                    "max_proposals_per_city",
                ]
            },
        ),
    ]

    pages = {"proposals_call_ranking": ("<path:object_id>/ranking/", "ranking_view")}

    def ranking_view(self, request, object_id):
        """The call's proposals ranked by score: raw, normalised per reviewer or the
        consensus panel's."""
        call = self.object_or_404(request, object_id, "decide_proposal")
        by = request.GET.get("by")
        by = by if by in reports.RANKING_ORDERS else "score"
        # The call's consensus panels, and opening one.
        panel_form = PanelForm(request.POST or None, members=services.panel_candidates())
        if request.method == "POST" and panel_form.is_valid():
            services.open_panel(actor=request.user, call=call, **panel_form.cleaned_data)
            self.message_user(
                request,
                _("The panel is open: record its consensus on each proposal's Consensus page."),
                messages.SUCCESS,
            )
            return HttpResponseRedirect(request.get_full_path())
        return self.page(
            request,
            "admin/proposals/call/ranking.html",
            _("Ranking: %(call)s") % {"call": call.title},
            original=call,
            call=call,
            by=by,
            orders=[
                ("score", _("raw score")),
                ("normalised", _("normalised score")),
                ("consensus", _("consensus score")),
            ],
            rows=scoring.call_ranking(call, by=by),
            panels=call.panels.prefetch_related("members"),
            panel_form=panel_form,
        )

    def save_formset(self, request, form, formset, change):
        # An extension records who granted it.
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj.delete()
        for instance in instances:
            if isinstance(instance, DeadlineExtension):
                instance.granted_by = request.user
                self.log_change(
                    request,
                    form.instance,
                    f"Extension for {instance.city} until {instance.closes_at:%Y-%m-%d %H:%M} UTC: "
                    f"{instance.reason}",
                )
            instance.save()
        formset.save_m2m()
