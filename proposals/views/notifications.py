from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from ..models import Notification
from ..permissions import get_notification_for_user


@login_required
def notification_list(request):
    """What the portal has emailed to the signed-in user, newest first."""
    notifications = Notification.objects.filter(recipient=request.user).only(
        "kind", "subject", "link", "state", "created_at", "sent_at"
    )
    page = Paginator(notifications, 50).get_page(request.GET.get("page"))
    return render(request, "proposals/notifications.html", {"page": page})


@login_required
def notification_detail(request, pk):
    """One email as it was sent: its plain text, which holds every word of the HTML one (the
    HTML is not shown: it was written for mail clients, not for the portal's page)."""
    notification = get_notification_for_user(request.user, pk)
    return render(request, "proposals/notification.html", {"notification": notification})
