from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from ..models import Notification


@login_required
def notification_list(request):
    """What the portal has emailed to the signed-in user, newest first."""
    notifications = Notification.objects.filter(recipient=request.user).only(
        "kind", "subject", "link", "state", "created_at", "sent_at"
    )
    page = Paginator(notifications, 50).get_page(request.GET.get("page"))
    return render(request, "proposals/notifications.html", {"page": page})
