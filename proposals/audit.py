"""The audit trail: one writer for AuditEvent, and the receivers that feed it.

Every change, export, download, sign-in and refused access goes through `record`. The client's
address is REMOTE_ADDR: behind a reverse proxy the proxy must set it (for example uWSGI's or
gunicorn's forwarded-allow-ips, or nginx's real_ip module). A forwarded header is read only
when the AUDIT_CLIENT_IP_HEADER setting names it (say "HTTP_X_REAL_IP"), because any client
can send one.
"""

import ipaddress
import logging

from django.conf import settings

from .models import AuditEvent

security_log = logging.getLogger("smartjamp.security")


def client_ip(request) -> str | None:
    """The client's address as the server saw it, or None when there is no valid one."""
    if request is None:
        return None
    header = getattr(settings, "AUDIT_CLIENT_IP_HEADER", "")
    value = request.META.get(header, "") if header else ""
    # A forwarded header may list several hops: the first is the client.
    value = value.split(",")[0].strip() or request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


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
    name or the user's email."""
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
        city=city,
        user=user,
        target=target[:200],
        ip=client_ip(request),
        details=details,
    )
