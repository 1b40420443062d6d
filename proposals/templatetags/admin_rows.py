"""The rows of our change lists: cached (admin/base.py, CachedRowsChangeList), and labelled
for phones."""

from django import template
from django.contrib.admin.templatetags.admin_list import result_list
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import capfirst

register = template.Library()


def prepared_result_list(cl):
    """Django's `result_list`, after what only the rows need is read (`prepare_rows`):
    inside the rows' cached fragment, so a page served from the cache reads none of it."""
    cl.prepare_rows()
    return result_list(cl)


@register.tag(name="prepared_result_list")
def prepared_result_list_tag(parser, token):
    return InclusionAdminNode(
        parser,
        token,
        func=prepared_result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )


@register.simple_tag
def labelled_cells(result, headers):
    """A change-list row's cells (Django's rendered `<td …>`/`<th …>`), each given its column's
    name as `data-label`: below 576 px the rows are cards (static/css/admin-a11y.css) that
    show each value under its name. Used by templates/admin/change_list_results.html."""
    # Each cell is Django's own safe HTML, its first three characters "<td" or "<th"; only the
    # label (escaped by format_html) goes between them and the rest.
    return mark_safe(  # noqa: S308
        "".join(
            cell[:3] + format_html(' data-label="{}"', _label(header)) + cell[3:]
            for cell, header in zip(result, headers, strict=False)
        )
    )


def _label(header) -> str:
    """A column's name; none for the actions' checkboxes (its header is a checkbox)."""
    return "" if "action-checkbox-column" in header["class_attrib"] else capfirst(header["text"])
