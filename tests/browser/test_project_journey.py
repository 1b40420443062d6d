"""After selection (issue 16): staff approve; the project appears for the city; the consultant,
invited by email, uploads the inception report; staff return it, accept it again uploaded;
after the final report, staff move the project to investment promotion and add a JBIC track;
the city sees each step, and each email of the journey is sent once."""

import collections
import urllib.parse

import pytest
from django.core import mail

from proposals.models import Notification, Proposal

from ..factories import PASSWORD, UserFactory, make_proposal, pdf_bytes, review, under_review
from .conftest import sign_in_with_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, user):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(lambda url: urllib.parse.urlsplit(url).path == "/")


def upload(page, deliverable: str, path):
    section = page.get_by_role("region", name=deliverable, exact=True)
    section.get_by_label("The report (PDF, DOCX or XLSX)").set_input_files(str(path))
    section.get_by_role("button", name="Upload").click()
    page.get_by_text("is uploaded for review.").wait_for()


def test_from_approval_to_a_jbic_track(new_page, call, cebu, cebu_lead, staff, reviewer2, tmp_path):
    from proposals import services

    proposal = under_review(
        make_proposal(call, cebu, cebu_lead, title="BRT fare integration"),
        lead=cebu_lead,
        staff=staff,
    )
    review(proposal, reviewer2, [4, 5], staff=staff)
    services.shortlist_proposal(actor=staff, proposal=proposal)
    consultant = UserFactory(email="pm@nippon-koei.example")
    report = tmp_path / "Inception report.pdf"
    report.write_bytes(pdf_bytes("inception"))

    # Staff approve in the admin.
    desk = new_page()
    sign_in_with_second_factor(desk, staff)
    desk.goto(f"/admin/proposals/proposal/{proposal.pk}/decision/")
    desk.get_by_label("Approved amount (JPY)").fill("30000000")
    desk.get_by_label("Decision letter").fill("Selected for a formation survey.")
    desk.get_by_role("button", name="Approve").click()
    desk.get_by_text("Approved; the city sees the decision letter.").wait_for()
    project = Proposal.objects.get(pk=proposal.pk).project

    # The project appears for the city lead, from the proposal.
    city = new_page(viewport={"width": 390, "height": 844})
    sign_in(city, cebu_lead)
    city.goto(f"/proposals/{proposal.code}/")
    city.get_by_role("link", name="Follow the project").click()
    city.get_by_role("heading", name="BRT fare integration").wait_for()
    assert "Formation survey" in city.locator(".badge.status").first.inner_text()

    # Staff invite the consultant (an admin action with its form).
    desk.goto("/admin/proposals/project/")
    desk.locator(f"input[name=_selected_action][value='{project.pk}']").check()
    desk.locator("select[name=action]").select_option("invite_consultant")
    desk.get_by_role("button", name="Go").click()
    desk.get_by_label("The consultant's email address").fill(consultant.email)
    desk.get_by_role("button", name="Invite").click()
    desk.get_by_text("The consultant is invited to 1 project.").wait_for()

    # The consultant uploads the inception report.
    firm = new_page()
    sign_in(firm, consultant)
    firm.goto(f"/projects/{project.code}/")
    upload(firm, "Inception report", report)

    # Staff return it with a comment; the consultant uploads it again; staff accept.
    desk.goto(f"/projects/{project.code}/")
    inception = desk.get_by_role("region", name="Inception report")
    inception.get_by_label("Comments (required to return it)").fill("Add the ridership survey.")
    inception.get_by_role("button", name="Return with comments").click()
    desk.get_by_text("Returned to the consultant with comments.").wait_for()
    firm.goto(f"/projects/{project.code}/")
    assert (
        "Add the ridership survey."
        in firm.get_by_role("region", name="Inception report").inner_text()
    )
    upload(firm, "Inception report", report)
    desk.goto(f"/projects/{project.code}/")
    desk.get_by_role("region", name="Inception report").get_by_role("button", name="Accept").click()
    desk.get_by_text("Accepted.").wait_for()

    # The city sees it accepted.
    city.goto(f"/projects/{project.code}/")
    assert "Accepted" in city.get_by_role("region", name="Inception report").inner_text()

    # The final report, accepted; staff move the project on and add a JBIC track.
    firm.goto(f"/projects/{project.code}/")
    upload(firm, "Final report", report)
    desk.goto(f"/projects/{project.code}/")
    desk.get_by_role("region", name="Final report", exact=True).get_by_role(
        "button", name="Accept"
    ).click()
    desk.get_by_text("Accepted.").wait_for()
    desk.goto("/admin/proposals/project/")
    desk.locator(f"input[name=_selected_action][value='{project.pk}']").check()
    desk.locator("select[name=action]").select_option("take_promote_investment")
    desk.get_by_role("button", name="Go").click()
    desk.get_by_text("1 row moved on.").wait_for()
    desk.goto("/admin/proposals/financingtrack/add/")
    desk.locator("input[name=project]").fill(str(project.pk))
    desk.locator("select[name=kind]").select_option("jbic_loan")
    desk.get_by_label("Counterpart").fill("JBIC, Infrastructure Finance")
    desk.get_by_label("Amount sought (JPY)").fill("2000000000")
    desk.get_by_role("button", name="Save", exact=True).click()
    desk.get_by_text("was added successfully").wait_for()

    city.goto(f"/projects/{project.code}/")
    text = city.locator("main").inner_text()
    assert "Investment promotion" in text and "JBIC loan" in text and "¥2,000,000,000" in text
    # The city sees the deliverables' states, not their files.
    assert city.locator("a[href*='/files/']").count() == 0
    assert city.evaluate("document.documentElement.scrollWidth") <= 390

    # Each email of the journey went out once: one message per notification in the outbox.
    notifications = Notification.objects.all()
    assert len(mail.outbox) == notifications.count() > 0
    assert set(notifications.values_list("state", flat=True)) == {"sent"}
    # Two uploads of the inception report are two notifications to staff, the second one too.
    to_staff = collections.Counter(m.subject for m in mail.outbox if m.to == [staff.email])
    code = Proposal.objects.get(pk=proposal.pk).reference_code
    assert to_staff[f"Smart JAMP: Inception report of {code} to review"] == 2
    subjects = " | ".join(m.subject for m in mail.outbox if m.to == [cebu_lead.email])
    for expected in (
        "is now a project",
        "Inception report",
        "is now at “Investment promotion”",
        "JBIC loan",
    ):
        assert expected in subjects, (expected, subjects)
