"""The consultation desk: verified cities, consultants and Japanese companies ask, programme
staff answer in a thread, against a target for the first answer counted in working days."""

import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from smartjamp.uploads import DOCUMENTS, check_upload, checked_file_name

from .. import audit as audit_trail
from .. import notifications
from ..fiscal import working_days_between, working_days_overdue_before
from ..models import (
    City,
    DeskFile,
    DeskMessage,
    DeskRequest,
    DeskState,
    DeskTopic,
    NotificationKind,
    Project,
    User,
)
from ..permissions import (
    desk_cities,
    is_consultant,
    may_answer_desk,
    may_ask_desk,
    on_asking_side,
    projects_visible_to,
)
from .cities import delete_stored

DESK_FILE_TYPES = DOCUMENTS
MAX_DESK_FILES = 5  # with one request or one message


# What "overdue" means -------------------------------------------------------------------------


def awaiting_first_answer() -> Q:
    """Requests that no answer has reached yet and are still open."""
    return Q(first_answered_at=None) & ~Q(state=DeskState.CLOSED)


def overdue(now: datetime.datetime | None = None) -> Q:
    """Requests awaiting their first answer for more than the target's working days at `now`
    (settings.DESK_FIRST_ANSWER_WORKING_DAYS): the filter of the desk, the admin and the
    reminder, the same rule as is_overdue."""
    return awaiting_first_answer() & Q(created_at__lt=working_days_overdue_before(now))


def is_overdue(desk_request: DeskRequest, now: datetime.datetime | None = None) -> bool:
    """One request's side of `overdue`: no first answer, not closed, and older than the
    target in working days."""
    now = now or timezone.now()
    return (
        desk_request.first_answered_at is None
        and desk_request.state != DeskState.CLOSED
        and working_days_between(desk_request.created_at, now)
        > settings.DESK_FIRST_ANSWER_WORKING_DAYS
    )


def age_in_working_days(desk_request: DeskRequest, now: datetime.datetime | None = None) -> int:
    """A request's age against the target: working days until its first answer, or until
    `now` while it has none."""
    end = desk_request.first_answered_at or now or timezone.now()
    return working_days_between(desk_request.created_at, end)


# Changes ---------------------------------------------------------------------------------------


def _checked(uploads) -> list[tuple[UploadedFile, str]]:
    """Each upload with its checked type, before anything is stored (a refusal stores none)."""
    uploads = list(uploads or [])
    if len(uploads) > MAX_DESK_FILES:
        raise ValidationError(
            _("Give at most %(count)d files at once.") % {"count": MAX_DESK_FILES}
        )
    return [
        (
            upload,
            check_upload(
                upload, allowed=DESK_FILE_TYPES, max_bytes=settings.UPLOAD_HARD_LIMIT_BYTES
            ),
        )
        for upload in uploads
    ]


def _store(checked, *, desk_request, message, user, stored: list[str]) -> list[DeskFile]:
    files = []
    for upload, content_type in checked:
        desk_file = DeskFile(
            request=desk_request,
            message=message,
            name=checked_file_name(upload.name, content_type),
            content_type=content_type,
            size=upload.size,
            uploaded_by=user,
        )
        desk_file.file.save("upload", upload, save=False)
        stored.append(desk_file.file.name)
        desk_file.save()
        files.append(desk_file)
    return files


def _audit(actor: User, action: str, desk_request: DeskRequest, **details) -> None:
    audit_trail.record(
        actor=actor,
        action=action,
        city=desk_request.city,
        target=f"desk {desk_request.code}",
        desk_request=desk_request.code,
        **details,
    )


def _text(value: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(message)
    return value


def open_request(
    *,
    user: User,
    topic: str,
    subject: str,
    body: str,
    city: City | None = None,
    project: Project | None = None,
    files=(),
) -> DeskRequest:
    """`user` (permissions.may_ask_desk) asks the desk: for `city` (a verified city they are a
    member of, whose members then see it too), or as a consultant or a Japanese company; linked
    to `project` if given (one they may see). The request carries the account's company.
    Programme staff are told. Files are checked by content; a refusal stores nothing."""
    if not may_ask_desk(user):
        raise PermissionDenied
    subject = _text(subject, _("Give the request a subject."))[:200]
    body = _text(body, _("Write your question."))
    if topic not in DeskTopic.values:
        raise ValidationError(_("Choose a topic."))
    if city is not None and not desk_cities(user).filter(pk=city.pk).exists():
        raise ValidationError(_("You may ask only for a verified city you are a member of."))
    if city is None and not (user.company or is_consultant(user)):
        raise ValidationError(_("Choose the city you are asking for."))
    if project is not None and not projects_visible_to(user).filter(pk=project.pk).exists():
        raise ValidationError(_("You may link only a project you can see."))
    checked = _checked(files)
    stored: list[str] = []
    try:
        with transaction.atomic():
            desk_request = DeskRequest.objects.create(
                topic=topic,
                subject=subject,
                body=body,
                requester=user,
                city=city,
                company=user.company,
                project=project,
            )
            _store(checked, desk_request=desk_request, message=None, user=user, stored=stored)
            _audit(user, "desk.opened", desk_request, topic=topic, files=len(checked))
            _tell_staff(desk_request, message=None)
    except BaseException:
        for name in stored:
            delete_stored(name)  # rolled back: nothing refers to the stored files
        raise
    return desk_request


def _locked(desk_request: DeskRequest) -> DeskRequest:
    return (
        # Only the request's row is locked: its asker and city are nullable (outer joins,
        # which PostgreSQL does not lock).
        DeskRequest.objects.select_for_update(of=("self",))
        .select_related("requester", "city")
        .get(pk=desk_request.pk)
    )


def may_follow_up(user: User, desk_request: DeskRequest) -> bool:
    """Those on the request's asking side (permissions.on_asking_side) follow up and close it."""
    if not user.is_authenticated:
        return False
    is_member = (
        desk_request.city_id is not None
        and desk_request.city.memberships.filter(user=user.pk).exists()
    )
    return on_asking_side(desk_request, user, is_member=is_member)


def _post(
    *, user: User, desk_request: DeskRequest, body: str, files, from_staff: bool
) -> tuple[DeskRequest, DeskMessage]:
    body = _text(body, _("The message is empty."))
    checked = _checked(files)
    stored: list[str] = []
    try:
        with transaction.atomic():
            current = _locked(desk_request)
            if current.state == DeskState.CLOSED:
                raise ValidationError(_("This request is closed."))
            if from_staff and not may_answer_desk(user):
                raise PermissionDenied
            if not from_staff and not may_follow_up(user, current):
                raise PermissionDenied
            message = DeskMessage.objects.create(
                request=current, author=user, from_staff=from_staff, body=body
            )
            _store(checked, desk_request=current, message=message, user=user, stored=stored)
            if from_staff:
                first = current.first_answered_at is None
                if first:
                    current.first_answered_at = message.created_at
                current.state = DeskState.ANSWERED
                current.save(update_fields=["first_answered_at", "state"])
                _audit(user, "desk.answered", current, first=first, files=len(checked))
                _tell_askers(current, message)
            else:
                current.state = DeskState.OPEN
                current.save(update_fields=["state"])
                _audit(user, "desk.followed_up", current, files=len(checked))
                _tell_staff(current, message=message)
    except BaseException:
        for name in stored:
            delete_stored(name)
        raise
    return current, message


def answer_request(*, actor: User, desk_request: DeskRequest, body: str, files=()) -> DeskMessage:
    """Programme staff answer a request (the first answer sets `first_answered_at`, which
    stops its clock); it is then answered. The asker, and a city's members, are told."""
    return _post(user=actor, desk_request=desk_request, body=body, files=files, from_staff=True)[1]


def follow_up_request(*, user: User, desk_request: DeskRequest, body: str, files=()) -> DeskMessage:
    """The asker (or a member of the request's city) writes again: the request is open again
    and programme staff are told."""
    return _post(user=user, desk_request=desk_request, body=body, files=files, from_staff=False)[1]


@transaction.atomic
def close_request(*, actor: User, desk_request: DeskRequest) -> DeskRequest:
    """The asker (or a member of the request's city) or programme staff close a request."""
    current = _locked(desk_request)
    if not (may_follow_up(actor, current) or may_answer_desk(actor)):
        raise PermissionDenied
    if current.state == DeskState.CLOSED:
        raise ValidationError(_("This request is closed already."))
    current.state, current.closed_at = DeskState.CLOSED, timezone.now()
    current.save(update_fields=["state", "closed_at"])
    _audit(actor, "desk.closed", current)
    return current


@transaction.atomic
def link_request_to_project(
    *, actor: User, desk_request: DeskRequest, project: Project | None
) -> DeskRequest:
    """Link a request to a project (None: unlink it): staff any project, the asker (or a
    member of the request's city) one they may see (permissions.projects_visible_to)."""
    current = _locked(desk_request)
    staff = may_answer_desk(actor)
    if not (staff or may_follow_up(actor, current)):
        raise PermissionDenied
    if (
        project is not None
        and not staff
        and not projects_visible_to(actor).filter(pk=project.pk).exists()
    ):
        raise ValidationError(_("You may link only a project you can see."))
    before = current.project.code if current.project_id else ""
    current.project = project
    current.save(update_fields=["project"])
    _audit(
        actor,
        "desk.project_linked",
        current,
        **{"from": before, "to": project.code if project else ""},
    )
    return current


# Who hears about what --------------------------------------------------------------------------


def _tell(people, *, kind: str, key: str, desk_request: DeskRequest, message) -> None:
    """`people` hear of `desk_request` alike (notifications.notify_each, one key each)."""
    notifications.notify_each(
        people,
        kind=kind,
        key=key,
        context={
            "desk_request": desk_request,
            "target": settings.DESK_FIRST_ANSWER_WORKING_DAYS,
            "message": message,
        },
        link=desk_request.get_absolute_url(),
    )


def _tell_staff(desk_request: DeskRequest, *, message: DeskMessage | None) -> None:
    """A request opened (`message` None) or followed up: programme staff answer it."""
    key = f"desk-followed-up:{message.pk}" if message else f"desk-opened:{desk_request.pk}"
    _tell(
        notifications.programme_staff(),
        kind=NotificationKind.DESK_OPENED,
        key=key,
        desk_request=desk_request,
        message=message,
    )


def _tell_askers(desk_request: DeskRequest, message: DeskMessage) -> None:
    """An answer: the asking side (permissions.on_asking_side): a city's members, or the
    account that asked for no city."""
    if desk_request.city_id is not None:
        people = {person.pk: person for person in notifications.city_members(desk_request.city)}
    else:
        asker = desk_request.requester
        people = {asker.pk: asker} if asker is not None and asker.is_active else {}
    people.pop(message.author_id, None)
    _tell(
        people.values(),
        kind=NotificationKind.DESK_ANSWERED,
        key=f"desk-answered:{message.pk}",
        desk_request=desk_request,
        message=message,
    )
