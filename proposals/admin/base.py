"""What every change list of ours shares."""

from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.utils.html import format_html
from django.utils.translation import gettext

from ..auth import PERMISSIONS_VERSION_KEY, user_version_key
from ..cache import Slot
from ..page_cache import part_slot

# The rows of a cached page live until what they show changes; the timeout is a safety net.
ROWS_SECONDS = 600


class CachedRows(list):
    """A page of a change list as the rows' HTML, from the cache (see `RowsCachingChangeList`)."""


class RowsCachingChangeList(ChangeList):
    """A change list whose page of rows (their HTML, and the count of the filtered rows) is
    cached when its admin names what the rows depend on (`rows_depend_on`, versioned keys):
    a page served from the cache runs neither the rows' query nor their count."""

    def get_results(self, request):
        self.rows_slot = self.model_admin.rows_slot(request)
        if self.rows_slot is None or not self.rows_slot.hit:
            super().get_results(request)
            return
        result_count, rows = self.rows_slot.value
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        paginator.__dict__["count"] = result_count  # a cached_property: no COUNT query
        self.result_count = result_count
        self.show_full_result_count = self.model_admin.show_full_result_count
        self.show_admin_actions = not self.show_full_result_count
        self.full_result_count = None
        self.result_list = CachedRows(rows)
        self.can_show_all = result_count <= self.list_max_show_all
        self.multi_page = result_count > self.list_per_page
        self.paginator = paginator


class QuickListMixin:
    """Change lists that staff and reviewers open all day, without two of the admin's costs:

    - the selection checkbox of each row, which Django renders through the form widget
      templates (a fifth of a 50-row list's time on the benchmark), is written directly, with
      the same markup, name and label;
    - each cell's column facts (classes, link, empty text), which Django works out per cell, are
      worked out once per list (`quick_admin.quick_items_for_result`);
    - the count of all rows beside the filtered count (a second COUNT over every proposal on
      each page) is not shown;
    - where the admin names the versioned keys its rows depend on (`rows_depend_on`), a page
      of rows is cached per reader, query string, language and time zone until one of them,
      the reader's own row or anybody's permissions change.
    """

    show_full_result_count = False
    rows_depend_on: list[str] = []
    # The rows are built by proposals/templatetags/quick_admin.py: the same HTML with less work.
    change_list_template = "admin/quick_change_list.html"

    def action_checkbox(self, obj):
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            gettext("Select this object for an action - {}").format(obj),
        )

    def get_changelist(self, request, **kwargs):
        return RowsCachingChangeList

    def rows_slot(self, request) -> Slot | None:
        if not self.rows_depend_on or self.show_full_result_count:
            return None
        # Also the reader's own row (made superuser, say) and anybody's permissions: both
        # decide which rows and columns the reader sees.
        return part_slot(
            f"admin-rows:{self.opts.label_lower}",
            [*self.rows_depend_on, PERMISSIONS_VERSION_KEY, user_version_key(request.user.pk)],
            [request.user.pk, request.GET.urlencode()],
        )
