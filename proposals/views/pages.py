from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

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
