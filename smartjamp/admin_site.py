"""The admin site of the portal: Django's, without building the list of every model for a
sidebar that is not shown."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class PortalAdminSite(admin.AdminSite):
    # No model sidebar beside every admin page: reviewers have one list, staff move between
    # lists from the index and the breadcrumbs, and the sidebar cost each page a listing of
    # every model (6% of the proposal list's work on the benchmark) and weight on a slow link.
    enable_nav_sidebar = False

    def each_context(self, request):
        # Every admin page's context lists every model the user may see (`available_apps`),
        # which only the navigation sidebar shows; with the sidebar off that was a permission
        # check and two URL reversals per model on each page, for nothing. The index page
        # builds its own list and is unaffected.
        request._smartjamp_no_app_list = not self.enable_nav_sidebar
        try:
            return super().each_context(request)
        finally:
            del request._smartjamp_no_app_list

    def get_app_list(self, request, app_label=None):
        if getattr(request, "_smartjamp_no_app_list", False):
            return []
        return super().get_app_list(request, app_label)


class PortalAdminConfig(AdminConfig):
    default_site = "smartjamp.admin_site.PortalAdminSite"
