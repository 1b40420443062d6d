"""Jobs that Celery beat runs: deadline reminders, review and deliverable reminders, call
announcements, the desk's overdue requests.

Each may run any number of times, in several processes at once: every notification has a key
that says which reminder of which call to which person, so a second run sends nothing twice.
"""

import datetime
import zoneinfo

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Prefetch
from django.urls import reverse
from django.utils import timezone

from .models import (
    AssignmentState,
    Call,
    City,
    CityMembership,
    Deliverable,
    DeliverableState,
    DeskRequest,
    ProjectStage,
    Proposal,
    ReviewAssignment,
    Status,
    VerificationStatus,
)
from .notifications import Kind, notify, notify_many, programme_staff
from .services.desk import age_in_working_days, overdue

JST = zoneinfo.ZoneInfo(settings.PROGRAMME_TIME_ZONE)


def _eligible_cities(call: Call):
    members = CityMembership.objects.filter(user__is_active=True).select_related("user")
    return (
        City.objects.filter(
            verification_status=VerificationStatus.VERIFIED,
            country__in=call.eligible_countries.all(),
        )
        .prefetch_related(Prefetch("memberships", queryset=members))
        .order_by("pk")
    )


@transaction.atomic
def deadline_reminders(now: datetime.datetime | None = None) -> int:
    """At each of a call's reminder offsets before a city's own deadline, remind the leads and
    editors of eligible verified cities that have a draft, or no proposal, in the call."""
    now = now or timezone.now()
    longest = datetime.timedelta(days=60)
    calls = Call.objects.published().filter(opens_at__lte=now, closes_at__gt=now - longest)
    items = []
    for call in calls:
        offsets = sorted(set(call.reminder_days))
        proposals = Proposal.objects.filter(call=call, city=OuterRef("pk"))
        cities = _eligible_cities(call).annotate(
            has_any=Exists(proposals), has_draft=Exists(proposals.filter(status=Status.DRAFT))
        )
        deadlines = call.deadlines_for(cities)
        for city in cities:
            if city.has_any and not city.has_draft:
                continue
            deadline = deadlines[city.pk]
            if now >= deadline:
                continue
            # The most urgent offset that has begun: after downtime, no burst of stale ones.
            days = next((d for d in offsets if now >= deadline - datetime.timedelta(days=d)), None)
            if days is None:
                continue
            for membership in city.memberships.all():
                items.append(
                    {
                        "kind": Kind.DEADLINE_REMINDER,
                        # The deadline is in the key: an extension starts a new series.
                        "dedup_key": (
                            f"reminder:{call.pk}:{city.pk}:{deadline:%Y%m%d%H%M}:{days}:"
                            f"{membership.user_id}"
                        ),
                        "recipient": membership.user,
                        "context": {
                            "call": call,
                            "city": city,
                            "deadline": deadline,
                            "days": days,
                            "has_draft": city.has_draft,
                        },
                        "link": reverse("call_detail", args=[call.code]),
                    }
                )
    return notify_many(items)


@transaction.atomic
def announce_open_calls(now: datetime.datetime | None = None) -> int:
    """Tell the members of verified cities of eligible countries that a call is open."""
    now = now or timezone.now()
    items = []
    for call in Call.objects.published().open_at(now):
        for city in _eligible_cities(call):
            for membership in city.memberships.all():
                items.append(
                    {
                        "kind": Kind.CALL_OPENED,
                        "dedup_key": f"call-opened:{call.pk}:{membership.user_id}",
                        "recipient": membership.user,
                        "context": {"call": call, "city": city},
                        "link": reverse("call_detail", args=[call.code]),
                    }
                )
    return notify_many(items)


REVIEW_WINDOWS = [7, 3]
DELIVERABLE_WINDOWS = [14, 7, 1]
OVERDUE_DAYS = 3


def reminder_window(days_left: int, windows: list[int]) -> str | None:
    """Which reminder is due `days_left` days before a date: the smallest of `windows` (days
    before) that has come, "overdue" from OVERDUE_DAYS after it, None in between."""
    if days_left <= -OVERDUE_DAYS:
        return "overdue"
    return next((str(days) for days in sorted(windows) if 0 <= days_left <= days), None)


@transaction.atomic
def review_reminders(now: datetime.datetime | None = None) -> int:
    """Reviews due in 7 and in 3 days, and overdue by 3 days (days counted in JST)."""
    today = timezone.localtime(now or timezone.now(), JST).date()
    pending = ReviewAssignment.objects.filter(
        state__in=[AssignmentState.AWAITING_DECLARATION, AssignmentState.ACCEPTED],
        proposal__status=Status.UNDER_REVIEW,
        due__lte=today + datetime.timedelta(days=7),
    ).select_related("reviewer", "proposal")
    sent = 0
    for assignment in pending:
        days_left = (assignment.due - today).days
        window = reminder_window(days_left, REVIEW_WINDOWS)
        if window is None:
            continue
        created = notify(
            kind=Kind.REVIEW_DUE,
            dedup_key=f"review-due:{assignment.pk}:{assignment.due:%Y%m%d}:{window}",
            recipient=assignment.reviewer,
            context={
                "assignment": assignment,
                "proposal": assignment.proposal,
                "days_left": days_left,
                "overdue": window == "overdue",
            },
            link=reverse("admin:proposals_reviewassignment_review", args=[assignment.pk]),
        )
        sent += created is not None
    return sent


@transaction.atomic
def deliverable_reminders(now: datetime.datetime | None = None) -> int:
    """Deliverables of surveys under way due in 14, 7 and 1 days (to the project's
    consultants), and overdue by 3 days (to the consultants and programme staff); days
    counted in JST."""
    today = timezone.localtime(now or timezone.now(), JST).date()
    pending = (
        Deliverable.objects.filter(
            state__in=[DeliverableState.PLANNED, DeliverableState.RETURNED],
            project__stage=ProjectStage.FORMATION_SURVEY,
            due_on__lte=today + datetime.timedelta(days=max(DELIVERABLE_WINDOWS)),
        )
        .select_related("project__proposal")
        .prefetch_related("project__consultants")
    )
    staff = list(programme_staff())
    items = []
    for deliverable in pending:
        days_left = (deliverable.due_on - today).days
        window = reminder_window(days_left, DELIVERABLE_WINDOWS)
        if window is None:
            continue
        people = list(deliverable.project.consultants.all())
        if window == "overdue":
            people += staff
        key = f"deliverable-due:{deliverable.pk}:{deliverable.due_on:%Y%m%d}:{window}"
        items += [
            {
                "kind": Kind.DELIVERABLE_DUE,
                "dedup_key": f"{key}:{person.pk}",
                "recipient": person,
                "context": {
                    "deliverable": deliverable,
                    "project": deliverable.project,
                    "proposal": deliverable.project.proposal,
                    "days_left": days_left,
                    "overdue": window == "overdue",
                },
                "link": deliverable.project.get_absolute_url(),
            }
            for person in people
        ]
    return notify_many(items)


@transaction.atomic
def desk_overdue(now: datetime.datetime | None = None) -> int:
    """Desk requests still without a first answer past the target's working days
    (services.desk.overdue): programme staff are told, once per request."""
    now = now or timezone.now()
    late = DeskRequest.objects.filter(overdue(now)).select_related("requester", "city")
    staff = list(programme_staff())
    items = []
    for desk_request in late:
        age = age_in_working_days(desk_request, now)
        items += [
            {
                "kind": Kind.DESK_OVERDUE,
                "dedup_key": f"desk-overdue:{desk_request.pk}:{person.pk}",
                "recipient": person,
                "context": {
                    "desk_request": desk_request,
                    "age": age,
                    "target": settings.DESK_FIRST_ANSWER_WORKING_DAYS,
                },
                "link": desk_request.get_absolute_url(),
            }
            for person in staff
        ]
    return notify_many(items)
