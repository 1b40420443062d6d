"""The facilities in the admin: staff edit their envelopes, and see what is committed on each
and in its pipeline (FacilityQuerySet.with_use, the portfolio's figures). Edits are audited
like every admin edit (audit._admin_logged)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import Facility
from ..templatetags.smartjamp import yen


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "envelope", "committed", "pipeline")
    fields = ("kind", "name", "envelope_jpy", "envelope", "committed", "pipeline")
    readonly_fields = ("envelope", "committed", "pipeline")

    def get_queryset(self, request):
        # The use in the same query as the rows (two subqueries), not one query per row.
        return super().get_queryset(request).with_use()

    def get_readonly_fields(self, request, obj=None):
        # The kind of financing a facility stands for is set when it is added.
        return ("kind", *self.readonly_fields) if obj else self.readonly_fields

    @admin.display(description=_("envelope"), ordering="envelope_jpy")
    def envelope(self, obj):
        return yen(obj.envelope_jpy)

    @admin.display(description=_("committed"))
    def committed(self, obj):
        return yen(getattr(obj, "committed_jpy", None))

    @admin.display(description=_("in the pipeline"))
    def pipeline(self, obj):
        return yen(getattr(obj, "pipeline_jpy", None))
