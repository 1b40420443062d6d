"""The admin's change list rows, built with less work per cell (same HTML as Django's).

Django's `items_for_result` recomputes for every cell what is the same for a whole column
(the empty-value text, the cell's classes, whether it links to the object) and builds each
cell with `format_html`; on a 50-row list of ten columns that was a third of the page's time
on the benchmark. `quick_items_for_result` works out the column facts once per list and
builds the cells directly; the values themselves still come from the admin's own
`lookup_field`, `display_for_field` and `display_for_value`. `tests/views/test_admin.py`
compares its output with Django's, row by row, on our lists.
"""

import datetime
import html

from django import template
from django.contrib.admin.templatetags.admin_list import (
    ResultList,
    _coerce_field_name,
    items_for_result,
    result_headers,
    result_hidden_fields,
)
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.contrib.admin.utils import (
    FieldIsAForeignKeyColumnName,
    _get_non_gfk_field,
    display_for_field,
    display_for_value,
    lookup_field,
)
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.urls import NoReverseMatch
from django.utils.safestring import SafeString

from ..admin.base import ROWS_SECONDS, CachedRows

register = template.Library()


def _escaped(value) -> str:
    """`conditional_escape` without its lazy-argument wrapper (it runs once per cell)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def _columns(cl):
    empty = cl.model_admin.get_empty_value_display()
    columns, first = [], True
    for index, name in enumerate(cl.list_display):
        if cl.list_display_links is None:
            link = False
        elif first and not cl.list_display_links:
            link = True
        else:
            link = name in cl.list_display_links
        tag = None
        if link:
            tag = "th" if first else "td"
            first = False
        columns.append(
            (name, f"field-{_coerce_field_name(name, index)}", link, tag, empty, _lookup(cl, name))
        )
    return columns


def _lookup(cl, name):
    """`lookup_field(name, obj, model_admin)` for one column, with what it finds out about the
    column (a model field, an admin method, a callable) found out once instead of per row."""
    model_admin = cl.model_admin
    try:
        field = _get_non_gfk_field(cl.model._meta, name)
    except (FieldDoesNotExist, FieldIsAForeignKeyColumnName):
        if callable(name):
            return lambda obj: (None, name, name(obj))
        if hasattr(model_admin, name) and name != "__str__":
            method = getattr(model_admin, name)
            return lambda obj: (None, method, method(obj))
        return lambda obj: lookup_field(name, obj, model_admin)
    return lambda obj: (field, None, getattr(obj, name))


def quick_items_for_result(cl, result, columns):
    for name, field_class, link, tag, empty, lookup in columns:
        classes = field_class
        try:
            f, attr, value = lookup(result)
        except ObjectDoesNotExist:
            shown = empty
        else:
            empty_here = getattr(attr, "empty_value_display", empty)
            if isinstance(value, str) and value.strip() == "":
                value = ""
            if f is None or f.auto_created:
                if name == "action_checkbox":
                    classes = "action-checkbox"
                boolean = getattr(attr, "boolean", False)
                if isinstance(attr, property) and hasattr(attr, "fget"):
                    boolean = getattr(attr.fget, "boolean", False)
                shown = display_for_value(value, empty_here, boolean)
                if isinstance(value, (datetime.date, datetime.time)):
                    classes += " nowrap"
            else:
                if isinstance(f.remote_field, models.ManyToOneRel):
                    related = getattr(result, f.name)
                    shown = empty_here if related is None else related
                else:
                    shown = display_for_field(value, f, empty_here, avoid_link=link)
                if isinstance(f, (models.DateField, models.TimeField, models.ForeignKey)):
                    classes += " nowrap"
        shown = _escaped(shown)
        if link:
            try:
                url = cl.url_for_result(result)
            except NoReverseMatch:
                inner = shown
            else:
                url = add_preserved_filters(
                    {"preserved_filters": cl.preserved_filters, "opts": cl.opts}, url
                )
                popup = ""
                if cl.is_popup:
                    opener = result.serializable_value(
                        str(cl.to_field) if cl.to_field else cl.lookup_opts.pk.attname
                    )
                    popup = f' data-popup-opener="{_escaped(opener)}"'
                inner = f'<a href="{_escaped(url)}"{popup}>{shown}</a>'
            yield SafeString(f'<{tag} class="{classes}">{inner}</{tag}>')
        else:
            yield SafeString(f'<td class="{classes}">{shown}</td>')


def quick_result_list(cl):
    """Django's `result_list`, with the rows from `quick_items_for_result` (Django's own for
    editable lists, which we do not have)."""
    headers = list(result_headers(cl))
    if cl.formset:
        rows = [
            ResultList(form, items_for_result(cl, res, form))
            for res, form in zip(cl.result_list, cl.formset.forms, strict=True)
        ]
    else:
        if isinstance(cl.result_list, CachedRows):
            pieces = cl.result_list
        else:
            columns = _columns(cl)
            # Each row's cells joined into one piece: the template writes `<tr>` + its items +
            # `</tr>`, so the page is the same, with one item to render per row instead of ten.
            pieces = ["".join(quick_items_for_result(cl, res, columns)) for res in cl.result_list]
            if getattr(cl, "rows_slot", None):
                cl.rows_slot.store((cl.result_count, pieces), seconds=ROWS_SECONDS)
        rows = [ResultList(None, [SafeString(piece)]) for piece in pieces]
    return {
        "cl": cl,
        "result_hidden_fields": list(result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": rows,
    }


@register.tag(name="quick_result_list")
def quick_result_list_tag(parser, token):
    return InclusionAdminNode(
        parser,
        token,
        func=quick_result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )
