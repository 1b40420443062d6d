"""The audit trail: one writer for AuditEvent, and the receivers that feed it.

Every change, export, download, sign-in and refused access goes through `record`. The client's
address is REMOTE_ADDR. Behind a reverse proxy that is the proxy's own address, unless the
proxy passes the client's (nginx with uWSGI: `uwsgi_param REMOTE_ADDR $remote_addr`); or set
AUDIT_CLIENT_IP_HEADER to a header the proxy writes on every request (say "HTTP_X_REAL_IP",
from `proxy_set_header X-Real-IP $remote_addr`). No forwarded header is read otherwise: any
client can send one.
"""

import contextvars
import hashlib
import ipaddress
import logging

from django.conf import settings
from django.contrib import admin
from django.contrib.admin import actions as admin_actions
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db.models.signals import post_save
from django.utils.translation import gettext_lazy

from .models import AuditEvent, City, Proposal, User

security_log = logging.getLogger("smartjamp.security")

# The request being answered, set by `AuditMiddleware`: events written deep in a service or a
# signal receiver (an admin edit's LogEntry) still know where the change came from.
current_request: contextvars.ContextVar = contextvars.ContextVar("audit_request", default=None)


def client_ip(request) -> str | None:
    """The client's address as the server saw it, or None when there is no valid one."""
    if request is None:
        request = current_request.get()
    if request is None:
        return None
    header = getattr(settings, "AUDIT_CLIENT_IP_HEADER", "")
    value = request.META.get(header, "") if header else ""
    # A list of hops (X-Forwarded-For): the last is the one our proxy added; those before it
    # came from the client and could say anything.
    value = value.split(",")[-1].strip() or request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def storable(value):
    """`value` with every NUL character of its text replaced (U+FFFD): PostgreSQL stores none
    in text or JSON, and an address or a name given by anybody may hold one."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def record(
    *,
    actor,
    action: str,
    proposal=None,
    city=None,
    user=None,
    request=None,
    target: str = "",
    **details,
) -> AuditEvent:
    """Write one event: who (`actor`, None for a visitor), did what (`action`, dotted, such as
    "member.removed"), to which proposal, city or user, from where (`request`), with `details`
    (JSON-serialisable; never a password or a token). `target` names the object in text so the
    trail still reads after it is deleted; it defaults to the proposal's reference, the city's
    name or the user's email. A proposal's event is also filed under its city."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if not target:
        if proposal is not None:
            target = proposal.reference_code or proposal.code
        elif city is not None:
            target = city.name
        elif user is not None:
            target = user.email
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        proposal=proposal,
        # A proposal's events are also its city's (the id is at hand: no query).
        city_id=city.pk if city is not None else getattr(proposal, "city_id", None),
        user=user,
        target=storable(target[:200]),
        ip=client_ip(request),
        details=storable(details),
    )


# Refused access ----------------------------------------------------------------------------

# A refusal repeated (same client, status and address) within the window is logged but not
# stored again, and a client stores at most REFUSALS_STORED refusals per window: a scanner
# trying codes fills the log, not the table.
REFUSAL_WINDOW_SECONDS = 600
REFUSALS_STORED = 30


def refused(request, status: int) -> None:
    """Log a refused request (the gate's 404, a 403) as a security event, and record it."""
    user = (
        request.user if getattr(request, "user", None) and request.user.is_authenticated else None
    )
    ip = client_ip(request)
    path = request.path[:500]
    security_log.warning(
        "refused %s %s %s user=%s ip=%s", status, request.method, path, user and user.pk, ip
    )
    client = f"user:{user.pk}" if user else f"ip:{ip}"
    digest = hashlib.md5(path.encode(), usedforsecurity=False).hexdigest()
    seen = f"audit:refused:{client}:{status}:{digest}"
    if seen in cache:
        return
    cache.set(seen, 1, REFUSAL_WINDOW_SECONDS)
    budget = f"audit:refusals:{client}"
    try:
        stored = cache.incr(budget)
    except ValueError:  # the first refusal in the window
        cache.set(budget, 1, REFUSAL_WINDOW_SECONDS)
    else:
        if stored > REFUSALS_STORED:
            return
    record(
        actor=user,
        action="security.refused",
        request=request,
        status=status,
        path=path,
        method=request.method,
    )


class AuditMiddleware:
    """Makes the request known to `record` (for the client's address), and records refused
    requests: every 403, and the 404s of pages that exist (the gate's "not yours"), not those
    of addresses that match no page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(request)
        try:
            response = self.get_response(request)
            status = response.status_code
            if status == 403 or (status == 404 and getattr(request, "resolver_match", None)):
                refused(request, status)
            return response
        finally:
            current_request.reset(token)


# Sign-ins and accounts ---------------------------------------------------------------------


def _logged_in(sender, request, user, **kwargs) -> None:
    record(actor=user, action="auth.login", user=user, request=request)


def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:  # None: there was no one signed in
        record(actor=user, action="auth.logout", user=user, request=request)


def record_refused_login(action: str, request, credentials) -> AuditEvent:
    """A sign-in refused (failed, or locked out), filed under the account of the address
    typed, if any. Only the address is kept, never the password."""
    email = str(credentials.get("email") or credentials.get("username") or "")[:254]
    account = User.objects.filter(email__iexact=email).first() if email else None
    return record(actor=None, action=action, user=account, request=request, email=email)


def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django has masked the password in `credentials` already.
    record_refused_login("auth.login_failed", request, credentials)


def _account_event(action: str):
    def receiver(sender, request, user, **kwargs) -> None:
        record(actor=user, action=action, user=user, request=request)

    return receiver


def _password_reset(sender, request, user, **kwargs) -> None:
    # Reset by someone who is not signed in: the link in the account's mail is the proof.
    record(actor=None, action="account.password_reset", user=user, request=request)


def _email_event(action: str):
    def receiver(sender, request, user, email_address, **kwargs) -> None:
        record(actor=user, action=action, user=user, request=request, email=email_address.email)

    return receiver


def _email_changed(sender, request, user, from_email_address, to_email_address, **kwargs) -> None:
    record(
        actor=user,
        action="account.email_changed",
        user=user,
        request=request,
        **{
            "from": from_email_address.email if from_email_address else "",
            "to": to_email_address.email,
        },
    )


def _email_confirmed(sender, request, email_address, **kwargs) -> None:
    user = email_address.user
    record(
        actor=request.user if request and request.user.is_authenticated else None,
        action="account.email_confirmed",
        user=user,
        request=request,
        email=email_address.email,
    )


# Admin edits -------------------------------------------------------------------------------

ADMIN_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


def _record_admin_entry(entry: LogEntry) -> None:
    """One admin edit, as the admin logged it (its LogEntry): the object's type, id and name
    and the admin's description of the change; linked to the proposal, city or user it is or
    belongs to."""
    content_type = ContentType.objects.get_for_id(entry.content_type_id)
    model = content_type.model_class()
    subject = {}
    if model is not None and entry.object_id:
        obj = model._default_manager.filter(pk=entry.object_id).first()
        for name, kind in (("proposal", Proposal), ("city", City), ("user", User)):
            if isinstance(obj, kind):
                subject[name] = obj
            elif hasattr(obj, f"{name}_id"):  # a membership's city and user, say
                subject[name] = getattr(obj, name)
    record(
        actor=entry.user,
        action=ADMIN_ACTIONS.get(entry.action_flag, "admin.other"),
        target=entry.object_repr,
        model=f"{content_type.app_label}.{content_type.model}",
        object_id=str(entry.object_id),
        message=entry.get_change_message(),
        **subject,
    )


def _admin_logged(sender, instance: LogEntry, created: bool, raw=False, **kwargs) -> None:
    if created and not raw:
        _record_admin_entry(instance)


@admin.action(
    permissions=["delete"], description=gettext_lazy("Delete selected %(verbose_name_plural)s")
)
def delete_selected(modeladmin, request, queryset):
    """Django's bulk deletion, each deleted object recorded: Django logs the deletion of
    several objects with one bulk_create, which sends no post_save (one object is recorded by
    `_admin_logged`)."""
    newest = LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    response = admin_actions.delete_selected(modeladmin, request, queryset)
    if response is None:  # deleted (not the confirmation page)
        logged = list(
            LogEntry.objects.filter(pk__gt=newest, user=request.user, action_flag=DELETION)
        )
        if len(logged) > 1:
            for entry in logged:
                _record_admin_entry(entry)
    return response


def connect() -> None:
    """Connect the receivers (from the app's ready())."""
    from allauth.account import signals as account

    user_logged_in.connect(_logged_in, dispatch_uid="audit_login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit_logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit_login_failed")
    for signal, action in (
        (account.password_changed, "account.password_changed"),
        (account.password_set, "account.password_set"),
    ):
        signal.connect(_account_event(action), dispatch_uid=f"audit_{action}", weak=False)
    account.password_reset.connect(_password_reset, dispatch_uid="audit_password_reset")
    for signal, action in (
        (account.email_added, "account.email_added"),
        (account.email_removed, "account.email_removed"),
    ):
        signal.connect(_email_event(action), dispatch_uid=f"audit_{action}", weak=False)
    account.email_changed.connect(_email_changed, dispatch_uid="audit_email_changed")
    account.email_confirmed.connect(_email_confirmed, dispatch_uid="audit_email_confirmed")
    post_save.connect(_admin_logged, sender=LogEntry, dispatch_uid="audit_admin_edit")
    admin.site.add_action(delete_selected, "delete_selected")
