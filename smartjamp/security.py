"""Who may stay signed in, and how: second factors for admin users, session lifetimes, and
signed-in pages kept out of every cache.

One middleware (`SessionPolicyMiddleware`) applies the rules to every request:

- **A second factor for everyone who can reach the admin** (programme staff, reviewers,
  superusers): until the account has one (TOTP or a passkey), every page but the account
  pages sends them to set it up; a session signed in without it (e.g. one that predates the
  rule) is signed out. allauth's own login asks for the second factor of an account that has
  one, so this only closes the gaps around it.
- **Session lifetimes** (OWASP ASVS L2, 3.3): admin users at most 30 minutes idle and 12 hours
  in all; city officials at most 12 hours idle (`SESSION_*_SECONDS` settings). Activity is
  any request, an automatic save of a draft included; it is written to the session at most
  once a minute (`ACTIVITY_RESOLUTION`), not on every page.
- **Nothing typed is lost at expiry**: a form posted after the session lapsed (the draft's
  "Save draft" or its automatic save) is kept in the new, anonymous session once its CSRF
  token has been checked; after signing in again as the same person, the page that takes it
  (`take_kept_post`) gets it back, e.g. the draft form saves it.
- **Signed-in pages are never stored** by a browser or proxy (`Cache-Control: no-store`).
"""

from allauth.account.authentication import get_authentication_records
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import JsonResponse, QueryDict
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

STARTED_KEY = "smartjamp_session_started"
ACTIVITY_KEY = "smartjamp_last_activity"
SIGNED_OUT_KEY = "smartjamp_signed_out_user"  # who was signed out for inactivity
KEPT_POST_KEY = "smartjamp_kept_post"
# Activity is written at most this often (seconds): a session write a minute, not per page.
ACTIVITY_RESOLUTION = 60
# A session is stored (and its cookie kept) this long past its idle limit, so that a request
# after the lapse still finds it: this middleware then signs it out itself, says why, and keeps
# what was posted (an expired session would come back empty, as if nobody had signed in).
LAPSED_SESSION_KEPT_SECONDS = 24 * 3600
# Pages an admin user without a second factor may still open: sign-in and out, the second
# factor's own set-up, password and email management.
EXEMPT_PREFIXES = ("/accounts/", "/static/", "/healthz")


def is_admin_user(user) -> bool:
    """Whoever can reach the admin panel: programme staff, reviewers and superusers."""
    return user.is_staff or user.is_superuser


def needs_second_factor(user) -> bool:
    return is_admin_user(user)


def has_second_factor(user) -> bool:
    """The account has a TOTP device or a passkey (recovery codes alone are not a factor)."""
    return (
        Authenticator.objects.filter(user=user)
        .exclude(type=Authenticator.Type.RECOVERY_CODES)
        .exists()
    )


def session_used_second_factor(request, user) -> bool:
    return any(r.get("method") == "mfa" for r in get_authentication_records(request, user))


def lifetimes(user) -> tuple[int, int]:
    """(idle, absolute) seconds for the user's sessions."""
    if is_admin_user(user):
        return settings.SESSION_ADMIN_IDLE_SECONDS, settings.SESSION_ADMIN_ABSOLUTE_SECONDS
    return settings.SESSION_IDLE_SECONDS, settings.SESSION_ABSOLUTE_SECONDS


def _csrf_ok(request) -> bool:
    return CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {}) is None


def _keep_post(request, user_id) -> bool:
    """Keep a form posted into a lapsed session for its author to get back after signing in.
    Text fields only (files cannot be kept); only a post that passes the CSRF check."""
    if request.method != "POST" or not _csrf_ok(request):
        return False
    data = {name: values for name, values in request.POST.lists() if name != "csrfmiddlewaretoken"}
    request.session[KEPT_POST_KEY] = {"user": user_id, "path": request.path, "data": data}
    return True


def take_kept_post(request):
    """The form this user posted to this page just before their session lapsed, once; or
    None. A QueryDict, to bind a form with as if it had just been posted."""
    kept = request.session.get(KEPT_POST_KEY)
    if not kept or kept.get("user") != request.user.pk or kept.get("path") != request.path:
        return None
    del request.session[KEPT_POST_KEY]
    data = QueryDict(mutable=True)
    for name, values in kept["data"].items():
        data.setlist(name, values)
    return data


def _signed_out_response(request, message):
    if request.headers.get("X-Requested-With") == "fetch":
        # The automatic save: the page keeps the text and says what to do.
        return JsonResponse({"message": message, "signed_out": True}, status=401)
    messages.warning(request, message)
    next_url = request.path if request.method == "POST" else request.get_full_path()
    return redirect_to_login(next_url)


class SessionPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated:
            refused = self._check(request, user)
            if refused is not None:
                add_never_cache_headers(refused)
                return refused
        elif (
            request.method == "POST"
            and not request.path.startswith(EXEMPT_PREFIXES)  # the login form itself, say
            and request.session.get(SIGNED_OUT_KEY)
            and _keep_post(request, request.session[SIGNED_OUT_KEY])
        ):
            # A form sent after the session lapsed (the automatic save came first): kept.
            return _signed_out_response(request, self._lapsed_message(kept=True))
        response = self.get_response(request)
        if request.user.is_authenticated or user.is_authenticated:
            add_never_cache_headers(response)  # no-store: never kept by a browser or proxy
            self._mark_activity(request)
        return response

    @staticmethod
    def _lapsed_message(*, kept: bool) -> str:
        if kept:
            return _(
                "You were signed out after a time without activity. Sign in again to go on: "
                "what you had typed is kept and saved when you are back."
            )
        return _("You were signed out after a time without activity. Sign in again to go on.")

    def _check(self, request, user):
        now = timezone.now().timestamp()
        idle, absolute = lifetimes(user)
        session = request.session
        started = session.get(STARTED_KEY, now)
        last = session.get(ACTIVITY_KEY, now)
        if now - last > idle or now - started > absolute:
            logout(request)
            request.session[SIGNED_OUT_KEY] = user.pk
            kept = _keep_post(request, user.pk)
            return _signed_out_response(request, self._lapsed_message(kept=kept))
        if (
            needs_second_factor(user)
            and not request.path.startswith(EXEMPT_PREFIXES)
            and not session_used_second_factor(request, user)
        ):
            if has_second_factor(user):
                # Signed in without the account's second factor: sign in again with it.
                logout(request)
                return _signed_out_response(
                    request, _("Please sign in again with your second factor.")
                )
            messages.warning(
                request,
                _(
                    "Accounts that can open the admin panel need a second factor. Set up an "
                    "authenticator app or a passkey to go on."
                ),
            )
            return redirect("mfa_index")
        return None

    @staticmethod
    def _mark_activity(request) -> None:
        if not request.user.is_authenticated:
            return
        session = request.session
        now = timezone.now().timestamp()
        if now - session.get(ACTIVITY_KEY, 0) >= ACTIVITY_RESOLUTION:
            session[ACTIVITY_KEY] = now
            # The cookie and the stored session outlive the idle limit (see above).
            session.set_expiry(lifetimes(request.user)[0] + LAPSED_SESSION_KEPT_SECONDS)


@receiver(user_logged_in)
def _session_started(sender, request, user, **kwargs):
    session = request.session
    now = timezone.now().timestamp()
    session[STARTED_KEY] = session[ACTIVITY_KEY] = now
    session.set_expiry(lifetimes(user)[0] + LAPSED_SESSION_KEPT_SECONDS)
    session.pop(SIGNED_OUT_KEY, None)
    if session.get(KEPT_POST_KEY, {}).get("user") != user.pk:
        session.pop(KEPT_POST_KEY, None)  # someone else's text: not theirs to see


@receiver(mfa_signals.authenticator_added)
def _second_factor_added(sender, request, user, authenticator, **kwargs):
    if authenticator.type != Authenticator.Type.RECOVERY_CODES:
        # The person has just proved the new factor (a TOTP code, a passkey): this session
        # counts as signed in with it, as allauth's login would record.
        record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type)
    _audit_second_factor(request, user, authenticator, "mfa.added")


@receiver(mfa_signals.authenticator_removed)
def _second_factor_removed(sender, request, user, authenticator, **kwargs):
    _audit_second_factor(request, user, authenticator, "mfa.removed")


@receiver(mfa_signals.authenticator_reset)
def _second_factor_reset(sender, request, user, authenticator, **kwargs):
    _audit_second_factor(request, user, authenticator, "mfa.regenerated")


@receiver(mfa_signals.authentication_failed)
def _second_factor_failed(sender, request, user, authenticator, **kwargs):
    _audit_second_factor(request, user, authenticator, "mfa.failed")


def _audit_second_factor(request, user, authenticator, action):
    from proposals import audit

    audit.record(actor=user, action=action, user=user, request=request, factor=authenticator.type)
