"""What every change list of ours shares."""

from django.contrib.admin import helpers
from django.utils.html import format_html
from django.utils.translation import gettext


class QuickListMixin:
    """Change lists that staff and reviewers open all day, without two of the admin's costs:

    - the selection checkbox of each row, which Django renders through the form widget
      templates (a fifth of a 50-row list's time on the benchmark), is written directly, with
      the same markup, name and label;
    - each cell's column facts (classes, link, empty text), which Django works out per cell, are
      worked out once per list (`quick_admin.quick_items_for_result`);
    - the count of all rows beside the filtered count (a second COUNT over every proposal on
      each page) is not shown.
    """

    show_full_result_count = False
    # The rows are built by proposals/templatetags/quick_admin.py: the same HTML with less work.
    change_list_template = "admin/quick_change_list.html"

    def action_checkbox(self, obj):
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            gettext("Select this object for an action - {}").format(obj),
        )
