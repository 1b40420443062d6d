from itertools import chain

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from smartjamp import lookalikes

from . import notifications
from .audit import record_refused_login
from .models import CityInvitation, ConsultantInvitation, NotificationKind, User


class AccountAdapter(DefaultAccountAdapter):
    """Account emails (verification, password reset…) go through the outbox and Celery like
    every other email: written with the request's transaction, never sent inside it."""

    def send_mail(self, template_prefix, email, context):
        message = self.render_mail(template_prefix, email, context)
        html = next(
            (
                content
                for content, mimetype in getattr(message, "alternatives", [])
                if mimetype == "text/html"
            ),
            "",
        )
        if message.content_subtype == "html":
            text, html = "", message.body
        else:
            text = message.body
        notifications.queue_rendered(
            kind=NotificationKind.ACCOUNT,
            email=email,
            subject=message.subject,
            text=text,
            html=html,
        )

    def post_login(self, request, user, **kwargs):
        """A colleague who opened a city's invitation before signing in (or up) becomes its
        member as soon as they are signed in: the link's secret waited in the session
        (views.cities.invitation). Refused (another address, expired meanwhile), it says why
        and the sign-in goes on as usual."""
        from .services.cities import accept_invitation
        from .views.cities import INVITATION_SESSION_KEY

        response = super().post_login(request, user, **kwargs)
        token = request.session.pop(INVITATION_SESSION_KEY, None)
        if not token:
            return response
        try:
            invitation = accept_invitation(user=user, token=token)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return response
        messages.success(
            request, _("You are now a member of %(city)s.") % {"city": invitation.city.name}
        )
        return redirect("city_detail", code=invitation.city.code)

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        # allauth keys the per-account limit of failed logins by the site's domain, which
        # without django.contrib.sites is the request's Host header: five failures as
        # 127.0.0.1, five more as localhost… The limit is per account, whatever the host.
        login = credentials.get("email", credentials.get("username", ""))
        return login.strip().casefold()

    def pre_authenticate(self, request, **credentials) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except forms.ValidationError:
            # Locked out (too many failures): allauth signals nothing, the trail records it.
            record_refused_login("auth.login_locked", request, credentials)
            raise

    def clean_email(self, email: str) -> str:
        """Refuse an address that would pass for another account's (see lookalikes)."""
        email = super().clean_email(email)
        # Every account's addresses and every address invited to a project (an invitation
        # is claimed by whoever confirms its address: services.projects.claim_invitations).
        others = chain(
            User.objects.values_list("email", flat=True),
            EmailAddress.objects.values_list("email", flat=True),
            ConsultantInvitation.objects.filter(accepted_at=None).values_list("email", flat=True),
            CityInvitation.objects.usable().values_list("email", flat=True),
        )
        if lookalikes.mixes_scripts(email) or lookalikes.confusable_with(email, others):
            raise forms.ValidationError(
                _(
                    "This address looks like the address of another account (some of its "
                    "letters are look-alikes from another alphabet). Please check it, or use "
                    "another address."
                ),
                code="confusable_email",
            )
        return email


class MFAAdapter(DefaultMFAAdapter):
    def can_delete_authenticator(self, authenticator) -> bool:
        """An admin user may not remove their last second factor (recovery codes are none):
        without one, whoever knows the password would set up their own at the next sign-in.
        They add another first, or a superuser resets it (audited)."""
        from smartjamp.security import is_admin_user

        user = authenticator.user
        if not is_admin_user(user) or authenticator.type == Authenticator.Type.RECOVERY_CODES:
            return True
        others = (
            Authenticator.objects.filter(user=user)
            .exclude(pk=authenticator.pk)
            .exclude(type=Authenticator.Type.RECOVERY_CODES)
        )
        return others.exists()
