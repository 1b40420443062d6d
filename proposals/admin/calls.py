from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from .. import scoring
from ..models import (
    Call,
    DeadlineExtension,
    RubricCriterion,
)
from .base import FilteredCountOnly


class RubricInline(admin.TabularInline):
    model = RubricCriterion
    extra = 1
    fields = ["position", "name", "description", "weight"]


class ExtensionInline(admin.TabularInline):
    model = DeadlineExtension
    extra = 0
    fields = ["city", "closes_at", "reason", "granted_by", "granted_at"]
    readonly_fields = ["granted_by", "granted_at"]
    autocomplete_fields = ["city"]


@admin.register(Call)
class CallAdmin(FilteredCountOnly, admin.ModelAdmin):
    list_display = ["title", "stage", "opens_at", "closes_at", "max_request_jpy", "is_published"]
    list_filter = ["stage", "is_published"]
    search_fields = ["title", "code"]
    filter_horizontal = ["eligible_countries"]
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

    def get_urls(self):
        return [
            path(
                "<path:object_id>/ranking/",
                self.admin_site.admin_view(self.ranking_view),
                name="proposals_call_ranking",
            ),
            *super().get_urls(),
        ]

    def ranking_view(self, request, object_id):
        """The call's proposals ranked by score, raw or normalised per reviewer."""
        if not request.user.has_perm("proposals.decide_proposal"):
            raise PermissionDenied
        call = (
            self.get_queryset(request).filter(pk=object_id).first() if object_id.isdigit() else None
        )
        if call is None:
            raise Http404
        by = "normalised" if request.GET.get("by") == "normalised" else "score"
        return TemplateResponse(
            request,
            "admin/proposals/call/ranking.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": call,
                "title": _("Ranking: %(call)s") % {"call": call.title},
                "call": call,
                "by": by,
                "rows": scoring.call_ranking(call, by=by),
            },
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
