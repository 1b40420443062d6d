"""The reviewer's review page in the browser (issue 18), at 1280 and 390 px: the conflict box
by its label, the running weighted total live with JavaScript and on save without it (by the
formula of proposals/scoring.py), the confirmation before the review is locked; each page
without horizontal overflow and without serious or critical axe-core violations."""

import re

import pytest
from playwright.sync_api import expect

from proposals import services
from proposals.models import AssignmentState
from proposals.scoring import weighted_score

from ..factories import make_proposal, under_review
from .axe import check
from .conftest import assert_cards, sign_in_with_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture
def assignment(call, cebu, cebu_lead, staff, reviewer):
    proposal = under_review(
        make_proposal(call, cebu, cebu_lead, title="BRT fare integration"),
        lead=cebu_lead,
        staff=staff,
    )
    (assignment,), _skipped = services.assign_reviewers(
        actor=staff, proposals=[proposal], reviewers=[reviewer], due=call.closes_at.date()
    )
    return assignment


def open_review(new_page, reviewer, assignment, width, *, javascript=True):
    page = new_page(viewport={"width": width, "height": 900}, java_script_enabled=javascript)
    url = f"/admin/proposals/reviewassignment/{assignment.pk}/review/"
    sign_in_with_second_factor(page, reviewer, next_url=url)
    return page


def pick(page, criterion, score):
    page.get_by_role("group", name=re.compile(criterion)).get_by_label(score, exact=True).check()


def total(page):
    return " ".join(page.locator("#running-total").inner_text().split())


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_reviewer_sees_the_total_live_and_confirms_before_locking(
    new_page, reviewer, assignment, width
):
    assignment.proposal.call.criteria.filter(name__startswith="Relevance").update(
        descriptor_1="The problem is not described.", descriptor_5="Measured, its causes shown."
    )
    page = open_review(new_page, reviewer, assignment, width)
    check(page)
    # The reason box is reached by its label.
    page.get_by_label("Yes, I have one").check()
    page.get_by_label("If yes: what is the conflict?").fill("")
    page.get_by_label("No, I have no conflict of interest").check()
    page.get_by_role("button", name="Declare").click()
    page.get_by_role("heading", name="The proposal").wait_for()
    check(page)
    assert total(page) == "Weighted total: — out of 5; 0 of 2 criteria scored"

    # Issue 19: what each score means, beside its radio and as its description.
    relevance = page.get_by_role("group", name=re.compile("Relevance"))
    assert relevance.get_by_text("Measured, its causes shown.").is_visible()
    expect(relevance.get_by_label("5", exact=True)).to_have_accessible_description(
        "Measured, its causes shown."
    )

    rubric = {c.name: c.weight for c in assignment.proposal.call.criteria.all()}
    pick(page, "Relevance", "5")
    assert total(page) == "Weighted total: 5.00 out of 5; 1 of 2 criteria scored"
    pick(page, "Feasibility", "2")
    expected = weighted_score([(rubric["Relevance"], 5), (rubric["Feasibility"], 2)])
    assert total(page) == f"Weighted total: {expected:.2f} out of 5; 2 of 2 criteria scored"
    page.get_by_label("Comment to programme staff").fill("Clear, " + "well-partnered " * 30)
    page.get_by_label("Recommendation").select_option("fund")

    # The confirmation opens over the page (static/js/confirm.js); "Back" closes it.
    page.get_by_role("button", name="Submit review").click()
    dialog = page.get_by_role("dialog", name="Submit this review?")
    dialog.wait_for()
    check(page)
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.ACCEPTED  # nothing locked yet
    assert f"{expected:.2f}" in " ".join(dialog.locator(".running-total").inner_text().split())
    dialog.get_by_role("button", name="Back to the review").click()
    dialog.wait_for(state="detached")
    page.get_by_role("button", name="Submit review").click()
    dialog.get_by_role("button", name="Submit and lock the review").click()
    page.get_by_text("Your review is submitted.").wait_for()
    check(page)
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.SUBMITTED
    assert float(assignment.review.weighted_score) == pytest.approx(expected)

    # My assignments: cards on a phone.
    page.goto("/admin/proposals/reviewassignment/")
    assert_cards(page.locator("#result_list tbody tr").first, width, "Review due")
    check(page)


def test_without_javascript_the_total_comes_with_each_save(new_page, reviewer, assignment):
    # (No axe or overflow check here: Playwright's evaluation waits forever on a page without
    # JavaScript. The same pages are checked with JavaScript on above.)
    services.declare_conflict(reviewer=reviewer, assignment=assignment, conflict=False)
    page = open_review(new_page, reviewer, assignment, WIDTHS["phone"], javascript=False)
    pick(page, "Relevance", "4")
    pick(page, "Feasibility", "5")
    assert total(page) == "Weighted total: — out of 5; 0 of 2 criteria scored"  # not live
    page.get_by_role("button", name="Save draft").click()
    page.get_by_text("Your draft is saved.").wait_for()
    rubric = {c.name: c.weight for c in assignment.proposal.call.criteria.all()}
    expected = weighted_score([(rubric["Relevance"], 4), (rubric["Feasibility"], 5)])
    assert total(page) == f"Weighted total: {expected:.2f} out of 5; 2 of 2 criteria scored"

    # Submitting without a recommendation: refused before any confirmation.
    page.get_by_role("button", name="Submit review").click()
    page.get_by_text("Choose a recommendation before submitting.").wait_for()
    page.get_by_label("Recommendation").select_option("fund_with_changes")
    page.get_by_role("button", name="Submit review").click()
    page.get_by_role("heading", name="Submit this review?").wait_for()
    # Back to the form, a score changed, then confirmed.
    page.get_by_role("button", name="Back to the review").click()
    pick(page, "Feasibility", "3")
    page.get_by_role("button", name="Submit review").click()
    page.get_by_role("button", name="Submit and lock the review").click()
    page.get_by_text("Your review is submitted.").wait_for()
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.SUBMITTED
    assert sorted(assignment.review.scores.values_list("value", flat=True)) == [3, 4]
    assert assignment.review.recommendation == "fund_with_changes"
