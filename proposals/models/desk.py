"""The consultation desk (SPEC.md, "After selection", stage 3): verified cities, consultants
and Japanese companies ask; programme staff answer in a thread, against a target time for the
first answer counted in Japanese working days (settings.DESK_FIRST_ANSWER_WORKING_DAYS)."""

import uuid

from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from smartjamp.uploads import EXTENSIONS

from .geo import City, new_code
from .project import Project
from .user import user_link


class DeskTopic(models.TextChoices):
    FINANCING = "financing", _("Financing")
    TECHNOLOGY = "technology", _("Technology")
    REGULATION = "regulation", _("Regulation")
    PARTNER_MATCHING = "partner_matching", _("Partner matching")
    OTHER = "other", _("Other")


class DeskState(models.TextChoices):
    OPEN = "open", _("Open")
    ANSWERED = "answered", _("Answered")
    CLOSED = "closed", _("Closed")


class DeskRequest(models.Model):
    """One question to the desk and its thread (DeskMessage), asked by `requester` for a city
    (whose members then see it too), for a Japanese company, or as a project's consultant."""

    code = models.CharField(_("code"), max_length=12, unique=True, default=new_code)
    topic = models.CharField(_("topic"), max_length=20, choices=DeskTopic.choices)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("question"))
    requester = user_link(_("asked by"), related_name="desk_requests")
    city = models.ForeignKey(
        City,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="desk_requests",
        verbose_name=_("city"),
    )
    company = models.CharField(_("Japanese company"), max_length=200, blank=True)
    project = models.ForeignKey(
        Project,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="desk_requests",
        verbose_name=_("project"),
    )
    state = models.CharField(
        _("state"), max_length=20, choices=DeskState.choices, default=DeskState.OPEN
    )
    created_at = models.DateTimeField(_("opened"), auto_now_add=True, db_index=True)
    first_answered_at = models.DateTimeField(_("first answered"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("desk request")
        verbose_name_plural = _("desk requests")

    def __str__(self) -> str:
        return f"{self.subject} ({self.code})"

    def get_absolute_url(self) -> str:
        return reverse("desk_request", args=[self.code])


class DeskMessage(models.Model):
    """One message of a request's thread: an answer from staff or a follow-up of the asker's."""

    request = models.ForeignKey(
        DeskRequest, on_delete=models.CASCADE, related_name="messages", verbose_name=_("request")
    )
    author = user_link(_("by"))
    from_staff = models.BooleanField(_("from programme staff"), default=False)
    body = models.TextField(_("message"))
    created_at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("desk message")
        verbose_name_plural = _("desk messages")

    def __str__(self) -> str:
        return f"{self.request.code} · {self.created_at:%Y-%m-%d}"


def desk_upload_to(instance: "DeskFile", filename: str) -> str:
    # A random name with the extension of the checked content, never the uploader's.
    return f"desk/{uuid.uuid4().hex}.{EXTENSIONS[instance.content_type][0]}"


class DeskFile(models.Model):
    """A file given with a request or with one of its messages, checked by content."""

    request = models.ForeignKey(
        DeskRequest, on_delete=models.CASCADE, related_name="files", verbose_name=_("request")
    )
    message = models.ForeignKey(
        DeskMessage,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="files",
        verbose_name=_("message"),
    )
    code = models.CharField(
        max_length=16, unique=True, default=new_code, editable=False, verbose_name=_("code")
    )
    file = models.FileField(_("file"), upload_to=desk_upload_to)
    name = models.CharField(_("file name"), max_length=120)
    content_type = models.CharField(max_length=100, verbose_name=_("content type"))
    size = models.PositiveBigIntegerField(_("size"))
    uploaded_by = user_link(_("uploaded by"))
    uploaded_at = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]
        verbose_name = _("desk file")
        verbose_name_plural = _("desk files")

    def __str__(self) -> str:
        return self.name
