"""The admin site of the portal: Django's, signed into through the portal's own login (its
throttles and second factor), with "view on site" limited to what the reader may open, and
without building the list of every model for a sidebar that is not shown."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import path, reverse

# This module is imported while the apps load (it names the admin's AppConfig): models and
# the views that import them are imported where they are used.


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

    def login(self, request, extra_context=None):
        # Django's admin login form knows nothing of allauth's rate limits or second factors:
        # every way into the admin goes through the portal's login instead.
        from django.contrib.auth.views import redirect_to_login

        next_url = request.GET.get("next") or reverse("admin:index", current_app=self.name)
        return redirect_to_login(next_url)

    def password_change(self, request, extra_context=None):
        # The portal's own form, which asks for the current password and tells the owner.
        from django.shortcuts import redirect

        return redirect("account_change_password")

    def get_urls(self):
        # Django's "view on site" redirect (`r/<content type>/<id>/`) would resolve any
        # object's address for any admin user: a proposal's unguessable code, drafts included.
        # Ours first answers 404 unless the reader may view that object in the admin.
        return [
            path(
                "r/<int:content_type_id>/<path:object_id>/",
                self.admin_view(self.view_on_site),
                name="view_on_site",
            ),
            *super().get_urls(),
        ]

    def view_on_site(self, request, content_type_id, object_id):
        from django.contrib.contenttypes.models import ContentType
        from django.contrib.contenttypes.views import shortcut

        try:
            model = ContentType.objects.get_for_id(content_type_id).model_class()
        except ContentType.DoesNotExist:
            raise Http404 from None
        model_admin = self._registry.get(model)
        if model_admin is None:
            raise Http404
        try:
            obj = model_admin.get_queryset(request).filter(pk=object_id).first()
        except (ValueError, ValidationError):
            raise Http404 from None
        if obj is None or not model_admin.has_view_or_change_permission(request, obj):
            raise Http404
        return shortcut(request, content_type_id, object_id)


class PortalAdminConfig(AdminConfig):
    default_site = "smartjamp.admin_site.PortalAdminSite"
