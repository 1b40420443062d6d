"""The consultation desk (issue 16): who may ask, who sees a request, working days in JST and
what is overdue, the requests' states, their notifications and the overdue reminder."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from proposals import reminders, services
from proposals.fiscal import JST, working_days_between, working_days_overdue_before
from proposals.models import (
    AuditEvent,
    DeskFile,
    DeskMessage,
    DeskRequest,
    DeskState,
    MemberRole,
    Notification,
    NotificationKind,
)
from proposals.permissions import (
    desk_requests_visible_to,
    get_desk_file_for_user,
    get_desk_request_for_user,
    may_ask_desk,
)

from .conftest import member
from .factories import UserFactory, docx_bytes, make_city, pdf_bytes, upload


def jst(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=JST)


# 4 December 2026 is a Friday.
FRIDAY = datetime.date(2026, 12, 4)


@pytest.fixture
def consultant(project):
    user = UserFactory(email="consultant@nippon-survey.example", full_name="Kenji Mori")
    project.consultants.add(user)
    return user


@pytest.fixture
def company(reference_data):
    return UserFactory(
        email="desk@tokyo-water.example", full_name="Emi Ito", company="Tokyo Water Co."
    )


def ask(user, *, city=None, subject="JBIC loan terms", body="Which tenor may we expect?", **kw):
    return services.open_request(
        user=user, topic=kw.pop("topic", "financing"), subject=subject, body=body, city=city, **kw
    )


def stored_desk_files(private_files) -> list[str]:
    return [name for name in private_files() if name.startswith("desk/")]


# Working days ---------------------------------------------------------------------------------


def test_working_days_around_weekends_and_the_jst_date_change():
    friday_late = jst(2026, 12, 4, 23, 59)
    saturday = jst(2026, 12, 5, 0, 0)
    assert working_days_between(friday_late, saturday) == 0  # Saturday is no working day
    assert working_days_between(jst(2026, 12, 3, 23, 59), jst(2026, 12, 4, 0, 0)) == 1
    assert working_days_between(friday_late, jst(2026, 12, 6, 23, 59)) == 0  # Sunday night
    assert working_days_between(friday_late, jst(2026, 12, 7, 0, 0)) == 1  # Monday
    assert working_days_between(jst(2026, 12, 7, 9), jst(2026, 12, 7, 18)) == 0  # same day
    assert working_days_between(jst(2026, 12, 7, 9), jst(2026, 12, 14, 9)) == 5  # a week
    assert working_days_between(jst(2026, 12, 7, 9), jst(2026, 12, 28, 9)) == 15
    assert working_days_between(saturday, jst(2026, 12, 4, 9)) == 0  # backwards: none
    # The day is JST's, whatever the zone given: 15:00 UTC on Friday is Saturday in Tokyo.
    utc = datetime.UTC
    assert (
        working_days_between(
            datetime.datetime(2026, 12, 3, 15, 0, tzinfo=utc),  # Friday 00:00 JST
            datetime.datetime(2026, 12, 4, 15, 0, tzinfo=utc),  # Saturday 00:00 JST
        )
        == 0
    )
    assert (
        working_days_between(
            datetime.datetime(2026, 12, 3, 14, 59, tzinfo=utc),  # Thursday 23:59 JST
            datetime.datetime(2026, 12, 3, 15, 0, tzinfo=utc),  # Friday 00:00 JST
        )
        == 1
    )


def test_overdue_is_more_than_the_target_in_working_days(settings):
    settings.DESK_FIRST_ANSWER_WORKING_DAYS = 5
    # Opened on a Monday morning: 5 working days old on the next Monday, overdue from the
    # Tuesday after it, 00:00 JST.
    now = jst(2026, 12, 15, 0, 0)  # Tuesday
    assert working_days_overdue_before(now) == jst(2026, 12, 8, 0, 0)  # the Tuesday before
    assert working_days_overdue_before(jst(2026, 12, 14, 23, 59)) == jst(2026, 12, 7, 0, 0)
    # Over a weekend, the instant does not move.
    assert working_days_overdue_before(jst(2026, 12, 12, 12)) == jst(2026, 12, 4, 0, 0)
    assert working_days_overdue_before(jst(2026, 12, 13, 12)) == jst(2026, 12, 4, 0, 0)


@pytest.mark.parametrize("target", [0, 1, 5])
def test_the_databases_rule_of_overdue_is_the_rows(settings, target):
    """`created_at < working_days_overdue_before(now)` exactly when the request is more than
    the target's working days old: the desk's filter and each row's badge agree."""
    settings.DESK_FIRST_ANSWER_WORKING_DAYS = target
    start = jst(2026, 11, 23, 0, 0)
    for now_hours in range(0, 24 * 14, 11):
        now = start + datetime.timedelta(days=14, hours=now_hours)
        cutoff = working_days_overdue_before(now)
        for hours in range(0, 24 * 28, 5):
            opened = start + datetime.timedelta(hours=hours)
            if opened > now:
                break
            assert (opened < cutoff) == (working_days_between(opened, now) > target), (
                opened,
                now,
            )


# Who may ask ----------------------------------------------------------------------------------


def test_who_may_ask(danang_lead, consultant, company, official, reviewer, staff, reference_data):
    from django.contrib.auth.models import AnonymousUser

    pending = make_city("Huế", "VN")  # registered, not verified yet
    waiting = member(pending, "lead.hue@example.org", "Phạm Thu", MemberRole.LEAD)
    former = UserFactory(email="gone@tokyo-water.example", company="Tokyo Water Co.")
    former.is_active = False
    former.save()
    assert {
        "verified city's member": may_ask_desk(danang_lead),
        "consultant": may_ask_desk(consultant),
        "Japanese company": may_ask_desk(company),
        "pending city's member": may_ask_desk(waiting),
        "no city": may_ask_desk(official),
        "reviewer": may_ask_desk(reviewer),
        "staff": may_ask_desk(staff),
        "inactive": may_ask_desk(former),
        "anonymous": may_ask_desk(AnonymousUser()),
    } == {
        "verified city's member": True,
        "consultant": True,
        "Japanese company": True,
        "pending city's member": False,
        "no city": False,
        "reviewer": False,
        "staff": False,
        "inactive": False,
        "anonymous": False,
    }
    with pytest.raises(PermissionDenied):
        ask(waiting, city=pending)
    with pytest.raises(PermissionDenied):
        ask(official)
    assert not DeskRequest.objects.exists()


def test_a_citys_request_is_its_members_and_a_companys_carries_it(
    danang, danang_lead, danang_editor, cebu_lead, company, consultant, staff
):
    city_request = ask(danang_lead, city=danang)
    company_request = ask(company, subject="Partners in Cebu")
    consultant_request = ask(consultant, subject="Permits")
    assert (city_request.city, city_request.company) == (danang, "")
    assert (company_request.city, company_request.company) == (None, "Tokyo Water Co.")
    assert consultant_request.city is None

    def visible(user):
        return set(desk_requests_visible_to(user).values_list("subject", flat=True))

    assert visible(danang_lead) == {"JBIC loan terms"}
    assert visible(danang_editor) == {"JBIC loan terms"}  # a colleague sees the city's
    assert visible(cebu_lead) == set()
    assert visible(company) == {"Partners in Cebu"}
    assert visible(consultant) == {"Permits"}
    assert visible(staff) == {"JBIC loan terms", "Partners in Cebu", "Permits"}
    assert get_desk_request_for_user(danang_editor, city_request.code).reader_is_asker


def test_a_member_asks_for_one_of_their_verified_cities_only(danang_lead, cebu, danang):
    with pytest.raises(ValidationError) as raised:
        ask(danang_lead, city=cebu)
    assert raised.value.messages == ["You may ask only for a verified city you are a member of."]
    with pytest.raises(ValidationError) as raised:
        ask(danang_lead)
    assert raised.value.messages == ["Choose the city you are asking for."]
    assert not DeskRequest.objects.exists()


def test_the_gate_gives_404_to_everyone_else(
    danang, danang_lead, cebu_lead, consultant, company, reviewer, staff, private_files
):
    from django.contrib.auth.models import AnonymousUser
    from django.http import Http404

    desk_request = ask(danang_lead, city=danang, files=[upload("Budget.pdf")])
    desk_file = desk_request.files.get()
    elsewhere = UserFactory(email="other@survey.example")
    other_company = UserFactory(email="x@osaka.example", company="Osaka Gas")
    for user in (cebu_lead, consultant, elsewhere, company, other_company, reviewer):
        with pytest.raises(Http404):
            get_desk_request_for_user(user, desk_request.code)
        with pytest.raises(Http404):
            get_desk_file_for_user(user, desk_request.code, desk_file.code)
        assert not desk_requests_visible_to(user).exists()
    with pytest.raises(Http404):
        get_desk_request_for_user(AnonymousUser(), desk_request.code)
    assert get_desk_file_for_user(staff, desk_request.code, desk_file.code) == desk_file
    with pytest.raises(Http404):  # a file of another request, under this request's code
        other = ask(danang_lead, city=danang, files=[upload("Other.pdf")])
        get_desk_file_for_user(danang_lead, desk_request.code, other.files.get().code)


# Bad input ------------------------------------------------------------------------------------


def test_bad_input_is_refused_and_nothing_stored(danang, danang_lead, settings, private_files):
    cases = [
        ({"body": "   "}, "Write your question."),
        ({"subject": ""}, "Give the request a subject."),
        ({"topic": "gossip"}, "Choose a topic."),
        (
            {"files": [upload("Plan.pdf", b"<html><script>alert(1)</script></html>")]},
            "This file is not a PDF or DOCX or XLSX document (its content was checked, not "
            "its name).",
        ),
        (
            {"files": [upload("Plan.pdf"), upload("Big.pdf", pdf_bytes(size=30_000))]},
            "The file is 29.3\xa0KB; at most 20.0\xa0KB is accepted.",
        ),
        ({"files": [upload(f"{n}.pdf") for n in range(6)]}, "Give at most 5 files at once."),
    ]
    settings.UPLOAD_HARD_LIMIT_BYTES = 20 * 1024
    for values, message in cases:
        with pytest.raises(ValidationError) as raised:
            ask(danang_lead, city=danang, **values)
        assert raised.value.messages == [message]
    assert not DeskRequest.objects.exists()
    assert not DeskFile.objects.exists()
    assert stored_desk_files(private_files) == []
    assert not Notification.objects.filter(kind=NotificationKind.DESK_OPENED).exists()
    # A DOCX is fine; what its sender called it, no.
    desk_request = ask(
        danang_lead, city=danang, files=[upload("notes", docx_bytes(), "application/pdf")]
    )
    assert [(f.name, f.content_type) for f in desk_request.files.all()] == [
        (
            "notes.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        )
    ]


def test_a_failed_answer_stores_no_file(danang, danang_lead, staff, private_files):
    desk_request = ask(danang_lead, city=danang)
    with pytest.raises(ValidationError):
        services.answer_request(
            actor=staff,
            desk_request=desk_request,
            body="See the attached note.",
            files=[upload("Note.pdf"), upload("Fake.pdf", b"MZ not a pdf")],
        )
    with pytest.raises(ValidationError) as raised:
        services.answer_request(actor=staff, desk_request=desk_request, body="\n ")
    assert raised.value.messages == ["The message is empty."]
    assert stored_desk_files(private_files) == []
    assert not DeskMessage.objects.exists()
    desk_request.refresh_from_db()
    assert (desk_request.state, desk_request.first_answered_at) == (DeskState.OPEN, None)


# States ---------------------------------------------------------------------------------------


def test_open_answer_follow_up_answer_close(danang, danang_lead, danang_editor, staff, clock):
    opened_at = clock.set(jst(2026, 12, 4, 10))
    desk_request = ask(danang_lead, city=danang)
    assert (desk_request.state, desk_request.created_at) == (DeskState.OPEN, opened_at)
    answered_at = clock.set(jst(2026, 12, 7, 11))
    services.answer_request(actor=staff, desk_request=desk_request, body="About 15 years.")
    desk_request.refresh_from_db()
    assert (desk_request.state, desk_request.first_answered_at) == (
        DeskState.ANSWERED,
        answered_at,
    )
    assert services.age_in_working_days(desk_request, jst(2027, 1, 4)) == 1  # to the answer
    clock.set(jst(2026, 12, 8, 9))
    services.follow_up_request(
        user=danang_editor, desk_request=desk_request, body="And the grace period?"
    )
    desk_request.refresh_from_db()
    assert desk_request.state == DeskState.OPEN
    assert desk_request.first_answered_at == answered_at  # the clock stopped at the first
    assert not services.is_overdue(desk_request, jst(2027, 1, 4))
    clock.set(jst(2026, 12, 9, 9))
    services.answer_request(actor=staff, desk_request=desk_request, body="Five years.")
    desk_request.refresh_from_db()
    assert (desk_request.state, desk_request.first_answered_at) == (
        DeskState.ANSWERED,
        answered_at,
    )
    closed_at = clock.set(jst(2026, 12, 10, 9))
    services.close_request(actor=danang_lead, desk_request=desk_request)
    desk_request.refresh_from_db()
    assert (desk_request.state, desk_request.closed_at) == (DeskState.CLOSED, closed_at)
    with pytest.raises(ValidationError) as raised:
        services.answer_request(actor=staff, desk_request=desk_request, body="One more thing.")
    assert raised.value.messages == ["This request is closed."]
    with pytest.raises(ValidationError):
        services.follow_up_request(user=danang_lead, desk_request=desk_request, body="Hello?")
    with pytest.raises(ValidationError) as raised:
        services.close_request(actor=staff, desk_request=desk_request)
    assert raised.value.messages == ["This request is closed already."]
    assert [(m.from_staff, m.body) for m in DeskMessage.objects.filter(request=desk_request)] == [
        (True, "About 15 years."),
        (False, "And the grace period?"),
        (True, "Five years."),
    ]
    assert list(
        AuditEvent.objects.filter(action__startswith="desk.")
        .order_by("pk")
        .values_list("action", "details__desk_request")
    ) == [
        ("desk.opened", desk_request.code),
        ("desk.answered", desk_request.code),
        ("desk.followed_up", desk_request.code),
        ("desk.answered", desk_request.code),
        ("desk.closed", desk_request.code),
    ]


def test_only_staff_answer_and_only_askers_follow_up(
    danang, danang_lead, cebu_lead, consultant, reviewer, staff
):
    desk_request = ask(danang_lead, city=danang)
    for user in (danang_lead, cebu_lead, consultant, reviewer):
        with pytest.raises(PermissionDenied):
            services.answer_request(actor=user, desk_request=desk_request, body="An answer.")
    for user in (cebu_lead, consultant, reviewer, staff):
        with pytest.raises(PermissionDenied):
            services.follow_up_request(user=user, desk_request=desk_request, body="Me too.")
    for user in (cebu_lead, consultant, reviewer):
        with pytest.raises(PermissionDenied):
            services.close_request(actor=user, desk_request=desk_request)
    assert not DeskMessage.objects.exists()
    desk_request.refresh_from_db()
    assert desk_request.state == DeskState.OPEN


def test_linking_a_project(
    project, danang, danang_lead, cebu_lead, cebu, call, approve, staff, consultant
):
    from .factories import make_proposal

    other = approve(make_proposal(call, cebu, cebu_lead, title="BRT for Cebu"), cebu_lead).project
    desk_request = ask(danang_lead, city=danang, project=project)
    assert desk_request.project == project
    with pytest.raises(ValidationError) as raised:
        ask(danang_lead, city=danang, project=other)
    assert raised.value.messages == ["You may link only a project you can see."]
    with pytest.raises(ValidationError):
        services.link_request_to_project(
            actor=danang_lead, desk_request=desk_request, project=other
        )
    with pytest.raises(PermissionDenied):
        services.link_request_to_project(actor=cebu_lead, desk_request=desk_request, project=None)
    services.link_request_to_project(actor=staff, desk_request=desk_request, project=other)
    desk_request.refresh_from_db()
    assert desk_request.project == other
    services.link_request_to_project(actor=danang_lead, desk_request=desk_request, project=None)
    desk_request.refresh_from_db()
    assert desk_request.project is None
    # A consultant links one of their projects.
    asked = ask(consultant, subject="Site visit", project=project)
    assert asked.project == project
    assert list(
        AuditEvent.objects.filter(action="desk.project_linked")
        .order_by("pk")
        .values_list("details__from", "details__to")
    ) == [(project.code, other.code), (other.code, "")]


# Notifications --------------------------------------------------------------------------------


def test_each_notification_once(
    danang, danang_lead, danang_editor, company, staff, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        desk_request = ask(danang_lead, city=danang, subject="Loan terms")
    assert [(m.to, m.subject) for m in mail.outbox] == [
        ([staff.email], "Smart JAMP desk: a new request, “Loan terms”")
    ]
    assert "Nguyễn Văn An asked the consultation desk about Financing" in mail.outbox[0].body
    assert "within 5 working days" in mail.outbox[0].body
    assert desk_request.get_absolute_url() in mail.outbox[0].body
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.answer_request(actor=staff, desk_request=desk_request, body="About 15 years.")
    assert sorted((m.to[0], m.subject) for m in mail.outbox) == sorted(
        [
            (danang_lead.email, "Smart JAMP desk: an answer to “Loan terms”"),
            (danang_editor.email, "Smart JAMP desk: an answer to “Loan terms”"),
        ]
    )
    assert all("About 15 years." in m.body for m in mail.outbox)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.follow_up_request(user=danang_lead, desk_request=desk_request, body="Grace?")
    assert [(m.to, m.subject) for m in mail.outbox] == [
        ([staff.email], "Smart JAMP desk: a follow-up to “Loan terms”")
    ]
    # Each event's notifications have their own keys: telling again sends nothing more.
    from proposals.services import desk

    before = Notification.objects.count()
    desk._tell_staff(desk_request, message=None)
    desk._tell_askers(desk_request, DeskMessage.objects.filter(from_staff=True).get())
    assert Notification.objects.count() == before
    # A company's answer goes to the company's account alone.
    asked = ask(company, subject="Partners")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.answer_request(actor=staff, desk_request=asked, body="Try Cebu.")
    assert [m.to for m in mail.outbox] == [[company.email]]


def test_notifications_are_in_the_recipients_language_and_zone(
    danang, danang_lead, staff, clock, django_capture_on_commit_callbacks
):
    staff.language, staff.time_zone = "en", "Asia/Bangkok"
    staff.save()
    clock.set(jst(2026, 12, 7, 9, 30))
    desk_request = ask(danang_lead, city=danang, subject="<b>Rates</b> https://evil.example")
    clock.set(jst(2026, 12, 16, 0, 0))
    with django_capture_on_commit_callbacks(execute=True):
        reminders.desk_overdue()
    (overdue,) = [n for n in Notification.objects.filter(kind=NotificationKind.DESK_OVERDUE)]
    assert overdue.recipient == staff
    assert "opened on 7 Dec 2026, 07:30" in overdue.body_text  # 09:30 JST in Bangkok
    assert "https://" not in overdue.body_text and "<b>" not in overdue.body_html
    assert "It is 7 working days old; the first answer is due within 5." in overdue.body_text
    assert overdue.link == desk_request.get_absolute_url()


def test_the_overdue_reminder_once_per_request(
    danang, danang_lead, company, staff, clock, django_capture_on_commit_callbacks
):
    clock.set(jst(2026, 12, 7, 9))  # Monday
    late = ask(danang_lead, city=danang, subject="Late")
    answered = ask(company, subject="Answered")
    closed = ask(company, subject="Closed")
    clock.set(jst(2026, 12, 10, 9))
    services.answer_request(actor=staff, desk_request=answered, body="Yes.")
    services.close_request(actor=company, desk_request=closed)
    clock.set(jst(2026, 12, 9, 9))
    recent = ask(company, subject="Recent")

    def run(when) -> list:
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            reminders.desk_overdue(when)
        return [(m.to[0], m.subject) for m in mail.outbox]

    assert run(jst(2026, 12, 14, 23, 59)) == []  # 5 working days old: not yet
    assert run(jst(2026, 12, 15, 0, 0)) == [(staff.email, "Smart JAMP desk: “Late” is overdue")]
    assert run(jst(2026, 12, 15, 1, 0)) == []  # once
    assert run(jst(2026, 12, 22, 0, 0)) == [  # the recent one's turn; the late one not again
        (staff.email, "Smart JAMP desk: “Recent” is overdue")
    ]
    assert Notification.objects.filter(kind=NotificationKind.DESK_OVERDUE).count() == 2
    assert {late.code, recent.code} == {
        r.code for r in DeskRequest.objects.filter(services.desk.overdue(jst(2026, 12, 22)))
    }


def test_the_task_runs_the_reminder(danang, danang_lead, staff, clock):
    from proposals import tasks

    clock.set(jst(2026, 11, 2, 9))
    ask(danang_lead, city=danang)
    clock.set(jst(2026, 12, 1, 9))
    assert tasks.send_desk_overdue.delay().get() == 1
    assert tasks.send_desk_overdue.delay().get() == 0
