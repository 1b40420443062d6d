"""What every change list of ours shares."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import EmptyResultSet, PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import get_language, gettext

from smartjamp import cache_versions

from ..templatetags.smartjamp import yen


class FilteredCountOnly:
    """Change lists without Django's second COUNT: beside the count of the filtered rows, the
    admin counts every row of the table on each page ("N total"), which over all proposals
    doubles the list's counting work. The filtered count and the pagination stay."""

    show_full_result_count = False


class PlainActionCheckbox:
    """Change lists with actions, whose selection checkbox is written here with Django's
    markup (name, value, class, label) instead of through the form widget templates: Django
    renders a template per row for it, about 4 ms of a 50-row page (a sixth of the proposal
    list's time). tests/views/test_review_admin.py compares it with Django's own."""

    def action_checkbox(self, obj):
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            gettext("Select this object for an action - {}").format(obj),
        )


class CachedRowsChangeList(ChangeList):
    """A change list whose rows (Django's own, `result_list`) are a `{% cache %}` fragment of
    admin/cached_rows_change_list.html, kept until what they show changes. The count, the
    page's query, the actions, filters and pagination are built on each request.

    Why: Django renders a 50-row page cell by cell (about 10 µs a cell), which took the
    proposal and assignment lists below their floor of 15% of the benchmark's reference; a
    page served from the cache skips that and whatever `prepare_rows` reads for the rows."""

    @cached_property
    def rows_key(self) -> str | None:
        """What the rows' HTML depends on, or None to render them on each request: the
        version numbers of what they show (`CachedRows.rows_versions`) and what of it no
        number follows (`CachedRows.rows_unversioned`), the page's query itself (its
        filters, order, page, and whatever limits the rows to the reader), the columns and
        links, the query string the links keep, language and time zone."""
        admin = self.model_admin
        if not admin.rows_versions:
            return None
        try:
            query = str(self.result_list.query)
        except EmptyResultSet:  # nothing can match (`.none()`): no rows to keep
            return None
        return repr(
            (
                cache_versions.current(*admin.rows_versions),
                admin.rows_unversioned(self.result_list, self.list_display),
                query,
                self.list_display,
                self.list_display_links,
                self.preserved_filters,
                self.is_popup,
                self.to_field,
                get_language(),
                timezone.get_current_timezone_name(),
            )
        )

    def prepare_rows(self) -> None:
        """Read what only the rendered rows need (inside the cached fragment)."""


class CachedRows:
    """A model admin whose change list rows are cached (`CachedRowsChangeList`)."""

    change_list_template = "admin/cached_rows_change_list.html"
    changelist_class = CachedRowsChangeList
    # The `cache_versions` numbers that every change of what the rows show bumps.
    rows_versions: list[str] = []

    def get_changelist(self, request, **kwargs):
        return self.changelist_class

    def rows_unversioned(self, rows, list_display) -> list:
        """What the page's rows (read on each request) show that no number follows."""
        return []


def is_change_list(request) -> bool:
    """Whether `request` is for a change list (which reads only the columns it shows)."""
    match = request.resolver_match
    return bool(match and match.url_name.endswith("changelist"))


def has_perm(codename: str):
    """The `has_<name>_permission` method of an action's permission `<name>`: the user holds
    "proposals.<codename>"."""

    def check(self, request) -> bool:
        return request.user.has_perm(f"proposals.{codename}")

    return check


def yen_field(model, field: str):
    """A model admin method that shows an amount field as the pages do (¥45,000,000, in the
    reader's language: the `yen` filter), labelled and sorted as the field itself."""

    @admin.display(description=model._meta.get_field(field).verbose_name, ordering=field)
    def show(self, obj):
        return yen(getattr(obj, field))

    return show


class ReadOnlyInline:
    """An inline that shows its `fields` and changes nothing: no rows added, none deleted."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin:
    """A model admin that adds, changes and deletes nothing: its rows are a record."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def report_count(model_admin, request, message, count):
    """An action's success message for `count` rows: `message` is an `ngettext_lazy(…,
    "count")`, whose plural the count picks."""
    model_admin.message_user(request, message % {"count": count}, messages.SUCCESS)


class OwnPages:
    """A model admin with pages of its own beside Django's: `pages` maps each one's URL name
    to its route and the name of its view method."""

    pages: dict[str, tuple[str, str]] = {}

    def get_urls(self):
        own = [
            path(route, self.admin_site.admin_view(getattr(self, view)), name=name)
            for name, (route, view) in self.pages.items()
        ]
        return own + super().get_urls()

    def object_or_404(self, request, object_id, permission, queryset=None):
        """The object of a page (of `queryset`, or the admin's), for a user with `permission`
        ("proposals.<permission>"): 403 without it, 404 when there is no such object."""
        if not request.user.has_perm(f"proposals.{permission}"):
            raise PermissionDenied
        queryset = self.get_queryset(request) if queryset is None else queryset
        found = queryset.filter(pk=object_id).first() if object_id.isdigit() else None
        if found is None:
            raise Http404
        return found

    def page(self, request, template, title, **context):
        """A page of ours in the admin's frame."""
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.model._meta,
                **context,
            },
        )

    def action_page(self, request, title, **context):
        """The page of an action that asks for a form before applying it to the selected rows
        (they stay selected through `action_checkbox_name`): admin/action_form.html, with
        `action`, `intro`, `submit`, `rows` and `form`."""
        return self.page(
            request,
            "admin/action_form.html",
            title,
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            **context,
        )
