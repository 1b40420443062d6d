"""A city's deadline for a call, and the instant a proposal is due now: one rule each
(proposals/models/call.py's deadline_for_city, ProposalQuerySet.with_due_at), the same
wherever it is read."""

import datetime

import pytest

from proposals import reminders, services
from proposals.models import Call, DeadlineExtension, Notification, NotificationKind, Proposal

from .factories import make_proposal

pytestmark = pytest.mark.django_db


def extend(call, city, by, **delta):
    return DeadlineExtension.objects.create(
        call=call,
        city=city,
        closes_at=call.closes_at + datetime.timedelta(**delta),
        reason="Flood",
        granted_by=by,
    )


def every_reading(call, city) -> list[datetime.datetime]:
    """The city's deadline as each of the rule's readers gives it."""
    return [
        call.deadline_for(city),
        call.deadlines_for([city])[city.pk],
        Call.objects.with_deadline_for(city.pk).get(pk=call.pk).deadline,
    ]


def test_a_citys_deadline_is_its_extension_and_the_others_the_calls_close(
    call, danang, cebu, staff
):
    extended = extend(call, danang, staff, days=3).closes_at
    assert every_reading(call, danang) == [extended] * 3
    assert every_reading(call, cebu) == [call.closes_at] * 3
    assert call.deadlines_for([danang, cebu]) == {danang.pk: extended, cebu.pk: call.closes_at}


def test_a_deadline_is_never_before_the_calls_close(call, danang, staff):
    extend(call, danang, staff, days=1)
    call.closes_at += datetime.timedelta(days=5)  # staff move the close past the extension
    call.save()
    assert every_reading(call, danang) == [call.closes_at] * 3


def test_reminders_count_down_to_the_close_when_it_passed_the_extension(
    clock, call, danang, danang_lead, staff, django_capture_on_commit_callbacks
):
    extend(call, danang, staff, days=1)
    call.closes_at += datetime.timedelta(days=5)
    call.save()
    # Within a day of the extension, but six days before the close that counts.
    clock.set(call.closes_at - datetime.timedelta(days=6))
    with django_capture_on_commit_callbacks(execute=True):
        reminders.deadline_reminders()
    keys = Notification.objects.filter(
        kind=NotificationKind.DEADLINE_REMINDER, recipient=danang_lead
    ).values_list("dedup_key", flat=True)
    assert [key.split(":")[3:5] for key in keys] == [[f"{call.closes_at:%Y%m%d%H%M}", "7"]]


def test_a_proposal_is_due_at_its_citys_deadline_until_staff_ask_for_a_revision(
    call, danang, danang_lead, staff
):
    extended = extend(call, danang, staff, days=3).closes_at
    proposal = make_proposal(call, danang, danang_lead)
    assert proposal.get_due_at() == extended
    services.submit_proposal(user=danang_lead, proposal=proposal)
    services.screen_proposal(actor=staff, proposal=Proposal.objects.get(pk=proposal.pk))
    resubmit_by = call.closes_at + datetime.timedelta(days=20)
    services.request_revision(
        actor=staff, proposal=Proposal.objects.get(pk=proposal.pk), message="Fix", due=resubmit_by
    )
    assert proposal.get_due_at() == resubmit_by
    assert Proposal.objects.with_due_at().get(pk=proposal.pk).due_at == resubmit_by
