from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.http import require_POST

from .. import audit
from ..forms import ProfileForm


def home(request):
    return render(request, "proposals/home.html")


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        if form.changed_data:
            audit.record(
                actor=request.user,
                action="account.profile_changed",
                user=request.user,
                request=request,
                fields=form.changed_data,
            )
        messages.success(request, _("Your profile has been saved."))
        return redirect("profile")
    return render(request, "account/profile.html", {"form": form})


@require_POST
def set_language(request):
    """The header's language switcher: Django's own set_language (the language cookie, and
    back to `next`), and for a signed-in reader their profile's language too, which their
    pages and emails follow (UserPreferencesMiddleware, notifications.render)."""
    code = request.POST.get("language", "")
    if request.user.is_authenticated and code in dict(settings.LANGUAGES):
        request.user.language = code
        request.user.save(update_fields=["language"])
    return i18n.set_language(request)
