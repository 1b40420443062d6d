"""A reviewer scores in the admin; staff approve; the city sees the letter and no score."""

import re

import pytest

from proposals import services

from ..factories import PASSWORD, make_proposal, under_review
from .axe import check
from .conftest import sign_in_with_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reviewer_scores_staff_approve_city_sees_letter(
    new_page, call, cebu, cebu_lead, staff, reviewer
):
    proposal = under_review(
        make_proposal(call, cebu, cebu_lead, title="BRT fare integration"),
        lead=cebu_lead,
        staff=staff,
    )
    services.assign_reviewers(
        actor=staff, proposals=[proposal], reviewers=[reviewer], due=call.closes_at.date()
    )

    # The reviewer declares no conflict, scores each criterion and submits.
    panel = new_page()
    sign_in_with_second_factor(panel, reviewer)
    panel.get_by_role("link", name="Review assignments").first.click()
    panel.get_by_role("heading", name="My assignments").wait_for()
    panel.get_by_role("link", name="Review", exact=True).click()
    panel.get_by_label("No, I have no conflict of interest").check()
    panel.get_by_role("button", name="Declare").click()
    panel.get_by_role("heading", name="The proposal").wait_for()
    for criterion, score in (("Relevance", "5"), ("Feasibility", "4")):
        panel.get_by_role("group", name=re.compile(criterion)).get_by_label(
            score, exact=True
        ).check()
    panel.get_by_label("Comment to programme staff").fill("A strong, well-partnered proposal.")
    panel.get_by_label("Recommendation").select_option("fund")
    panel.get_by_role("button", name="Submit review").click()
    # Submitting asks first (a submitted review is locked): nothing is stored until confirmed.
    panel.get_by_role("heading", name="Submit this review?").wait_for()
    assert proposal.assignments.get(reviewer=reviewer).state != "submitted"
    panel.get_by_role("button", name="Submit and lock the review").click()
    panel.get_by_text("Your review is submitted.").wait_for()

    # Issue 19: staff open a consensus panel on the ranking, and record what it agreed.
    desk = new_page()
    sign_in_with_second_factor(desk, staff)
    desk.goto(f"/admin/proposals/call/{call.pk}/ranking/")
    desk.get_by_label("Held on").fill("2027-02-15")
    desk.get_by_label(str(reviewer), exact=True).check()
    desk.get_by_label(str(staff), exact=True).check()
    desk.get_by_role("button", name="Open the panel").click()
    desk.get_by_text("The panel is open").wait_for()
    check(desk)
    desk.goto(f"/admin/proposals/proposal/{proposal.pk}/consensus/")
    desk.get_by_role("heading", name="The individual reviews").wait_for()
    for criterion, score in (("Relevance", "4"), ("Feasibility", "4")):
        desk.get_by_role("group", name=criterion).get_by_label(score, exact=True).check()
    desk.get_by_label("Rationale").fill("The panel agrees with the reviewer.")
    desk.get_by_label("Recommendation").select_option("fund")
    desk.get_by_role("button", name="Record the consensus").click()
    desk.get_by_text("The panel's consensus is recorded.").wait_for()
    assert "The panel agrees with the reviewer." in desk.locator("#content").inner_text()
    check(desk)
    desk.goto(f"/admin/proposals/call/{call.pk}/ranking/?by=consensus")
    assert "4.00" in desk.get_by_role("region", name="Ranking").inner_text()

    # Staff see the aggregate and approve.
    desk.goto(f"/admin/proposals/proposal/{proposal.pk}/decision/")
    assert "Score 4.60 (Mean of 1 reviews)" in " ".join(
        desk.locator("#content").inner_text().split()
    )
    desk.get_by_role("button", name="Shortlist").click()
    # Issue 19: the evaluation summary the city will read, written from the reviews.
    desk.get_by_role("link", name="Evaluation summary").click()
    desk.get_by_text("A strong, well-partnered proposal.").wait_for()  # the reviewer's comment
    check(desk)
    desk.get_by_label("Overall assessment").fill("Selected first of the round.")
    desk.get_by_role("group", name="Relevance").get_by_label("Strengths").fill(
        "The fare problem is measured."
    )
    desk.get_by_role("button", name="Save the summary").click()
    desk.get_by_text("The evaluation summary is saved").wait_for()
    desk.goto(f"/admin/proposals/proposal/{proposal.pk}/decision/")
    # Issue 19: the envelope in view; beyond what remains, approving needs a reason.
    type(call).objects.filter(pk=call.pk).update(envelope_jpy=25_000_000)
    desk.reload()
    envelope = desk.locator("#envelope")
    assert "Remaining ¥25,000,000" in " ".join(envelope.inner_text().split())
    check(desk)
    desk.get_by_label("Approved amount (JPY)").fill("30000000")
    desk.get_by_label("Decision letter").fill("We are pleased to select your proposal.")
    desk.get_by_role("button", name="Approve").click()
    desk.get_by_text(re.compile("would go beyond the call's envelope: ¥25,000,000")).wait_for()
    assert desk.get_by_label("Decision letter").input_value().startswith("We are pleased")
    desk.get_by_label("Reason to approve beyond the envelope").fill("The ministry adds ¥5m.")
    desk.get_by_role("button", name="Approve").click()
    desk.get_by_text("Approved; the city sees the decision letter.").wait_for()

    # The city sees the approval and the letter, and no score.
    city = new_page()
    city.goto("/accounts/login/")
    city.get_by_label("Email").fill(cebu_lead.email)
    city.get_by_label("Password").fill(PASSWORD)
    city.get_by_role("button", name="Sign In").click()
    city.goto(f"/proposals/{proposal.code}/")
    assert city.locator(".badge.status").inner_text() == "Approved"
    letter = city.get_by_role("region", name="Decision letter")
    assert "We are pleased to select your proposal." in letter.inner_text()
    assert "¥30,000,000" in letter.inner_text()
    evaluation = city.get_by_role("region", name="Evaluation summary")
    assert "Selected first of the round." in evaluation.inner_text()
    assert "The fare problem is measured." in evaluation.inner_text()
    body = city.locator("body").inner_text()
    for secret in (
        "4.60",
        reviewer.full_name,
        "A strong, well-partnered proposal.",
        "The panel agrees with the reviewer.",
    ):
        assert secret not in body
