"""The outbox: every email the portal sends, as a row, handed to Celery after commit.

`notify` renders a notification in the recipient's language and time zone and writes it in the
caller's transaction; once that commits, `enqueue` hands its id to Celery. `deliver` (run by
the worker) claims the row when it is due, sends it and records the outcome; the task owns
its retries, and `sweep` (run by beat) hands again only what nobody else will: queued rows
that waited, retries whose task was lost, rows whose worker died while sending. So nothing is
lost when the broker or a worker is down, and the de-duplication key makes sure nothing is
created, and so sent, twice. The one window that can still send twice: see `deliver`.
"""

import datetime
import logging
import random
import re
import smtplib
import socket
import time
import uuid
import zoneinfo

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends import smtp
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.template import Context, engines
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.module_loading import import_string

from .models import CityMembership, Notification, NotificationKind, NotificationState, User
from .roles import PROGRAMME_STAFF

logger = logging.getLogger(__name__)

Kind = NotificationKind
State = NotificationState
ACCOUNT_BODY_REMOVED = "(removed after sending: account emails hold one-time keys)"


def absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _one_line(text: str) -> str:
    # A line break in a typed value must never reach a mail header.
    return " ".join(text.split())[:255]


def render(kind: str, context: dict, *, language: str, time_zone: str) -> tuple[str, str, str]:
    """(subject, text, html) of `kind`, in `language`, with times in `time_zone`."""
    try:
        zone = zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = datetime.UTC
    with translation.override(language), timezone.override(zone):
        # No request: the language the email is written in is given to <html lang> here.
        context = {
            **context,
            "site_url": settings.SITE_URL,
            "kind": kind,
            "LANGUAGE_CODE": language,
        }
        # Plain text is not HTML: no entities there (values are defanged with |inert instead).
        subject = _plain(f"emails/{kind}/subject.txt", context)
        text = _plain(f"emails/{kind}/body.txt", context)
        html = render_to_string(f"emails/{kind}/body.html", context)
    return _one_line(subject), text, html


def _plain(template_name: str, context: dict) -> str:
    template = engines["django"].engine.get_template(template_name)
    return template.render(Context(context, autoescape=False))


def notify(
    *,
    kind: str,
    dedup_key: str,
    recipient: User | None = None,
    email: str | None = None,
    context: dict | None = None,
    link: str = "",
) -> Notification | None:
    """Write a notification in the current transaction; Celery gets it after commit.

    Returns None when the same notification exists already (its de-duplication key) or the
    recipient opted out of this kind.
    """
    if not _wanted(kind, recipient) or Notification.objects.filter(dedup_key=dedup_key).exists():
        return None
    return _queue(_rendered(kind, dedup_key, recipient, email, context, link))


def _wanted(kind: str, recipient: User | None) -> bool:
    """Whether `recipient` (None: an address without an account) is to get `kind`: not when
    their account is inactive, nor a call's announcement when they opted out."""
    if recipient is None:
        return True
    return recipient.is_active and (kind != Kind.CALL_OPENED or recipient.notify_calls)


def _rendered(kind, dedup_key, recipient, email=None, context=None, link="") -> Notification:
    """The notification, rendered in the recipient's language and time zone (unsaved)."""
    language = recipient.language if recipient else settings.LANGUAGE_CODE
    time_zone = recipient.time_zone if recipient else "UTC"
    context = {**(context or {}), "recipient": recipient, "link": absolute(link) if link else ""}
    subject, text, html = render(kind, context, language=language, time_zone=time_zone)
    return Notification(
        recipient=recipient,
        email=email or recipient.email,
        kind=kind,
        language=language,
        subject=subject,
        body_text=text,
        body_html=html,
        dedup_key=dedup_key,
        link=link,
    )


def queue_rendered(
    *, kind: str, email: str, subject: str, text: str, html: str = ""
) -> Notification:
    """Queue an email rendered elsewhere (allauth's account emails)."""
    recipient = User.objects.filter(email__iexact=email).first()
    return _queue(
        Notification(
            recipient=recipient,
            email=email,
            kind=kind,
            language=translation.get_language() or settings.LANGUAGE_CODE,
            subject=_one_line(subject),
            body_text=text,
            body_html=html,
            dedup_key=f"{kind}:{uuid.uuid4().hex}",
        )
    )


def _queue(notification: Notification) -> Notification | None:
    try:
        with transaction.atomic():
            notification.save()
    except IntegrityError:  # the same notification, written at the same moment elsewhere
        return None
    transaction.on_commit(lambda: enqueue(notification.pk))
    return notification


_broker_down_until = 0.0
BROKER_BACKOFF_SECONDS = 30.0


def enqueue(notification_id: int) -> None:
    """Hand a notification to Celery; if the broker is down the sweeper will do it later.

    After one failure this process stops trying for a while, so that a request that notifies
    many people does not wait for the broker once per person.
    """
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return
    try:
        send_notification.apply_async((notification_id,), retry=False)
    except Exception:  # noqa: BLE001 - any broker failure: the row stays queued
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("Broker unreachable; notification %s waits for the sweeper", notification_id)


# Delivery (in the worker) ---------------------------------------------------------------------


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def send_notification(self, notification_id: int) -> str:
    """The worker's task: one attempt at one email; it owns the row's retry."""
    outcome, delay = deliver(notification_id)
    if outcome == Outcome.RETRY:
        raise self.retry(countdown=delay)
    return outcome


class Outcome:
    SENT = "sent"
    SKIPPED = "skipped"
    RETRY = "retry"
    FAILED = "failed"
    UNKNOWN = "unknown"


class OutcomeUnknown(smtplib.SMTPException):
    """The whole message went out but no reply to its end came: it may have been delivered."""


class _WaitsForTheEndOfData:
    """smtplib's client, waiting for the reply to the end of DATA as long as RFC 5321 allows.

    Every other reply is awaited EMAIL_TIMEOUT (20 s), but the server may take up to 10 minutes
    to accept a message (RFC 5321 4.5.3.2.6), and once the message has gone out a missing reply
    does not mean a refusal: the server may have accepted it. So this one reply is awaited
    OUTBOX_DATA_TIMEOUT_SECONDS, and a timeout or a dropped connection then raises
    OutcomeUnknown rather than an error worth a retry (which could deliver it twice).
    """

    _data_replies = None  # counts the replies inside DATA: 354, then the one to the end

    def data(self, msg):
        self._data_replies = 0
        try:
            return super().data(msg)
        finally:
            self._data_replies = None

    def getreply(self):
        if self._data_replies is None:
            return super().getreply()
        self._data_replies += 1
        if self._data_replies == 1:
            return super().getreply()
        self.sock.settimeout(settings.OUTBOX_DATA_TIMEOUT_SECONDS)
        try:
            return super().getreply()
        except smtplib.SMTPServerDisconnected as error:
            raise OutcomeUnknown(f"no reply to the end of the message: {error}") from error
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)


class _SMTP(_WaitsForTheEndOfData, smtplib.SMTP):
    pass


class _SMTPSSL(_WaitsForTheEndOfData, smtplib.SMTP_SSL):
    pass


class OutboxSMTPBackend(smtp.EmailBackend):
    """Django's SMTP backend with the wait for the end of DATA above; `deliver` uses it in place
    of Django's own."""

    @property
    def connection_class(self):
        return _SMTPSSL if self.use_ssl else _SMTP


def _mail_backend():
    if import_string(settings.EMAIL_BACKEND) is smtp.EmailBackend:
        return OutboxSMTPBackend(fail_silently=False)
    return get_connection(fail_silently=False)  # files in development, memory in tests


def _is_temporary(error: Exception) -> bool:
    """4xx replies, timeouts and broken connections are worth another try; 5xx are not."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _message in error.recipients.values()]
        return all(400 <= code < 500 for code in codes)
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return isinstance(
        error, (smtplib.SMTPServerDisconnected, socket.timeout, TimeoutError, OSError)
    )


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with jitter: base·2^(attempt-1), times 1 to 1.5, at most an hour."""
    base = settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempt - 1, 0)
    return min(base * (1 + random.random() / 2), 3600)  # noqa: S311 - jitter, not security


def deliver(notification_id: int) -> tuple[str, float]:
    """Send one notification once, if it is due. Returns (outcome, seconds until a retry).

    The row is claimed only when it is queued or its retry is due, by one conditional UPDATE, so
    a second delivery of the task, or an early one, sends nothing. The connection is opened, the
    message sent, *sent* recorded (on a fresh database connection if need be), and only then
    the connection closed: the server's reply to QUIT is not waited for with the row unsent.
    The one window that can send twice is between the server's reply to the end of the message
    and that UPDATE: a worker that dies there leaves the row in *sending*, and the sweeper
    sends it again after OUTBOX_SENDING_TIMEOUT_SECONDS. A reply to the end of the message that
    never comes is not that window: the row is marked *unknown* for staff to check, not resent.
    """
    claimed = (
        Notification.objects.waiting(timezone.now())
        .filter(pk=notification_id)
        .update(state=State.SENDING, attempts=F("attempts") + 1, claimed_at=timezone.now())
    )
    if not claimed:
        return Outcome.SKIPPED, 0  # sent already, being sent, or not due yet
    notification = Notification.objects.get(pk=notification_id)
    backend = _mail_backend()
    message = EmailMultiAlternatives(
        subject=notification.subject,
        body=notification.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.email],
        headers={"X-Smartjamp-Notification": str(notification.pk)},
        connection=backend,
    )
    if notification.body_html:
        message.attach_alternative(notification.body_html, "text/html")
    try:
        try:
            backend.open()
            message.send()  # on the open connection, which Django then leaves open
        except OutcomeUnknown as error:
            Notification.objects.filter(pk=notification.pk).update(
                state=State.UNKNOWN, last_error=_error_text(error), next_attempt_at=None
            )
            return Outcome.UNKNOWN, 0
        except Exception as error:  # noqa: BLE001 - every failure is recorded on the row
            return _record_failure(notification, error)
        _record_sent(notification)
        return Outcome.SENT, 0
    finally:
        try:
            backend.close()
        except Exception:  # noqa: BLE001 - the outcome is recorded; QUIT is a courtesy
            logger.info("Closing the mail connection failed", exc_info=True)


RECORD_SENT_PAUSES = (0.1, 0.3, 1, 2, 5, 10)  # seconds between attempts to record *sent*


def _record_sent(notification: Notification) -> None:
    """Record *sent* however the database connection fares: the server has the message, and a
    row left in *sending* is sent again by the sweeper. A dropped connection (a failover, a
    killed session) is opened anew and the UPDATE retried for about 20 s."""
    sent = {
        "state": State.SENT,
        "sent_at": timezone.now(),
        "last_error": "",
        "next_attempt_at": None,
    }
    if notification.kind == Kind.ACCOUNT:
        # Account emails carry one-time keys (password reset, verification): once delivered,
        # nobody, staff included, may read them in the outbox.
        sent.update(body_text=ACCOUNT_BODY_REMOVED, body_html="")
    for pause in (*RECORD_SENT_PAUSES, None):
        try:
            Notification.objects.filter(pk=notification.pk).update(**sent)
            return
        except (OperationalError, InterfaceError):
            if pause is None or connection.in_atomic_block:
                raise
            logger.warning("Recording notification %s as sent failed; retrying", notification.pk)
            connection.close()
            time.sleep(pause)


def _error_text(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def _record_failure(notification: Notification, error: Exception) -> tuple[str, float]:
    if _is_temporary(error) and notification.attempts < settings.OUTBOX_MAX_ATTEMPTS:
        delay = backoff_seconds(notification.attempts)
        retry_at = timezone.now() + datetime.timedelta(seconds=delay)
        outcome = Outcome.RETRY
    else:
        delay, retry_at, outcome = 0, None, Outcome.FAILED
    Notification.objects.filter(pk=notification.pk).update(
        state=State.FAILED, last_error=_error_text(error), next_attempt_at=retry_at
    )
    return outcome, delay


def sweep() -> int:
    """Hand again to Celery what should be on its way and that no task will bring: queued for
    a while, a retry due for longer than the grace period (its task was lost; a task that is
    merely waiting behind a backlog owns the retry until then), or stuck in sending (a worker
    died). Returns how many."""
    now = timezone.now()
    stuck = Notification.objects.filter(
        state=State.SENDING,
        claimed_at__lt=now - datetime.timedelta(seconds=settings.OUTBOX_SENDING_TIMEOUT_SECONDS),
    )
    stuck.filter(attempts__gte=settings.OUTBOX_MAX_ATTEMPTS).update(
        state=State.FAILED, last_error="Stuck while sending (its worker died) too often."
    )
    stuck.update(state=State.QUEUED)
    patience = datetime.timedelta(seconds=settings.OUTBOX_QUEUED_GRACE_SECONDS)
    lost_retry = Q(state=State.FAILED, next_attempt_at__lte=now - patience)
    due = Notification.objects.filter(
        Q(state=State.QUEUED, created_at__lte=now - patience)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        | lost_retry
    ).values_list("pk", flat=True)[: settings.OUTBOX_SWEEP_BATCH]
    ids = list(due)
    # Hand each again once per grace period, not at every sweep while a backlog drains; a lost
    # retry is queued anew, so that whichever task comes first sends it and the rest skip it.
    Notification.objects.filter(Q(state=State.QUEUED) | lost_retry, pk__in=ids).update(
        state=State.QUEUED, next_attempt_at=now + patience
    )
    for notification_id in ids:
        enqueue(notification_id)
    return len(ids)


def resend(notification: Notification) -> None:
    """Staff send a failed notification, or one whose outcome is unknown, again (all attempts
    anew)."""
    Notification.objects.filter(pk=notification.pk, state__in=RESENDABLE).update(
        state=State.QUEUED, attempts=0, next_attempt_at=None, last_error=""
    )
    transaction.on_commit(lambda: enqueue(notification.pk))


RESENDABLE = [State.FAILED, State.UNKNOWN]


# Who hears about what --------------------------------------------------------------------------


def city_members(city):
    return User.objects.filter(memberships__city=city, is_active=True).order_by("pk")


def programme_staff():
    """Who hears what programme staff must know: active staff accounts of the staff group (an
    account taken off staff hears nothing more, even while still in the group)."""
    return User.objects.filter(
        groups__name=PROGRAMME_STAFF, is_active=True, is_staff=True
    ).order_by("pk")


def proposal_link(proposal) -> str:
    return reverse("proposal_detail", args=[proposal.code])


def inert(value) -> str:
    """A typed value that no mail client will turn into a link: defang URLs and domains."""
    text = str(value).translate(_DOTS)
    text = re.sub(r"(?i)(https?|ftp)://", r"\1[:]//", text)
    # A dot between word characters and a top-level-domain-like run of letters (any script).
    return re.sub(r"(?<=\w)\.(?=[^\W\d_]{2,})", "[.]", text)


# Ideographic and full-width dots that some mail clients also read as the dot of a domain.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def notify_many(items: list[dict]) -> int:
    """Fan out many notifications at once (reminders, announcements): one query for the keys
    that exist, bulk inserts, and one Celery message each after commit. Returns how many."""
    keys = [item["dedup_key"] for item in items]
    existing = set()
    for start in range(0, len(keys), 1000):
        existing.update(
            Notification.objects.filter(dedup_key__in=keys[start : start + 1000]).values_list(
                "dedup_key", flat=True
            )
        )
    rows = [
        _rendered(**item)
        for item in items
        if item["dedup_key"] not in existing and _wanted(item["kind"], item["recipient"])
    ]
    ids = _insert_new(rows)
    transaction.on_commit(lambda: [enqueue(pk) for pk in ids])
    return len(ids)


def _insert_new(rows: list[Notification]) -> list[int]:
    """Insert `rows` and return the ids of those this call inserted.

    Another process may be fanning out the same reminders at the same moment: the unique key
    keeps its rows, and only ours are handed to Celery (it hands its own). In one bulk insert
    when nothing collides; row by row, each in a savepoint, when something does.
    """
    try:
        with transaction.atomic():
            Notification.objects.bulk_create(rows, batch_size=500)
        return [row.pk for row in rows]
    except IntegrityError:
        pass
    ids = []
    for row in rows:
        row.pk, row._state.adding = None, True
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:
            continue
        ids.append(row.pk)
    return ids


# Events -------------------------------------------------------------------------------------


def notify_each(people, *, kind: str, key: str, context: dict, link: str) -> None:
    """`notify` each of `people` alike, each under `key` followed by their id."""
    for person in people:
        notify(
            kind=kind, dedup_key=f"{key}:{person.pk}", recipient=person, context=context, link=link
        )


def city_decided(city) -> None:
    """City verified or rejected: tell its members."""
    kind = Kind.CITY_VERIFIED if city.is_verified else Kind.CITY_REJECTED
    stamp = city.decided_at.strftime("%Y%m%d%H%M%S%f") if city.decided_at else "0"
    notify_each(
        city_members(city),
        kind=kind,
        key=f"{kind}:{city.pk}:{stamp}",
        context={"city": city},
        link=reverse("city_detail", args=[city.code]),
    )


def join_requested(join_request) -> None:
    """A join request: tell the city's leads (or programme staff if it has none)."""
    leads = User.objects.filter(
        pk__in=CityMembership.objects.leads().filter(city=join_request.city).values("user"),
        is_active=True,
    ).order_by("pk")
    notify_each(
        leads or programme_staff(),
        kind=Kind.JOIN_REQUESTED,
        key=f"join:{join_request.pk}",
        context={"join_request": join_request, "city": join_request.city},
        link=reverse("city_detail", args=[join_request.city.code]),
    )


def draft_ready(proposal) -> None:
    """An editor marked the draft ready: tell the city's leads, once per version of it."""
    leads = User.objects.filter(
        pk__in=CityMembership.objects.leads().filter(city=proposal.city).values("user"),
        is_active=True,
    ).order_by("pk")
    notify_each(
        leads,
        kind=Kind.DRAFT_READY,
        key=f"{Kind.DRAFT_READY}:{proposal.pk}:{proposal.version}",
        context={"proposal": proposal, "city": proposal.city, "by": proposal.ready_by},
        link=proposal_link(proposal),
    )


def join_answered(join_request) -> None:
    notify(
        kind=Kind.JOIN_ANSWERED,
        dedup_key=f"join-answer:{join_request.pk}",
        recipient=join_request.user,
        context={"join_request": join_request, "city": join_request.city},
        link=reverse("my_cities"),
    )


def status_changed(sender, change, **kwargs) -> None:
    """Every public status change reaches the city's members: a receipt for a submission, the
    letter for a decision, the change and its message otherwise."""
    if not change.is_public:
        return
    proposal = change.proposal
    kind = {
        "submitted": Kind.SUBMISSION_RECEIPT,
        "approved": Kind.DECISION,
        "rejected": Kind.DECISION,
    }.get(change.to_status, Kind.STATUS_CHANGED)
    notify_each(
        city_members(proposal.city),
        kind=kind,
        key=f"{kind}:{change.pk}",
        context={"proposal": proposal, "change": change},
        link=proposal_link(proposal),
    )


def message_posted(message) -> None:
    """A clarification message reaches the other side."""
    proposal = message.proposal
    readers = programme_staff() if not message.from_staff else city_members(proposal.city)
    notify_each(
        readers.exclude(pk=message.author_id),
        kind=Kind.MESSAGE,
        key=f"message:{message.pk}",
        context={"proposal": proposal, "message": message},
        link=proposal_link(proposal) + "#messages",
    )


def reviewer_assigned(assignment) -> None:
    notify(
        kind=Kind.REVIEWER_ASSIGNED,
        dedup_key=f"assigned:{assignment.pk}",
        recipient=assignment.reviewer,
        context={"assignment": assignment, "proposal": assignment.proposal},
        link=reverse("admin:proposals_reviewassignment_review", args=[assignment.pk]),
    )


def conflict_declared(assignment) -> None:
    notify_each(
        programme_staff(),
        kind=Kind.CONFLICT_DECLARED,
        key=f"conflict:{assignment.pk}",
        context={"assignment": assignment, "proposal": assignment.proposal},
        link=reverse("admin:proposals_proposal_change", args=[assignment.proposal_id]),
    )


def reviews_complete(proposal) -> None:
    notify_each(
        programme_staff(),
        kind=Kind.REVIEWS_COMPLETE,
        key=f"reviews-complete:{proposal.pk}",
        context={"proposal": proposal},
        link=reverse("admin:proposals_proposal_decision", args=[proposal.pk]),
    )


def project_created(project) -> None:
    """An approved proposal became a project: tell its city's members."""
    proposal = project.proposal
    notify_each(
        city_members(proposal.city),
        kind=Kind.PROJECT_CREATED,
        key=f"project:{project.pk}",
        context={"project": project, "proposal": proposal},
        link=project.get_absolute_url(),
    )


def project_stage_changed(change) -> None:
    """A project moved to another stage: tell its city's members, with the message."""
    project = change.project
    notify_each(
        city_members(project.proposal.city),
        kind=Kind.PROJECT_STAGE_CHANGED,
        key=f"project-stage:{change.pk}",
        context={"project": project, "proposal": project.proposal, "change": change},
        link=project.get_absolute_url(),
    )


def consultant_invited(invitation) -> None:
    """An invitation to an address with no verified account yet: sign up to join."""
    project = invitation.project
    notify(
        kind=Kind.CONSULTANT_INVITED,
        dedup_key=f"consultant-invitation:{invitation.pk}",
        email=invitation.email,
        context={"project": project, "proposal": project.proposal, "joined": False},
        link=reverse("account_signup"),
    )


def consultant_joined(project, user) -> None:
    notify(
        kind=Kind.CONSULTANT_INVITED,
        dedup_key=f"consultant-joined:{project.pk}:{user.pk}",
        recipient=user,
        context={"project": project, "proposal": project.proposal, "joined": True},
        link=project.get_absolute_url(),
    )


def deliverable_uploaded(version) -> None:
    """A deliverable uploaded: programme staff review it."""
    project = version.deliverable.project
    notify_each(
        programme_staff(),
        kind=Kind.DELIVERABLE_UPLOADED,
        key=f"deliverable-uploaded:{version.pk}",
        context={"project": project, "proposal": project.proposal, "version": version},
        link=project.get_absolute_url(),
    )


def deliverable_reviewed(version) -> None:
    """A deliverable accepted or returned with comments: its uploader and the city."""
    project = version.deliverable.project
    people = {person.pk: person for person in city_members(project.proposal.city)}
    if version.uploaded_by and version.uploaded_by.is_active:
        people[version.uploaded_by.pk] = version.uploaded_by
    notify_each(
        people.values(),
        kind=Kind.DELIVERABLE_REVIEWED,
        key=f"deliverable-reviewed:{version.pk}",
        context={"project": project, "proposal": project.proposal, "version": version},
        link=project.get_absolute_url(),
    )


def financing_changed(track, change) -> None:
    """A financing track added (`change` None) or its status changed: tell the city."""
    project = track.project
    key = f"financing:{track.pk}:{change.pk if change else 'added'}"
    notify_each(
        city_members(project.proposal.city),
        kind=Kind.FINANCING_CHANGED,
        key=key,
        context={
            "project": project,
            "proposal": project.proposal,
            "track": track,
            "change": change,
        },
        link=project.get_absolute_url(),
    )
