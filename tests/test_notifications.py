import datetime
import smtplib

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from proposals import notifications, reminders, services
from proposals.models import (
    CityMembership,
    DeadlineExtension,
    Notification,
    NotificationKind,
    NotificationState,
    Status,
)

from .factories import UserFactory, make_proposal, review, under_review

pytestmark = pytest.mark.django_db

Kind = NotificationKind


def sent(kind):
    """{email: Notification} of `kind`, sorted by address."""
    return {n.email: n for n in Notification.objects.filter(kind=kind).order_by("email")}


def test_nothing_is_sent_inside_the_request_or_before_commit(
    client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(
            reverse("account_signup"),
            {
                "email": "new@example.org",
                "password1": "a long passphrase 42",
                "password2": "a long passphrase 42",
                "full_name": "New",
                "time_zone": "Asia/Tokyo",
            },
        )
    assert mail.outbox == []
    assert Notification.objects.get().state == NotificationState.QUEUED
    assert callbacks  # the hand-off to Celery (and the user cache's second forgetting)
    for callback in callbacks:
        callback()
    assert [m.to for m in mail.outbox] == [["new@example.org"]]
    assert Notification.objects.get().state == NotificationState.SENT


def test_rolled_back_event_notifies_nobody(danang, staff):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        services.verify_city(actor=staff, city=danang)
        raise RuntimeError("the event fails after the notification was written")
    assert not Notification.objects.exists()


def test_city_verified_and_rejected_tell_members_only(
    deliver, danang, danang_lead, danang_editor, cebu_lead, staff
):
    deliver(services.reject_city, actor=staff, city=danang, reason="Letter unsigned.")
    rejected = sent(Kind.CITY_REJECTED)
    assert list(rejected) == [danang_editor.email, danang_lead.email]
    assert "Letter unsigned." in rejected[danang_lead.email].body_text
    deliver(services.verify_city, actor=staff, city=danang)
    verified = sent(Kind.CITY_VERIFIED)
    assert list(verified) == [danang_editor.email, danang_lead.email]
    assert verified[danang_lead.email].subject == "Smart JAMP: Da Nang is verified"
    assert f"http://testserver/cities/{danang.code}/" in verified[danang_lead.email].body_text
    assert [m.to[0] for m in mail.outbox].count(cebu_lead.email) == 0


def test_join_request_and_answer(deliver, danang, danang_lead, danang_editor, official):
    join_request = deliver(services.request_to_join, user=official, city=danang, message="Hi")
    assert list(sent(Kind.JOIN_REQUESTED)) == [danang_lead.email]
    deliver(
        services.decide_join_request, actor=danang_lead, join_request=join_request, approve=True
    )
    answer = sent(Kind.JOIN_ANSWERED)[official.email]
    assert answer.subject == "Smart JAMP: you are now a member of Da Nang"
    assert answer.link == reverse("my_cities")


def test_status_changes_receipt_and_decision(
    deliver, call, danang, danang_lead, danang_editor, staff, reviewer
):
    proposal = make_proposal(call, danang, danang_lead)
    deliver(services.submit_proposal, user=danang_lead, proposal=proposal)
    receipts = sent(Kind.SUBMISSION_RECEIPT)
    assert list(receipts) == [danang_editor.email, danang_lead.email]
    proposal.refresh_from_db()
    assert f"under the reference {proposal.reference_code}" in receipts[danang_lead.email].body_text
    deliver(services.screen_proposal, actor=staff, proposal=proposal)
    deliver(
        services.request_revision,
        actor=staff,
        proposal=proposal,
        message="Please add a map.",
        due=datetime.datetime(2030, 1, 10, 3, 0, tzinfo=datetime.UTC),
    )
    changes = Notification.objects.filter(kind=Kind.STATUS_CHANGED, email=danang_lead.email)
    revision = changes.get(subject__contains="Revision requested")
    assert "Please add a map." in revision.body_text
    # In the city's zone first, then JST (the recipient's, Asia/Tokyo for the factory's users)
    # and UTC.
    assert (
        "Resubmit by: 10 Jan 2030, 10:00 Da Nang time (UTC+7)"
        " · 10 Jan 2030, 12:00 JST (your time) · 10 Jan 2030, 03:00 UTC"
    ) in revision.body_text


def test_decision_letter_goes_to_the_city_and_internal_notes_do_not(
    deliver, call, danang, danang_lead, staff, reviewer
):
    proposal = under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)
    review(proposal, reviewer, [4, 4], staff=staff)
    before = Notification.objects.filter(recipient=danang_lead).count()
    deliver(services.shortlist_proposal, actor=staff, proposal=proposal, note="internal")
    assert Notification.objects.filter(recipient=danang_lead).count() == before
    deliver(
        services.approve_proposal,
        actor=staff,
        proposal=proposal,
        amount=1_000_000,
        letter="Selected!",
    )
    decision = sent(Kind.DECISION)[danang_lead.email]
    assert "Selected!" in decision.body_text and "Approved" in decision.body_text
    assert reviewer.email not in decision.body_text


def test_messages_reach_the_other_side(deliver, call, danang, danang_lead, danang_editor, staff):
    proposal = make_proposal(call, danang, danang_lead, complete=False)
    deliver(services.post_message, user=danang_editor, proposal=proposal, body="When is the visit?")
    assert list(sent(Kind.MESSAGE)) == [staff.email]
    Notification.objects.all().delete()
    deliver(services.post_message, user=staff, proposal=proposal, body="In March.")
    to_city = sent(Kind.MESSAGE)
    assert list(to_city) == [danang_editor.email, danang_lead.email]
    assert "Programme staff wrote:" in to_city[danang_lead.email].body_text
    assert staff.email not in to_city[danang_lead.email].body_text


def test_reviewer_assigned_conflict_and_reviews_complete(
    deliver, call, danang, danang_lead, staff, reviewer, reviewer2
):
    proposal = under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)
    made, _ = deliver(
        services.assign_reviewers,
        actor=staff,
        proposals=[proposal],
        reviewers=[reviewer, reviewer2],
        due=datetime.date(2030, 1, 31),
    )
    assigned = sent(Kind.REVIEWER_ASSIGNED)
    assert list(assigned) == [reviewer.email, reviewer2.email]
    assert "Due: 31 Jan 2030" in assigned[reviewer.email].body_text
    deliver(
        services.declare_conflict,
        reviewer=reviewer2,
        assignment=made[1],
        conflict=True,
        reason="Adviser",
    )
    assert list(sent(Kind.CONFLICT_DECLARED)) == [staff.email]
    assert not Notification.objects.filter(kind=Kind.REVIEWS_COMPLETE).exists()
    deliver(review, proposal, reviewer, [4, 4], staff=staff)
    assert list(sent(Kind.REVIEWS_COMPLETE)) == [staff.email]


def test_deadline_reminders_at_the_offsets_to_the_right_cities(
    deliver, clock, call, danang, danang_lead, danang_editor, cebu, cebu_lead, official, staff
):
    from proposals.models import City

    hue = City.objects.create(
        country_id="VN", name="Huế", verification_status="verified", time_zone="Asia/Ho_Chi_Minh"
    )
    CityMembership.objects.create(city=hue, user=official, role="lead")
    services.submit_proposal(
        user=cebu_lead, proposal=make_proposal(call, cebu, cebu_lead)
    )  # Cebu is done
    make_proposal(call, danang, danang_lead, complete=False)  # Da Nang has a draft; Huế nothing
    clock.set(call.closes_at - datetime.timedelta(days=20))
    assert deliver(reminders.deadline_reminders) == 0
    clock.set(call.closes_at - datetime.timedelta(days=13))
    assert deliver(reminders.deadline_reminders) == 3
    assert deliver(reminders.deadline_reminders) == 0  # the same period: nothing twice
    fourteen = sent(Kind.DEADLINE_REMINDER)
    assert list(fourteen) == [danang_editor.email, danang_lead.email, official.email]
    assert fourteen[danang_lead.email].subject == f"Smart JAMP: {call.title} closes in 14 days"
    assert (
        "Your city has a draft that is not submitted yet." in fourteen[danang_lead.email].body_text
    )
    assert "Your city has no proposal in this call yet." in fourteen[official.email].body_text
    clock.set(call.closes_at - datetime.timedelta(hours=5))  # 7-day window skipped: only the 1-day
    assert deliver(reminders.deadline_reminders) == 3
    assert (
        Notification.objects.filter(
            dedup_key__regex=rf"^reminder:{call.pk}:{danang.pk}:\d+:7:"
        ).count()
        == 0
    )
    clock.set(call.closes_at + datetime.timedelta(hours=1))
    assert deliver(reminders.deadline_reminders) == 0


def test_deadline_reminders_follow_a_citys_extension(
    deliver, clock, call, danang, danang_lead, staff
):
    DeadlineExtension.objects.create(
        call=call,
        city=danang,
        closes_at=call.closes_at + datetime.timedelta(days=10),
        reason="Flood",
        granted_by=staff,
    )
    clock.set(call.closes_at - datetime.timedelta(hours=5))
    deliver(reminders.deadline_reminders)
    reminder = sent(Kind.DEADLINE_REMINDER)[danang_lead.email]
    assert reminder.subject.endswith("closes in 14 days")


def test_call_announcements_respect_the_opt_out(
    deliver, call, danang, danang_lead, danang_editor, cebu_lead
):
    danang_editor.notify_calls = False
    danang_editor.save()
    deliver(reminders.announce_open_calls)
    assert list(sent(Kind.CALL_OPENED)) == [cebu_lead.email, danang_lead.email]
    assert deliver(reminders.announce_open_calls) == 0


def test_review_due_and_overdue(deliver, clock, call, danang, danang_lead, staff, reviewer):
    proposal = under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)
    due = datetime.date(2030, 3, 20)
    services.assign_reviewers(actor=staff, proposals=[proposal], reviewers=[reviewer], due=due)
    for day in (10, 13, 14, 17, 18, 21, 23, 24):
        clock.set(datetime.datetime(2030, 3, day, 3, tzinfo=datetime.UTC))  # noon in Tokyo
        deliver(reminders.review_reminders)
    subjects = list(
        Notification.objects.filter(kind=Kind.REVIEW_DUE)
        .order_by("pk")
        .values_list("subject", flat=True)
    )
    code = proposal.reference_code
    assert subjects == [
        f"Smart JAMP: your review of {code} is due in 7 days",
        f"Smart JAMP: your review of {code} is due in 3 days",
        f"Smart JAMP: your review of {code} is overdue",
    ]


def test_notifications_page_lists_ones_own(
    assert_page_queries,
    client,
    deliver,
    danang,
    danang_lead,
    cebu_lead,
    staff,
    django_assert_num_queries,
):
    deliver(services.verify_city, actor=staff, city=danang)
    client.force_login(danang_lead)
    page = client.get(reverse("notifications")).content.decode()
    assert "Smart JAMP: Da Nang is verified" in page
    other = Client()
    other.force_login(cebu_lead)
    assert "Da Nang is verified" not in other.get(reverse("notifications")).content.decode()
    with assert_page_queries(3):  # the user, the count, the page (the session is cached)
        client.get(reverse("notifications"))
    for n in range(30):
        Notification.objects.create(
            recipient=danang_lead,
            email=danang_lead.email,
            kind="message",
            language="en",
            subject=f"S{n}",
            body_text="b",
            dedup_key=f"k{n}",
        )
    with assert_page_queries(3):
        client.get(reverse("notifications"))


def test_user_typed_values_are_escaped_inert_and_never_in_headers(deliver, staff, reference_data):
    from proposals.models import City

    lead = UserFactory(email="lead@example.org", full_name="Visit https://evil.example <b>now</b>")
    city = City.objects.create(
        country_id="VN",
        name="Hue\nBcc: victim@example.org",
        time_zone="Asia/Ho_Chi_Minh",
        registered_at=timezone.now(),
    )
    CityMembership.objects.create(city=city, user=lead, role="lead")
    deliver(services.verify_city, actor=staff, city=city)
    notification = sent(Kind.CITY_VERIFIED)[lead.email]
    assert "\n" not in notification.subject
    assert notification.subject == "Smart JAMP: Hue Bcc: victim@example[.]org is verified"
    assert "https://evil.example" not in notification.body_text
    assert "https[:]//evil[.]example" in notification.body_text
    assert (
        "<b>now</b>" not in notification.body_html
        and "&lt;b&gt;now&lt;/b&gt;" in notification.body_html
    )
    assert 'href="https' not in notification.body_html.replace(f'href="{notification.link}"', "")
    message = mail.outbox[-1]
    assert message.extra_headers == {"X-Smartjamp-Notification": str(notification.pk)}
    assert message.to == [lead.email]


def test_emails_in_the_recipients_language(deliver, danang, danang_lead, staff):
    danang_lead.language = "ja"
    danang_lead.save()
    deliver(services.verify_city, actor=staff, city=danang)
    assert sent(Kind.CITY_VERIFIED)[danang_lead.email].language == "ja"


# Delivery rules (the worker's side, run in-process here; tests/test_worker.py runs a worker).


class FlakySMTP:
    def __init__(self, errors):
        self.errors = list(errors)

    def __call__(self, *args, **kwargs):
        if self.errors:
            raise self.errors.pop(0)
        return 1


def make_notification(email="a@example.org"):
    return Notification.objects.create(
        email=email, kind="message", language="en", subject="S", body_text="B", dedup_key=email
    )


def test_deliver_twice_sends_once():
    notification = make_notification()
    assert notifications.deliver(notification.pk) == (notifications.Outcome.SENT, 0)
    assert notifications.deliver(notification.pk) == (notifications.Outcome.SKIPPED, 0)
    assert len(mail.outbox) == 1


def test_temporary_errors_retry_with_backoff_then_fail(monkeypatch, settings, clock):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    settings.OUTBOX_RETRY_BASE_SECONDS = 10
    error = smtplib.SMTPResponseException(451, b"Try again later")
    monkeypatch.setattr("django.core.mail.message.EmailMessage.send", FlakySMTP([error] * 5))
    notification = make_notification()
    now = clock.set(timezone.now())
    outcome, delay = notifications.deliver(notification.pk)
    assert outcome == notifications.Outcome.RETRY and 10 <= delay <= 15
    now = clock.set(now + datetime.timedelta(seconds=delay))
    outcome, delay = notifications.deliver(notification.pk)
    assert outcome == notifications.Outcome.RETRY and 20 <= delay <= 30
    clock.set(now + datetime.timedelta(seconds=delay))
    assert notifications.deliver(notification.pk)[0] == notifications.Outcome.FAILED
    notification.refresh_from_db()
    assert (notification.state, notification.attempts, notification.next_attempt_at) == (
        NotificationState.FAILED,
        3,
        None,
    )
    assert notification.last_error == "SMTPResponseException: (451, b'Try again later')"


def test_permanent_error_fails_at_once(monkeypatch):
    error = smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"No such user")})
    monkeypatch.setattr("django.core.mail.message.EmailMessage.send", FlakySMTP([error]))
    notification = make_notification()
    assert notifications.deliver(notification.pk)[0] == notifications.Outcome.FAILED
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == (NotificationState.FAILED, 1)


def test_timeouts_are_temporary(monkeypatch, clock):
    monkeypatch.setattr(
        "django.core.mail.message.EmailMessage.send", FlakySMTP([TimeoutError("slow")])
    )
    notification = make_notification()
    now = clock.set(timezone.now())
    outcome, delay = notifications.deliver(notification.pk)
    assert outcome == notifications.Outcome.RETRY
    clock.set(now + datetime.timedelta(seconds=delay))
    assert notifications.deliver(notification.pk)[0] == notifications.Outcome.SENT


def test_sweeper_hands_again_what_waits(monkeypatch, settings, clock):
    settings.OUTBOX_QUEUED_GRACE_SECONDS = 60
    settings.OUTBOX_SENDING_TIMEOUT_SECONDS = 300
    handed = []
    monkeypatch.setattr(notifications, "enqueue", handed.append)
    now = timezone.now()
    clock.set(now - datetime.timedelta(minutes=10))
    old_queued, stuck, retry_due, retry_later, final = (
        make_notification(f"{n}@example.org") for n in range(5)
    )
    clock.set(now)
    fresh = make_notification("fresh@example.org")
    Notification.objects.filter(pk=stuck.pk).update(
        state="sending", claimed_at=now - datetime.timedelta(minutes=6)
    )
    Notification.objects.filter(pk=retry_due.pk).update(
        state="failed",
        next_attempt_at=now - datetime.timedelta(seconds=61),  # its task lost
    )
    Notification.objects.filter(pk=retry_later.pk).update(
        state="failed", next_attempt_at=now + datetime.timedelta(minutes=1)
    )
    Notification.objects.filter(pk=final.pk).update(state="failed", next_attempt_at=None)
    assert notifications.sweep() == 3
    assert sorted(handed) == sorted([old_queued.pk, stuck.pk, retry_due.pk])
    assert fresh.pk not in handed


def test_broker_down_keeps_the_row_queued(monkeypatch):
    from proposals import tasks

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.send_notification, "apply_async", refuse)
    notification = make_notification()
    notifications.enqueue(notification.pk)
    notification.refresh_from_db()
    assert notification.state == NotificationState.QUEUED


def test_staff_resend_failed_rows_from_the_outbox_admin(
    client, staff, django_capture_on_commit_callbacks
):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    notification = make_notification()
    Notification.objects.filter(pk=notification.pk).update(
        state="failed", attempts=6, last_error="550"
    )
    client.force_login(staff)
    listing = client.get(
        reverse("admin:proposals_notification_changelist"),
        {"state__exact": "failed", "kind__exact": "message"},
    )
    assert list(listing.context["cl"].result_list) == [notification]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:proposals_notification_changelist"),
            {"action": "resend_selected", ACTION_CHECKBOX_NAME: [notification.pk]},
        )
    notification.refresh_from_db()
    assert (notification.state, notification.attempts) == (NotificationState.SENT, 1)


def test_status_after_submission_is_recorded_for_every_change(
    deliver, call, danang, danang_lead, staff
):
    proposal = make_proposal(call, danang, danang_lead)
    deliver(services.submit_proposal, user=danang_lead, proposal=proposal)
    deliver(services.withdraw_proposal, user=danang_lead, proposal=proposal, reason="Merged")
    withdrawn = Notification.objects.get(kind=Kind.STATUS_CHANGED, email=danang_lead.email)
    assert "Withdrawn" in withdrawn.subject and "Merged" in withdrawn.body_text
    proposal.refresh_from_db()
    assert proposal.status == Status.WITHDRAWN


# Fixes after review.


def test_account_email_keys_are_not_kept_or_shown(
    client, staff, deliver, django_capture_on_commit_callbacks
):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME  # noqa: F401

    UserFactory(email="root@example.org", is_superuser=True, is_staff=True)
    with django_capture_on_commit_callbacks(execute=False):
        Client().post(reverse("account_reset_password"), {"email": "root@example.org"})
    queued = Notification.objects.get(kind=Kind.ACCOUNT)
    assert "/accounts/password/reset/key/" in queued.body_text
    client.force_login(staff)
    page = client.get(
        reverse("admin:proposals_notification_change", args=[queued.pk])
    ).content.decode()
    assert "/accounts/password/reset/key/" not in page
    notifications.deliver(queued.pk)
    queued.refresh_from_db()
    assert queued.body_text == notifications.ACCOUNT_BODY_REMOVED
    assert "/accounts/password/reset/key/" in mail.outbox[-1].body


def test_join_request_goes_to_this_citys_leads_only(
    deliver, danang, danang_lead, danang_editor, cebu, official
):
    CityMembership.objects.create(city=cebu, user=danang_editor, role="lead")  # leads elsewhere
    deliver(services.request_to_join, user=official, city=danang)
    assert list(sent(Kind.JOIN_REQUESTED)) == [danang_lead.email]


def test_after_a_broker_failure_the_process_stops_trying_for_a_while(monkeypatch):
    from proposals import tasks

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.send_notification, "apply_async", refuse)
    for n in range(5):
        notifications.enqueue(make_notification(f"{n}@example.org").pk)
    assert len(calls) == 1
    assert Notification.objects.filter(state=NotificationState.QUEUED).count() == 5


def test_an_extension_starts_a_new_series_of_reminders(
    deliver, clock, call, danang, danang_lead, staff
):
    clock.set(call.closes_at - datetime.timedelta(hours=5))
    deliver(reminders.deadline_reminders)
    DeadlineExtension.objects.create(
        call=call,
        city=danang,
        closes_at=call.closes_at + datetime.timedelta(days=3),
        reason="Typhoon",
        granted_by=staff,
    )
    clock.set(call.closes_at + datetime.timedelta(days=3) - datetime.timedelta(hours=5))
    deliver(reminders.deadline_reminders)
    subjects = list(
        Notification.objects.filter(
            kind=Kind.DEADLINE_REMINDER, email=danang_lead.email
        ).values_list("subject", flat=True)
    )
    assert subjects == [f"Smart JAMP: {call.title} closes in 1 day"] * 2


@pytest.mark.parametrize(
    ("text", "defanged"),
    [
        ("see evil.comへ", "see evil[.]comへ"),
        ("ดูที่evil.comครับ", "ดูที่evil[.]comครับ"),
        ("evil.みんな", "evil[.]みんな"),
        ("evil。com", "evil[.]com"),
        ("evil．com", "evil[.]com"),
        ("https://x.example/a", "https[:]//x[.]example/a"),
        ("St. Petersburg", "St. Petersburg"),
        ("Đà Nẵng 3.5", "Đà Nẵng 3.5"),
    ],
)
def test_inert_defangs_links_in_any_script(text, defanged):
    assert notifications.inert(text) == defanged


def test_sweeper_hands_a_queued_row_once_per_grace_period_and_fails_hopeless_ones(
    monkeypatch, settings, clock
):
    settings.OUTBOX_QUEUED_GRACE_SECONDS = 60
    settings.OUTBOX_MAX_ATTEMPTS = 3
    handed = []
    monkeypatch.setattr(notifications, "enqueue", handed.append)
    now = timezone.now()
    clock.set(now - datetime.timedelta(minutes=30))
    waiting, dying = make_notification("w@example.org"), make_notification("d@example.org")
    Notification.objects.filter(pk=dying.pk).update(
        state="sending", attempts=3, claimed_at=now - datetime.timedelta(minutes=20)
    )
    clock.set(now)
    assert notifications.sweep() == 1
    assert notifications.sweep() == 0  # not again before the grace period
    clock.set(now + datetime.timedelta(seconds=61))
    assert notifications.sweep() == 1
    assert handed == [waiting.pk, waiting.pk]
    dying.refresh_from_db()
    assert (dying.state, dying.last_error) == (
        NotificationState.FAILED,
        "Stuck while sending (its worker died) too often.",
    )


# The outbox under faults (issue 14, items 11-15): in-process, with the fake mail server.


@pytest.fixture
def smtp_server(settings):
    from .fake_smtp import FakeSMTP

    with FakeSMTP() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        yield server


def test_deliver_does_not_try_a_retry_before_it_is_due():
    notification = make_notification()
    later = timezone.now() + datetime.timedelta(seconds=60)
    Notification.objects.filter(pk=notification.pk).update(
        state="failed", attempts=1, next_attempt_at=later
    )
    assert notifications.deliver(notification.pk) == (notifications.Outcome.SKIPPED, 0)
    notification.refresh_from_db()
    assert (notification.state, notification.attempts, mail.outbox) == ("failed", 1, [])


def test_sweeper_leaves_a_due_retry_to_its_own_task_for_the_grace_period(
    monkeypatch, settings, clock
):
    settings.OUTBOX_QUEUED_GRACE_SECONDS = 60
    handed = []
    monkeypatch.setattr(notifications, "enqueue", handed.append)
    now = clock.set(timezone.now())
    waiting, lost = make_notification("w@example.org"), make_notification("l@example.org")
    # Due a second ago: its retry task is in the queue behind a backlog.
    Notification.objects.filter(pk=waiting.pk).update(
        state="failed", attempts=1, next_attempt_at=now - datetime.timedelta(seconds=1)
    )
    # Due for longer than the grace period: its task was lost (the broker was down).
    Notification.objects.filter(pk=lost.pk).update(
        state="failed", attempts=1, next_attempt_at=now - datetime.timedelta(seconds=61)
    )
    assert notifications.sweep() == 1
    assert handed == [lost.pk]
    assert notifications.sweep() == 0  # handed once per grace period, not at every sweep


@pytest.mark.django_db(transaction=True)
def test_sent_is_recorded_on_a_fresh_connection_when_the_database_drops(settings):
    from django.db import OperationalError, connection

    settings.OUTBOX_SENDING_TIMEOUT_SECONDS = 0
    notification = make_notification()
    dropped = []

    def drop_the_first_sent_update(execute, sql, params, many, context):
        if sql.startswith("UPDATE") and "sent" in (params or ()) and not dropped:
            dropped.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(drop_the_first_sent_update):
        assert notifications.deliver(notification.pk) == (notifications.Outcome.SENT, 0)
    notification.refresh_from_db()
    assert (len(dropped), notification.state, len(mail.outbox)) == (1, "sent", 1)
    assert notifications.sweep() == 0


def test_a_late_reply_to_the_end_of_data_is_waited_for(smtp_server, settings):
    settings.EMAIL_TIMEOUT = 0.5
    settings.OUTBOX_DATA_TIMEOUT_SECONDS = 5
    smtp_server.reply_delay = 1.0
    notification = make_notification()
    assert notifications.deliver(notification.pk) == (notifications.Outcome.SENT, 0)
    assert smtp_server.notification_ids() == [notification.pk]


def test_no_reply_to_the_end_of_data_leaves_the_outcome_unknown_for_staff(
    smtp_server, settings, client, staff
):
    settings.EMAIL_TIMEOUT = 0.5
    settings.OUTBOX_DATA_TIMEOUT_SECONDS = 0.5
    settings.OUTBOX_QUEUED_GRACE_SECONDS = 0
    smtp_server.reply_delay = 1.0
    notification = make_notification()
    assert notifications.deliver(notification.pk) == (notifications.Outcome.UNKNOWN, 0)
    notification.refresh_from_db()
    assert (notification.state, notification.attempts, notification.next_attempt_at) == (
        NotificationState.UNKNOWN,
        1,
        None,
    )
    assert notification.last_error.startswith("OutcomeUnknown: ")
    assert notifications.sweep() == 0  # nobody tries again by themselves
    assert notifications.deliver(notification.pk) == (notifications.Outcome.SKIPPED, 0)
    assert smtp_server.notification_ids() == [notification.pk]
    client.force_login(staff)
    listing = client.get(
        reverse("admin:proposals_notification_changelist"), {"state__exact": "unknown"}
    )
    assert list(listing.context["cl"].result_list) == [notification]


def test_sent_is_recorded_before_the_connection_is_closed(smtp_server):
    smtp_server.quit_delay = 0.3
    notification = make_notification()
    assert notifications.deliver(notification.pk) == (notifications.Outcome.SENT, 0)
    notification.refresh_from_db()
    assert len(smtp_server.quits) == 1
    assert notification.sent_at.timestamp() <= smtp_server.quits[0]
