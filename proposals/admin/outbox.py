from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from .. import audit, notifications
from ..models import Notification, NotificationKind
from .base import FilteredCountOnly, ReadOnlyAdmin, report_count

QUEUED_AGAIN = ngettext_lazy(
    "%(count)d email queued again.", "%(count)d emails queued again.", "count"
)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin, FilteredCountOnly, admin.ModelAdmin):
    """The outbox: every email, its state and its last error; failed ones, and ones whose
    outcome is unknown (the server never answered the end of the message: check with the
    recipient first), can be resent."""

    list_display = ["created_at", "kind", "email", "subject", "state", "attempts", "sent_at"]
    list_filter = ["state", "kind"]
    list_select_related = ["recipient"]
    search_fields = ["email", "subject", "dedup_key"]
    date_hierarchy = "created_at"
    actions = ["resend_selected"]
    readonly_fields = [
        "recipient",
        "email",
        "kind",
        "language",
        "subject",
        "body_text",
        "body_html",
        "dedup_key",
        "link",
        "state",
        "attempts",
        "last_error",
        "next_attempt_at",
        "claimed_at",
        "created_at",
        "sent_at",
    ]

    # What an account email says (a password-reset link) is for superusers only, and so is
    # filtering on it: `?body_text__contains=…` would spell a reset key out letter by letter.
    SUPERUSER_FIELDS = {"body_text", "body_html", "link", "dedup_key"}

    def lookup_allowed(self, lookup, value, request=None):
        if (request is None or not request.user.is_superuser) and (
            lookup.split("__")[0] in self.SUPERUSER_FIELDS
        ):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if (
            obj is not None
            and obj.kind == NotificationKind.ACCOUNT
            and not request.user.is_superuser
        ):
            # One-time keys (password reset, verification) are for their owner only.
            fields = [f for f in fields if f not in ("body_text", "body_html")]
        return fields

    @admin.action(
        description=_("Send the selected failed or unknown emails again"), permissions=["view"]
    )
    def resend_selected(self, request, queryset):
        failed = list(queryset.filter(state__in=notifications.RESENDABLE))
        for notification in failed:
            notifications.resend(notification)
            audit.record(
                actor=request.user,
                action="notification.resent",
                user=notification.recipient,
                request=request,
                target=notification.email,
                notification=notification.pk,
            )
        report_count(self, request, QUEUED_AGAIN, len(failed))
