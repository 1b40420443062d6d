"""A city's deadline for a call, and the instant a proposal is due now: one rule each
(proposals/models/call.py's deadline_for_city, ProposalQuerySet.with_due_at), the same
wherever it is read."""

import datetime
import zoneinfo

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


def test_a_call_closing_2359_in_da_nang_reads_the_same_on_every_page_and_the_reminder(
    client, clock, danang, danang_lead, django_capture_on_commit_callbacks
):
    """Issue 17: 23:59 in Da Nang's zone is 23:59 (UTC+7), 01:59 JST the next day and 16:59
    UTC on the call page, the proposal page, My proposals and the reminder email; a reader
    in another zone sees their own time marked."""
    from django.urls import reverse

    from .factories import make_call

    closes = datetime.datetime(2026, 12, 1, 23, 59, tzinfo=zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh"))
    clock.set(closes - datetime.timedelta(days=6, hours=23))
    call = make_call(closes_at=closes, reminder_days=[7])
    proposal = make_proposal(call, danang, danang_lead, complete=False)
    expected = [
        "1 Dec 2026, 23:59</strong> Da Nang time (UTC+7)",
        "2 Dec 2026, 01:59 JST",
        "1 Dec 2026, 16:59 UTC",
    ]
    for zone, yours in (
        ("Asia/Ho_Chi_Minh", None),
        ("Europe/Paris", "1 Dec 2026, 17:59 (your time)"),
    ):
        danang_lead.time_zone = zone
        danang_lead.save()
        client.force_login(danang_lead)
        for url in (
            reverse("call_detail", args=[call.code]),
            reverse("proposal_detail", args=[proposal.code]),
            reverse("my_proposals"),
        ):
            page = " ".join(client.get(url).content.decode().split())
            for part in expected:
                assert part in page, (zone, url, part)
            if yours:
                assert yours in page, (zone, url)
            else:
                assert "your time" not in page, url
    danang_lead.time_zone = "Asia/Ho_Chi_Minh"
    danang_lead.save()
    with django_capture_on_commit_callbacks(execute=True):
        reminders.deadline_reminders()
    reminder = Notification.objects.get(
        kind=NotificationKind.DEADLINE_REMINDER, recipient=danang_lead
    )
    line = "1 Dec 2026, 23:59 Da Nang time (UTC+7) · 2 Dec 2026, 01:59 JST · 1 Dec 2026, 16:59 UTC"
    assert line in reminder.body_text
    assert line in " ".join(reminder.body_html.split())
