from allauth.account.adapter import DefaultAccountAdapter

from . import notifications
from .models import NotificationKind


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
