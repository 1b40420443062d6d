"""Deliverables in the admin (accepted or returned as actions through the same service as the
project page) and a project's timeline (issue 16, item 9)."""

import pytest
from django.test import Client
from django.urls import reverse

from proposals import services
from proposals.models import DeliverableKind, DeliverableState, FinancingKind
from proposals.timeline import project_timeline

from .factories import UserFactory, pdf_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def consultant(project, staff, deliver):
    user = UserFactory(email="consultant@nippon-survey.example")
    deliver(services.invite_consultant, actor=staff, project=project, email=user.email)
    return user


@pytest.fixture
def uploaded(project, consultant, deliver):
    deliverable = project.deliverables.get(kind=DeliverableKind.INCEPTION)
    deliver(
        services.upload_deliverable,
        user=consultant,
        deliverable=deliverable,
        upload=upload("inception.pdf", pdf_bytes()),
    )
    return deliverable


def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_staff_accept_an_uploaded_deliverable_as_an_admin_action(uploaded, staff):
    client = staff_client(staff)
    changelist = reverse("admin:proposals_deliverable_changelist")
    page = client.get(changelist)
    assert page.status_code == 200 and "Inception report" in page.content.decode()
    client.post(changelist, {"action": "accept", "_selected_action": [uploaded.pk]})
    uploaded.refresh_from_db()
    assert uploaded.state == DeliverableState.ACCEPTED
    assert uploaded.versions.get().reviewed_by == staff
    change = client.get(reverse("admin:proposals_deliverable_change", args=[uploaded.pk]))
    assert "inception.pdf" in change.content.decode()


def test_returning_asks_for_comments_and_refuses_what_was_not_uploaded(uploaded, project, staff):
    client = staff_client(staff)
    changelist = reverse("admin:proposals_deliverable_changelist")
    form = client.post(
        changelist, {"action": "return_with_comments", "_selected_action": [uploaded.pk]}
    )
    assert "What must change" in form.content.decode()
    uploaded.refresh_from_db()
    assert uploaded.state == DeliverableState.UPLOADED  # nothing happens before the comments
    interim = project.deliverables.get(kind=DeliverableKind.INTERIM)
    response = client.post(
        changelist,
        {
            "action": "return_with_comments",
            "_selected_action": [uploaded.pk, interim.pk],
            "apply": "1",
            "comment": "Add the traffic counts of the dry season.",
        },
        follow=True,
    )
    text = response.content.decode()
    assert "There is no uploaded version of this deliverable to review." in text
    uploaded.refresh_from_db()
    interim.refresh_from_db()
    assert (uploaded.state, interim.state) == (DeliverableState.RETURNED, DeliverableState.PLANNED)
    assert uploaded.versions.get().comment == "Add the traffic counts of the dry season."


def test_a_reviewer_cannot_review_deliverables_in_the_admin(uploaded, reviewer):
    client = Client()
    client.force_login(reviewer)
    changelist = reverse("admin:proposals_deliverable_changelist")
    assert client.get(changelist).status_code == 403
    client.post(changelist, {"action": "accept", "_selected_action": [uploaded.pk]})
    uploaded.refresh_from_db()
    assert uploaded.state == DeliverableState.UPLOADED


def test_the_timeline_tells_a_project_s_history_in_order(
    uploaded, project, staff, deliver, django_assert_max_num_queries
):
    deliver(services.review_deliverable, actor=staff, deliverable=uploaded, accept=True)
    project.deliverables.filter(kind=DeliverableKind.FINAL).update(state=DeliverableState.ACCEPTED)
    deliver(
        services.take_project_transition,
        actor=staff,
        project=project,
        name="promote_investment",
        message="Ready for investors.",
    )
    project.refresh_from_db()
    track = services.add_financing_track(
        actor=staff,
        project=project,
        kind=FinancingKind.JBIC_LOAN,
        counterpart="JBIC",
        sought_jpy=2_000_000_000,
    )
    deliver(services.change_financing_status, actor=staff, track=track, name="refer")
    with django_assert_max_num_queries(11):
        events = project_timeline(project)
    whats = [event.what for event in events]
    assert whats[0] == "Project created on the proposal's approval"
    assert whats.index("Consultant invited: consultant@nippon-survey.example") < whats.index(
        "Inception report uploaded: inception.pdf"
    )
    assert whats.index("Inception report: Accepted") < whats.index(
        "Stage: Formation survey → Investment promotion"
    )
    assert whats[-1] == "JBIC loan: JBIC: Identified → Referred"
    assert [event.at for event in events] == sorted(event.at for event in events)
    stage = events[whats.index("Stage: Formation survey → Investment promotion")]
    assert (stage.by, stage.note) == (str(staff), "Ready for investors.")


def test_the_project_s_admin_page_shows_its_timeline(uploaded, project, staff):
    page = staff_client(staff).get(reverse("admin:proposals_project_change", args=[project.pk]))
    text = page.content.decode()
    assert "Timeline" in text
    assert "Inception report uploaded: inception.pdf" in text
    assert text.index("Project created on the proposal") < text.index("Inception report uploaded")


def test_the_deliverables_admin_list_does_not_grow_with_rows(
    project, staff, call, cebu, cebu_lead, approve
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from .factories import make_proposal

    client = staff_client(staff)
    changelist = reverse("admin:proposals_deliverable_changelist")
    client.get(changelist)
    with CaptureQueriesContext(connection) as few:
        assert client.get(changelist).status_code == 200
    for n in range(3):
        approve(make_proposal(call, cebu, cebu_lead, title=f"Project {n}"), cebu_lead)
    with CaptureQueriesContext(connection) as many:
        page = client.get(changelist).content.decode()
    assert page.count("Inception report") >= 4
    assert len(many.captured_queries) == len(few.captured_queries)
