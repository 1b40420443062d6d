"""The public page of selected projects (/projects/, no sign-in) and each published project's
public page (/projects/<code>/ for readers who may not open the project itself): only what
staff published (permissions.public_projects), the same for every reader.

Both are cached fragments keyed by cache_versions.PUBLIC_PROJECTS, which every change of what
they show bumps (smartjamp/cache_versions.py): a project unpublished, edited or moved on, its
proposal's title or city, a city, country or focus area renamed. Nothing of the reader's own is
inside them (no form that posts, no token, no name), so signed-in readers share them.
"""

import django_filters
from django.core.paginator import Paginator
from django.db.models import F
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from smartjamp import cache_versions
from smartjamp.uploads import checked_file_name

from ..models import Country, FocusArea, Project, ProjectStage
from ..permissions import get_public_project_or_404, public_projects

PAGE_SIZE = 24
MAX_PAGE = 10_000  # bounds the pages' cache keys


def published_years() -> list[tuple[int, str]]:
    """The years of the published projects (April to March), newest first."""
    years = (
        Project.objects.published()
        .order_by("-fiscal_year")
        .values_list("fiscal_year", flat=True)
        .distinct()
    )
    return [(year, gettext("JFY %(year)s") % {"year": year}) for year in years]


class PublicProjectFilter(django_filters.FilterSet):
    """The public list's filters: a plain GET form (codes in the address, not ids)."""

    country = django_filters.ModelChoiceFilter(
        label=_("Country"),
        field_name="proposal__city__country",
        queryset=Country.objects.filter(asean_member=True),
        empty_label=_("Any country"),
    )
    focus_area = django_filters.ModelChoiceFilter(
        label=_("Focus area"),
        field_name="proposal__focus_areas",
        queryset=FocusArea.objects.all(),
        to_field_name="code",
        empty_label=_("Any focus area"),
    )
    stage = django_filters.ChoiceFilter(
        label=_("Stage"), choices=ProjectStage.choices, empty_label=_("Any stage")
    )
    fiscal_year = django_filters.ChoiceFilter(
        label=_("Japanese fiscal year"), choices=[], empty_label=_("Any year")
    )

    class Meta:
        model = Project
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read when the form is drawn or a year is given (a callable: the cached list asks
        # for no query of its own).
        self.form.fields["fiscal_year"].choices = published_years
        for field in self.form.fields.values():
            field.widget.attrs["class"] = "form-select"

    def is_valid(self) -> bool:
        valid = super().is_valid()
        # A field in error names its message, for screen readers (the template's ids).
        for name in self.form.errors:
            if name in self.form.fields:
                attrs = self.form.fields[name].widget.attrs
                attrs["aria-describedby"] = f"{self.form[name].auto_id}_error"
                attrs["class"] += " is-invalid"
        return valid

    def chosen(self) -> dict[str, str]:
        """The valid filters chosen, as they appear in the address (for the pages' links and
        the fragment's key: bounded by what exists, whatever the address held)."""
        if not self.is_bound:
            return {}
        values = self.form.cleaned_data
        chosen = {
            "country": values["country"].pk if values.get("country") else "",
            "focus_area": values["focus_area"].code if values.get("focus_area") else "",
            "stage": values.get("stage") or "",
            "fiscal_year": values.get("fiscal_year") or "",
        }
        return {name: str(value) for name, value in chosen.items() if value}


def project_list(request):
    """The published projects, filtered and paginated. The filters and the page number are
    read here (the filters' choices asked only for what is given: none for the bare list);
    the rows, their count, their focus areas and the form's options only when the fragment is
    built (projects/public_list.html)."""
    filterset = PublicProjectFilter(request.GET or None, queryset=public_projects())
    valid = not filterset.is_bound or filterset.is_valid()
    projects = filterset.qs if valid else Project.objects.none()
    paginator = Paginator(
        projects.prefetch_related("proposal__focus_areas").order_by(
            F("published_at").desc(nulls_last=True), "-pk"
        ),
        PAGE_SIZE,
    )
    # The page number as asked (1 unless a plausible one): its page, counted, only when the
    # fragment is built; a number past the last page shows the last, as Paginator.get_page.
    asked = request.GET.get("page", "")
    number = int(asked) if asked.isdigit() and 0 < int(asked) <= MAX_PAGE else 1
    page = SimpleLazyObject(lambda: paginator.get_page(number))
    chosen = filterset.chosen() if valid else {}
    return render(
        request,
        "projects/public_list.html",
        {
            "filter": filterset,
            "page": page,
            "query": urlencode(chosen),
            "versions": cache_versions.current(cache_versions.PUBLIC_PROJECTS),
            # An invalid filter is shown with its error and not cached (its message may
            # repeat what the address held).
            "fragment": f"{urlencode(chosen)}&page={number}" if valid else None,
        },
    )


def public_project(request, code):
    """A published project's public page (project_detail's answer to readers who may not
    open the project); 404 for any other project."""
    try:
        project = get_public_project_or_404(code)
    except Http404:
        if request.user.is_authenticated:
            raise
        return not_public(request)
    return render(
        request,
        "projects/public_detail.html",
        {
            "project": project,
            "focus_areas": project.proposal.focus_areas.all(),  # read in the fragment only
            "versions": cache_versions.current(cache_versions.PUBLIC_PROJECTS),
        },
    )


def not_public(request):
    """What a visitor who is not signed in gets for a project that is not published, or does
    not exist (the same page for both): a 404 that offers to sign in, for a city's member or
    consultant following a link from an email before signing in."""
    return render(
        request,
        "projects/public_not_found.html",
        {"next_query": urlencode({"next": request.get_full_path()})},
        status=404,
    )


def project_image(request, code):
    """A published project's public image (a checked PNG or JPEG), for anybody; 404 when it
    is not published."""
    project = get_public_project_or_404(code)
    if not project.public_image or not project.public_image_type:
        raise Http404("No image.")
    return FileResponse(
        project.public_image.open("rb"),
        filename=checked_file_name(project.code, project.public_image_type),
        content_type=project.public_image_type,
    )
