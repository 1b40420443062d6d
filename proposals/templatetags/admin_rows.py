"""The cached rows of our change lists (admin/base.py, CachedRowsChangeList)."""

from django import template
from django.contrib.admin.templatetags.admin_list import result_list
from django.contrib.admin.templatetags.base import InclusionAdminNode

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
