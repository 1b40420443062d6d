import datetime

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .fiscal import JST, fiscal_year_bounds
from .models import AscnStatus, Call, Country, FocusArea, Proposal, Sector, Status


class ProposalFilter(django_filters.FilterSet):
    """The filters shared by the staff dashboard and every export."""

    call = django_filters.ModelChoiceFilter(label=_("Call"), queryset=Call.objects.all())
    country = django_filters.ModelChoiceFilter(
        label=_("Country"),
        field_name="city__country",
        queryset=Country.objects.filter(asean_member=True),
    )
    status = django_filters.MultipleChoiceFilter(
        label=_("Status"), choices=Status.choices, widget=forms.CheckboxSelectMultiple
    )
    sector = django_filters.ModelChoiceFilter(
        label=_("Sector"), field_name="sectors", queryset=Sector.objects.all()
    )
    focus_area = django_filters.ModelChoiceFilter(
        label=_("Focus area"), field_name="focus_areas", queryset=FocusArea.objects.all()
    )
    ascn = django_filters.BooleanFilter(
        label=_("ASCN member city"),
        method="filter_ascn",
        widget=forms.Select(choices=[("", _("Any")), ("true", _("Yes")), ("false", _("No"))]),
    )
    submitted_from = django_filters.DateFilter(
        label=_("Submitted from (JST)"),
        method="filter_submitted",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    submitted_to = django_filters.DateFilter(
        label=_("Submitted until (JST)"),
        method="filter_submitted",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    fiscal_year = django_filters.NumberFilter(
        label=_("Japanese fiscal year"),
        method="filter_fiscal_year",
        min_value=2000,
        max_value=2100,
        help_text=_("April to March: 2026 is 1 April 2026 to 31 March 2027 (JST)."),
    )
    # The score as each proposal's call combines its reviews (mean or median).
    score_min = django_filters.NumberFilter(label=_("Score at least"), method="filter_score")
    score_max = django_filters.NumberFilter(label=_("Score at most"), method="filter_score")

    class Meta:
        model = Proposal
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Bootstrap's classes on the widgets themselves: the form renders without crispy,
        # which is costly on a page staff reload often.
        for field in self.form.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple):
                continue
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs["class"] = css

    def filter_ascn(self, queryset, name, value):
        member = ~Q(city__ascn_status=AscnStatus.NONE)
        return queryset.filter(member) if value else queryset.exclude(member)

    def filter_submitted(self, queryset, name, value):
        # Days are Japan's days, wherever the filter runs (a worker has no reader's zone).
        start = datetime.datetime.combine(value, datetime.time(), tzinfo=JST)
        if name == "submitted_from":
            return queryset.filter(submitted_at__gte=start)
        return queryset.filter(submitted_at__lt=start + datetime.timedelta(days=1))

    def filter_fiscal_year(self, queryset, name, value):
        start, end = fiscal_year_bounds(int(value))
        return queryset.filter(submitted_at__gte=start, submitted_at__lt=end)

    def filter_score(self, queryset, name, value):
        lookup = "score__gte" if name == "score_min" else "score__lte"
        # By id: the scores' annotations would otherwise join the dashboard's GROUP BY.
        scored = Proposal.objects.with_scores().filter(**{lookup: value}).values("pk")
        return queryset.filter(pk__in=scored)


def filtered_proposals(data):
    """(the filter set, the proposals it selects); nothing when the filters are invalid."""
    filterset = ProposalFilter(data or None, queryset=Proposal.objects.all())
    if filterset.is_bound and not filterset.is_valid():
        return filterset, Proposal.objects.none()
    return filterset, filterset.qs
