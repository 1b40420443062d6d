"""The consultation desk's pages (issue 16): the list, a new request, a request's thread and
its files; who gets 404; bad input; query counts; the admin's list and page."""

import datetime
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from proposals import services
from proposals.fiscal import JST
from proposals.models import AuditEvent, DeskFile, DeskMessage, DeskRequest, DeskState

from ..conftest import in_group
from ..factories import UserFactory, pdf_bytes, upload


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


@pytest.fixture
def city_request(danang, danang_lead):
    return services.open_request(
        user=danang_lead,
        topic="financing",
        subject="JBIC loan terms",
        body="Which tenor may we expect?",
        city=danang,
        files=[upload("Budget.pdf")],
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return response.content.decode()


def test_the_desk_explains_who_may_use_it(official, reviewer):
    url = reverse("desk")
    for client in (Client(), signed_in(official), signed_in(reviewer)):
        response = client.get(url)
        assert response.status_code == 200
        page = text(response)
        assert "the officials of a verified city" in page
        assert "the accounts of Japanese companies" in page
        assert reverse("desk_new") not in page
    assert "Sign in to use the desk" in text(Client().get(url))
    # The form sends them back to that explanation.
    response = signed_in(official).get(reverse("desk_new"), follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "You may not ask the consultation desk with this account." in text(response)
    assert Client().get(reverse("desk_new")).status_code == 302  # to sign in


def test_the_nav_links_the_desk_for_signed_in_readers(danang_lead):
    link = f'href="{reverse("desk")}"'
    assert link in text(signed_in(danang_lead).get(reverse("home")))
    assert link not in text(Client().get(reverse("home")))


def test_a_city_asks_with_a_file_and_staff_answer_through_the_pages(
    danang, danang_lead, danang_editor, staff, project, private_files
):
    as_lead = signed_in(danang_lead)
    page = text(as_lead.get(reverse("desk_new")))
    assert 'name="csrfmiddlewaretoken"' in page and 'enctype="multipart/form-data"' in page
    assert "Da Nang" in page and project.proposal.title in page  # its city and its projects
    response = as_lead.post(
        reverse("desk_new"),
        {
            "topic": "financing",
            "subject": "JBIC loan terms",
            "body": "Which tenor may we expect?",
            "city": danang.code,
            "project": project.code,
            "files": [upload("Budget.pdf"), upload("Plan.pdf")],
        },
        follow=True,
    )
    desk_request = DeskRequest.objects.get()
    assert response.redirect_chain == [(desk_request.get_absolute_url(), 302)]
    page = text(response)
    assert "Your request is sent. Programme staff answer within 5 working days." in page
    assert (desk_request.city, desk_request.project, desk_request.requester) == (
        danang,
        project,
        danang_lead,
    )
    names = sorted(desk_request.files.values_list("name", flat=True))
    assert names == ["Budget.pdf", "Plan.pdf"]
    # Staff see it in the list, answer it on its page; the city's members read the answer.
    as_staff = signed_in(staff)
    assert desk_request.get_absolute_url() in text(as_staff.get(reverse("desk")))
    page = text(as_staff.get(desk_request.get_absolute_url()))
    assert "Send the answer" in page and "Which tenor may we expect?" in page
    response = as_staff.post(
        reverse("desk_reply", args=[desk_request.code]),
        {"body": "About 15 years.", "files": [upload("Terms.pdf")]},
        follow=True,
    )
    assert "Your answer is sent." in text(response)
    desk_request.refresh_from_db()
    assert desk_request.state == DeskState.ANSWERED
    as_editor = signed_in(danang_editor)
    page = text(as_editor.get(desk_request.get_absolute_url()))
    assert "About 15 years." in page and "Terms.pdf" in page
    assert "Aiko Tanaka" not in page  # staff are "Programme staff" to the city
    answer_file = DeskFile.objects.get(name="Terms.pdf")
    response = as_editor.get(reverse("desk_file", args=[desk_request.code, answer_file.code]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    event = AuditEvent.objects.get(action="download.desk_file")
    assert (event.actor, event.details["file"]) == (danang_editor, answer_file.code)
    # The colleague writes again (open again), then closes it.
    response = as_editor.post(
        reverse("desk_reply", args=[desk_request.code]), {"body": "And the grace period?"}
    )
    desk_request.refresh_from_db()
    assert desk_request.state == DeskState.OPEN
    as_editor.post(reverse("desk_close", args=[desk_request.code]))
    desk_request.refresh_from_db()
    assert desk_request.state == DeskState.CLOSED
    page = text(as_editor.get(desk_request.get_absolute_url()))
    assert reverse("desk_reply", args=[desk_request.code]) not in page
    assert reverse("desk_close", args=[desk_request.code]) not in page


def test_others_get_404_on_every_desk_url(
    city_request, cebu_lead, consultant, company, reviewer, staff, project
):
    desk_file = city_request.files.get()
    other_consultant = UserFactory(email="elsewhere@survey.example")
    gets = [
        reverse("desk_request", args=[city_request.code]),
        reverse("desk_file", args=[city_request.code, desk_file.code]),
    ]
    posts = [
        reverse("desk_reply", args=[city_request.code]),
        reverse("desk_close", args=[city_request.code]),
        reverse("desk_link", args=[city_request.code]),
    ]
    # `consultant` is on Da Nang's project, not on this request: still nobody's business.
    for user in (cebu_lead, consultant, other_consultant, company, reviewer):
        client = signed_in(user)
        for url in gets:
            assert client.get(url).status_code == 404, (user, url)
        for url in posts:
            response = client.post(url, {"body": "Mine now.", "project": project.code})
            assert response.status_code == 404, (user, url)
        assert city_request.get_absolute_url() not in text(client.get(reverse("desk")))
    for url in gets:
        assert Client().get(url).status_code == 404, url
    for url in posts:
        assert Client().post(url, {"body": "Mine now."}).status_code == 404, url
    city_request.refresh_from_db()
    assert (city_request.state, city_request.project) == (DeskState.OPEN, None)
    assert not DeskMessage.objects.exists()
    assert not AuditEvent.objects.filter(action="download.desk_file").exists()
    assert signed_in(staff).get(gets[1]).status_code == 200


def test_bad_input_on_the_form_is_refused_with_a_message_and_nothing_stored(
    danang, danang_lead, settings, private_files
):
    client = signed_in(danang_lead)
    url = reverse("desk_new")
    base = {"topic": "technology", "subject": "Sensors", "body": "Which vendors?"}
    settings.UPLOAD_HARD_LIMIT_BYTES = 20 * 1024  # the upload handler's cap, read per request
    cases = [
        ({**base, "body": "  "}, "Write your question."),
        ({**base, "subject": ""}, "Give the request a subject."),
        (
            {**base, "files": [upload("Sensors.pdf", b"<html><script>x()</script></html>")]},
            "This file is not a PDF or DOCX or XLSX document (its content was checked, not its "
            "name).",
        ),
        (
            {**base, "files": [upload("Big.pdf", pdf_bytes(size=30_000))]},
            "The file is larger than 20.0\xa0KB and was not accepted.",
        ),
    ]
    for data, message in cases:
        response = client.post(url, {**data, "city": danang.code})
        assert response.status_code == 200
        page = text(response)
        assert message.replace("\xa0", "&nbsp;") in page or message in page, message
        assert 'value="Sensors"' in page or data["subject"] == ""  # what they typed stays
    assert not DeskRequest.objects.exists()
    assert [name for name in private_files() if name.startswith("desk/")] == []


def test_a_bad_reply_is_refused_and_nothing_stored(city_request, staff, private_files):
    client = signed_in(staff)
    url = reverse("desk_reply", args=[city_request.code])
    response = client.post(url, {"body": " "}, follow=True)
    assert "The message is empty." in text(response)
    response = client.post(
        url, {"body": "See attached.", "files": [upload("Note.pdf", b"MZ\x90\x00")]}, follow=True
    )
    assert "its content was checked, not its name" in text(response)
    assert not DeskMessage.objects.exists()
    assert city_request.files.count() == 1
    city_request.refresh_from_db()
    assert city_request.state == DeskState.OPEN


def test_the_asker_links_one_of_their_projects(city_request, danang_lead, project, cebu_lead):
    client = signed_in(danang_lead)
    page = text(client.get(city_request.get_absolute_url()))
    assert reverse("desk_link", args=[city_request.code]) in page
    response = client.post(
        reverse("desk_link", args=[city_request.code]), {"project": project.code}, follow=True
    )
    assert "The linked project is saved." in text(response)
    assert reverse("project_detail", args=[project.code]) in text(response)
    city_request.refresh_from_db()
    assert city_request.project == project
    response = client.post(
        reverse("desk_link", args=[city_request.code]), {"project": "nosuchcode"}, follow=True
    )
    assert "Choose one of your projects." in text(response)
    city_request.refresh_from_db()
    assert city_request.project == project


def test_staff_filter_and_see_the_overdue_ones_stand_out(
    danang, danang_lead, company, staff, clock
):
    clock.set(datetime.datetime(2026, 12, 7, 9, tzinfo=JST))
    late = services.open_request(
        user=danang_lead, topic="financing", subject="Late one", body="?", city=danang
    )
    clock.set(datetime.datetime(2026, 12, 14, 9, tzinfo=JST))
    fresh = services.open_request(user=company, topic="technology", subject="Fresh one", body="?")
    clock.set(datetime.datetime(2026, 12, 16, 9, tzinfo=JST))
    client = signed_in(staff)

    def listed(query=""):
        page = text(client.get(reverse("desk") + query))
        return [
            code
            for code in re.findall(r'href="/desk/([^/"]+)/"', page)
            if code in (late.code, fresh.code)
        ]

    page = text(client.get(reverse("desk")))
    row = re.search(r'<tr class="table-warning">.*?</tr>', page, re.S).group(0)
    assert "Late one" in row and "Overdue" in row and "7 of 5" in row
    assert "Fresh one" not in row
    assert "2 of 5" in page  # the fresh one's age
    assert listed() == [fresh.code, late.code]
    assert listed("?overdue=on") == [late.code]
    assert listed("?topic=technology") == [fresh.code]
    assert listed("?state=answered") == []
    assert listed("?state=open&topic=financing") == [late.code]
    # The asker sees their own, with its age, not the company's.
    page = text(signed_in(danang_lead).get(reverse("desk")))
    assert late.get_absolute_url() in page and fresh.get_absolute_url() not in page


def test_the_desk_list_query_count_does_not_grow_with_rows(
    danang, danang_lead, staff, company, assert_page_queries
):
    def add(n):
        for i in range(n):
            services.open_request(
                user=danang_lead, topic="other", subject=f"Q{i}", body="?", city=danang
            )
            services.open_request(user=company, topic="other", subject=f"C{i}", body="?")

    add(1)
    # The user; for staff, their permissions (two) and whether they may ask (two: no city, no
    # project); for the lead, whether they may ask (a verified city: one); the count; the page.
    counts = ((staff, 7), (danang_lead, 4))
    for user, expected in counts:
        client = signed_in(user)
        client.get(reverse("desk"))
        with assert_page_queries(expected):
            client.get(reverse("desk"))
    add(4)
    for user, expected in counts:
        client = signed_in(user)
        client.get(reverse("desk"))
        with assert_page_queries(expected):
            client.get(reverse("desk"))


def test_the_request_page_query_count_does_not_grow_with_the_thread(
    city_request, staff, danang_lead, assert_page_queries
):
    client = signed_in(danang_lead)
    url = city_request.get_absolute_url()
    services.answer_request(actor=staff, desk_request=city_request, body="First.")
    client.get(url)
    # The user, the request, whether the reader has projects to link, the request's files,
    # the thread and the thread's files.
    with assert_page_queries(6):
        client.get(url)
    for n in range(3):
        services.answer_request(
            actor=staff, desk_request=city_request, body=f"Answer {n}", files=[upload()]
        )
        services.follow_up_request(user=danang_lead, desk_request=city_request, body=f"Q {n}")
    with assert_page_queries(6):
        page = text(client.get(url))
    assert page.count("Answer 2") == 1 and page.count("concept-note.pdf") == 3


# The admin ------------------------------------------------------------------------------------


def test_the_admin_lists_requests_with_their_age_and_links_a_project(
    city_request, staff, project, reviewer, clock
):
    client = signed_in(staff)
    changelist = reverse("admin:proposals_deskrequest_changelist")
    page = text(client.get(changelist))
    assert "JBIC loan terms" in page
    assert "Not overdue" in page  # the filter
    assert "JBIC loan terms" not in text(client.get(changelist + "?overdue=yes"))
    services.answer_request(actor=staff, desk_request=city_request, body="About 15 years.")
    change = reverse("admin:proposals_deskrequest_change", args=[city_request.pk])
    page = text(client.get(change))
    assert "About 15 years." in page  # the thread, read-only
    assert city_request.get_absolute_url() in page  # where staff answer
    assert 'name="messages-0-body"' not in page
    # The read-only inlines' management forms, as the page has them.
    management = dict(re.findall(r'name="([^"]+_FORMS)"[^>]*value="(\d+)"', page))
    response = client.post(change, {"project": project.pk, **management})
    assert response.status_code == 302
    city_request.refresh_from_db()
    assert city_request.project == project
    assert AuditEvent.objects.filter(action="desk.project_linked").count() == 1
    assert DeskMessage.objects.count() == 1
    # Reviewers have no business here.
    reviewers = signed_in(reviewer)
    assert reviewers.get(changelist).status_code == 403
    assert reviewers.get(change).status_code == 403


def test_staff_without_the_desks_permission_see_no_request(city_request, reference_data):
    clerk = in_group(UserFactory(email="clerk@mlit.example", is_staff=True), "MLIT reviewers")
    assert signed_in(clerk).get(city_request.get_absolute_url()).status_code == 404


def test_the_admin_list_query_count_does_not_grow_with_rows(
    danang, danang_lead, company, staff, django_assert_num_queries
):
    def add(n):
        for i in range(n):
            services.open_request(
                user=danang_lead, topic="other", subject=f"Q{i}", body="?", city=danang
            )
            services.open_request(user=company, topic="regulation", subject=f"C{i}", body="?")

    client = signed_in(staff)
    url = reverse("admin:proposals_deskrequest_changelist")
    add(1)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    expected = len(one.captured_queries)  # read now: the next request empties the log
    add(4)
    client.get(url)
    with django_assert_num_queries(expected):
        page = text(client.get(url))
    assert page.count("Tokyo Water Co.") == 5
