"""After selection (issue 16): the project an approved proposal becomes, its stages, who sees it."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from proposals import services
from proposals.fiscal import JST, fiscal_year, fiscal_year_end
from proposals.models import (
    AuditEvent,
    DeliverableKind,
    DeliverableState,
    Project,
    ProjectStage,
    Proposal,
)
from proposals.models.project import default_plan

from .conftest import in_group
from .factories import UserFactory, make_proposal, review, under_review


def move(project, name, actor, **kwargs):
    return services.take_project_transition(actor=actor, project=project, name=name, **kwargs)


# The fiscal year ------------------------------------------------------------------------------


def test_a_survey_funded_in_jfy_2026_reports_by_31_march_2027():
    assert fiscal_year_end(2026) == datetime.date(2027, 3, 31)
    last_minute = datetime.datetime(2027, 3, 31, 23, 59, tzinfo=JST)
    assert fiscal_year(last_minute) == 2026
    assert fiscal_year(last_minute + datetime.timedelta(minutes=1)) == 2027
    # In UTC, 1 April 00:00 JST is still 31 March.
    assert fiscal_year(datetime.datetime(2027, 3, 31, 15, 0, tzinfo=datetime.UTC)) == 2027


def test_the_default_plan_runs_through_the_fiscal_year():
    assert default_plan(2026) == [
        (DeliverableKind.INCEPTION, datetime.date(2026, 6, 1)),
        (DeliverableKind.INTERIM, datetime.date(2026, 10, 1)),
        (DeliverableKind.DRAFT_FINAL, datetime.date(2027, 2, 1)),
        (DeliverableKind.FINAL, datetime.date(2027, 3, 31)),
    ]


# Creation on approval -------------------------------------------------------------------------


def test_approval_creates_the_project_with_its_plan_and_tells_the_city(
    danang_editor, danang_lead, project
):
    proposal = project.proposal
    year = fiscal_year(proposal.decided_at)
    assert (project.stage, project.fiscal_year, project.report_by) == (
        ProjectStage.FORMATION_SURVEY,
        year,
        fiscal_year_end(year),
    )
    assert len(project.code) >= 10 and not project.code.isdigit()
    assert [(d.kind, d.due_on, d.state) for d in project.deliverables.all()] == [
        (kind, due, DeliverableState.PLANNED) for kind, due in default_plan(year)
    ]
    assert AuditEvent.objects.filter(action="project.created", proposal=proposal).count() == 1
    created = [m for m in mail.outbox if "is now a project" in m.subject]
    assert sorted(m.to[0] for m in created) == sorted([danang_lead.email, danang_editor.email])


def test_a_proposal_has_one_project(project, staff):
    with pytest.raises(Exception):  # noqa: B017 (the database's unique constraint)
        Project.objects.create(proposal=project.proposal, fiscal_year=2026, report_by="2027-03-31")


def test_a_rejected_proposal_has_no_project(call, danang, danang_lead, staff, reviewer2):
    proposal = make_proposal(call, danang, danang_lead)
    under_review(proposal, lead=danang_lead, staff=staff)
    review(proposal, reviewer2, [2, 2], staff=staff)
    services.reject_proposal(actor=staff, proposal=proposal, letter="Not this time.")
    assert not Project.objects.filter(proposal=proposal).exists()


# Stages ---------------------------------------------------------------------------------------


def test_investment_promotion_waits_for_the_accepted_final_report(project, staff):
    with pytest.raises(ValidationError) as raised:
        move(project, "promote_investment", staff)
    assert raised.value.messages == ["The final report of the survey must be accepted first."]
    project.deliverables.filter(kind=DeliverableKind.FINAL).update(state=DeliverableState.ACCEPTED)
    change = move(project, "promote_investment", staff, message="Survey reported.")
    assert (change.from_stage, change.to_stage, change.actor, change.message) == (
        ProjectStage.FORMATION_SURVEY,
        ProjectStage.INVESTMENT,
        staff,
        "Survey reported.",
    )
    assert Project.objects.get(pk=project.pk).stage == ProjectStage.INVESTMENT
    event = AuditEvent.objects.get(action="project.stage_changed")
    assert event.details == {
        "project": project.code,
        "from": "formation_survey",
        "to": "investment",
    }


def test_a_stage_that_does_not_follow_is_refused_and_nothing_changes(project, staff):
    with pytest.raises(ValidationError) as raised:
        move(project, "close", staff)
    assert raised.value.messages == [
        "This is not possible while the project is at the stage “Formation survey”."
    ]
    assert Project.objects.get(pk=project.pk).stage == ProjectStage.FORMATION_SURVEY
    assert not project.stage_changes.exists()


def test_cancelling_needs_a_reason(project, staff):
    with pytest.raises(ValidationError) as raised:
        move(project, "cancel", staff, reason="  ")
    assert raised.value.messages == ["Give the reason for cancelling the project."]
    change = move(project, "cancel", staff, reason="The city withdrew its co-funding.")
    project.refresh_from_db()
    assert (project.stage, project.cancel_reason, change.message) == (
        ProjectStage.CANCELLED,
        "The city withdrew its co-funding.",
        "The city withdrew its co-funding.",
    )
    with pytest.raises(ValidationError):
        move(project, "cancel", staff, reason="Again")


@pytest.mark.parametrize("role", ["danang_lead", "cebu_lead", "reviewer"])
def test_only_staff_move_a_project(request, project, role):
    with pytest.raises(PermissionDenied):
        move(project, "cancel", request.getfixturevalue(role), reason="No")
    assert Project.objects.get(pk=project.pk).stage == ProjectStage.FORMATION_SURVEY


def test_the_city_is_told_of_a_stage_change(project, staff, danang_lead, deliver):
    project.deliverables.filter(kind=DeliverableKind.FINAL).update(state=DeliverableState.ACCEPTED)
    mail.outbox.clear()
    deliver(move, project, "promote_investment", staff, message="Off to JBIC.")
    (message,) = [m for m in mail.outbox if m.to == [danang_lead.email]]
    assert "is now at “Investment promotion”" in message.subject
    assert "Off to JBIC." in message.body


# Who sees a project ---------------------------------------------------------------------------


def test_the_project_page_for_its_city_and_staff_only(project, danang_lead, cebu_lead, staff):
    url = reverse("project_detail", args=[project.code])
    consultant_elsewhere = UserFactory()
    reviewer = in_group(UserFactory(is_staff=True), "MLIT reviewers")
    for user, status in (
        (danang_lead, 200),
        (staff, 200),
        (cebu_lead, 404),
        (consultant_elsewhere, 404),
        (reviewer, 404),
    ):
        client = Client()
        client.force_login(user)
        assert client.get(url).status_code == status, user
    assert Client().get(url).status_code == 404  # unpublished: as if it did not exist
    client = Client()
    client.force_login(cebu_lead)
    assert client.get(reverse("project_detail", args=["nosuchproject"])).status_code == 404


def test_the_project_page_shows_stage_plan_and_history_and_links_from_the_proposal(
    project, danang_lead, staff, assert_page_queries
):
    project.deliverables.filter(kind=DeliverableKind.FINAL).update(state=DeliverableState.ACCEPTED)
    move(project, "promote_investment", staff, message="Survey reported.")
    client = Client()
    client.force_login(danang_lead)
    proposal_page = client.get(reverse("proposal_detail", args=[project.proposal.code]))
    assert reverse("project_detail", args=[project.code]) in proposal_page.content.decode()
    url = reverse("project_detail", args=[project.code])
    client.get(url)
    # The user, the project with its proposal, call, city and the reader's place, the plan, its
    # versions, the history and the financing (the session is in the cache).
    with assert_page_queries(6):
        page = client.get(url).content.decode()
    assert "Investment promotion" in page and "Survey reported." in page
    assert "Final report" in page and "Accepted" in page
    assert staff.email not in page and str(staff) not in page  # cities see no staff names


def test_the_project_page_query_count_does_not_grow(
    project, danang_lead, staff, assert_page_queries
):
    client = Client()
    client.force_login(danang_lead)
    url = reverse("project_detail", args=[project.code])
    client.get(url)
    with assert_page_queries(6):
        client.get(url)
    for n in range(5):
        project.stage_changes.create(
            from_stage="formation_survey", to_stage="formation_survey", actor=staff, message=f"{n}"
        )
    with assert_page_queries(6):
        client.get(url)


def test_staff_take_stages_as_admin_actions(project, staff):
    client = Client()
    client.force_login(staff)
    changelist = reverse("admin:proposals_project_changelist")
    assert client.get(changelist).status_code == 200
    response = client.post(
        changelist,
        {"action": "take_promote_investment", "_selected_action": [project.pk]},
        follow=True,
    )
    assert "The final report of the survey must be accepted first." in response.content.decode()
    project.deliverables.filter(kind=DeliverableKind.FINAL).update(state=DeliverableState.ACCEPTED)
    client.post(changelist, {"action": "take_promote_investment", "_selected_action": [project.pk]})
    assert Project.objects.get(pk=project.pk).stage == ProjectStage.INVESTMENT
    assert (
        client.get(reverse("admin:proposals_project_change", args=[project.pk])).status_code == 200
    )
    assert Proposal.objects.filter(project=project).exists()


def test_staff_cancel_a_project_with_a_reason_in_the_admin(project, staff, danang_lead):
    client = Client()
    client.force_login(staff)
    changelist = reverse("admin:proposals_project_changelist")
    form = client.post(changelist, {"action": "cancel_projects", "_selected_action": [project.pk]})
    assert "Reason for cancelling" in form.content.decode()
    client.post(
        changelist,
        {
            "action": "cancel_projects",
            "_selected_action": [project.pk],
            "apply": "1",
            "reason": "The city withdrew its co-funding.",
        },
    )
    project.refresh_from_db()
    assert (project.stage, project.cancel_reason) == (
        ProjectStage.CANCELLED,
        "The city withdrew its co-funding.",
    )
    lead = Client()
    lead.force_login(danang_lead)
    page = lead.get(reverse("project_detail", args=[project.code])).content.decode()
    assert "The city withdrew its co-funding." in page


def test_my_projects_lists_ones_own_only_and_does_not_grow(
    project, danang_lead, cebu_lead, staff, call, cebu, approve, assert_page_queries
):
    other = approve(make_proposal(call, cebu, cebu_lead, title="BRT for Cebu"), cebu_lead).project
    consultant = UserFactory(email="firm@survey.example")
    other.consultants.add(consultant)
    url = reverse("my_projects")

    def listed(user):
        client = Client()
        client.force_login(user)
        page = client.get(url).content.decode()
        return {code for code in (project.code, other.code) if f"/projects/{code}/" in page}

    assert listed(danang_lead) == {project.code}
    assert listed(cebu_lead) == {other.code}
    assert listed(consultant) == {other.code}
    assert listed(staff) == {project.code, other.code}
    assert listed(UserFactory()) == set()
    client = Client()
    client.force_login(staff)
    client.get(url)
    with assert_page_queries(5):  # the user, staff's permissions (two), the count, the page
        client.get(url)
    for n in range(2):
        approve(make_proposal(call, cebu, cebu_lead, title=f"More {n}"), cebu_lead)
    with assert_page_queries(5):
        client.get(url)


def test_the_kick_off_with_its_signed_minutes(
    project, staff, danang_lead, cebu_lead, private_files
):
    import datetime

    from proposals.models import KickOff

    from .factories import pdf_bytes, upload

    client = Client()
    client.force_login(staff)
    change = reverse("admin:proposals_project_change", args=[project.pk])
    data = {
        "report_by": project.report_by.isoformat(),
        "fiscal_year": project.fiscal_year,
        "consultants": "",
        "kickoff-TOTAL_FORMS": "1",
        "kickoff-INITIAL_FORMS": "0",
        "kickoff-0-held_on": "2026-05-20",
        "kickoff-0-place": "Da Nang City Hall",
        "kickoff-0-mlit_signatory": "Counsellor Ito",
        "kickoff-0-city_signatory": "Mayor of Da Nang",
        "kickoff-0-committee": "MLIT\nDa Nang DOST\n\nNippon Survey",
        "kickoff-0-minutes": upload("minutes.html", b"<html>not a pdf</html>", "application/pdf"),
        "kickoff-0-project": project.pk,
    }
    for prefix in ("deliverables", "payments", "financing_tracks", "invitations", "stage_changes"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    for n, deliverable in enumerate(project.deliverables.all()):
        data |= {
            f"deliverables-{n}-id": deliverable.pk,
            f"deliverables-{n}-project": project.pk,
            f"deliverables-{n}-due_on": deliverable.due_on.isoformat(),
        }
    data["deliverables-TOTAL_FORMS"] = data["deliverables-INITIAL_FORMS"] = "4"
    response = client.post(change, data)
    assert response.status_code == 200 and "not a PDF document" in response.content.decode()
    assert not KickOff.objects.exists()
    data["kickoff-0-minutes"] = upload("Biên bản ký.pdf", pdf_bytes("minutes"))
    response = client.post(change, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    kickoff = KickOff.objects.get()
    assert (kickoff.held_on, kickoff.minutes_name) == (
        datetime.date(2026, 5, 20),
        "Biên bản ký.pdf",
    )
    assert kickoff.committee_members() == ["MLIT", "Da Nang DOST", "Nippon Survey"]

    lead = Client()
    lead.force_login(danang_lead)
    page = lead.get(reverse("project_detail", args=[project.code])).content.decode()
    assert "Da Nang City Hall" in page and "Counsellor Ito" in page and "Nippon Survey" in page
    minutes = reverse("kickoff_minutes", args=[project.code])
    response = lead.get(minutes)
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"%PDF")
    other = Client()
    other.force_login(cebu_lead)
    assert other.get(minutes).status_code == 404
