"""Issue 18, item 7 (and the staff side of item 6): staff go from the dashboard to the
proposal, screen it with the proposal in view, assign reviewers with their load and a due date
prefilled, decide with each reviewer's scores beside the aggregate (refused while a review is
outstanding, unless they confirm), on a desktop and on a 390 px phone, with no page scrolling
sideways and no serious or critical axe-core violation."""

import datetime

import pytest

from proposals import services
from proposals.fiscal import jst_today
from proposals.models import Status

from ..factories import make_city, make_proposal, review, under_review
from .axe import check
from .conftest import assert_cards, sign_in_with_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture
def work(call, danang, danang_lead, cebu, cebu_lead, staff, reviewer, reviewer2):
    """Da Nang's proposal under review (reviewer 1 done, reviewer 2 outstanding) and Cebu's
    proposal submitted, waiting for screening."""
    reviewing = under_review(
        make_proposal(call, danang, danang_lead, title="Cảnh báo lũ sớm sông Hàn"),
        lead=danang_lead,
        staff=staff,
    )
    review(reviewing, reviewer, [5, 4], staff=staff)
    services.assign_reviewers(
        actor=staff,
        proposals=[reviewing],
        reviewers=[reviewer2],
        due=jst_today() + datetime.timedelta(days=7),
    )
    submitted = make_proposal(call, cebu, cebu_lead, title="Bus fares for everyone")
    services.submit_proposal(user=cebu_lead, proposal=submitted)
    submitted.refresh_from_db()
    reviewing.refresh_from_db()
    return reviewing, submitted


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_staff_dashboard_leads_to_the_work(new_page, work, staff, width):
    reviewing, _submitted = work
    page = new_page(viewport={"width": width, "height": 900})
    sign_in_with_second_factor(page, staff, next_url="/staff/")
    check(page)

    # Amounts in yen, the bar's legend in words.
    table = page.locator("#proposals-table")
    assert "¥40,000,000" in table.inner_text()
    legend = page.locator(".chart-legend").first.inner_text()
    assert "Requested: ¥80,000,000" in legend and "Envelope:" in legend
    if width < 576:
        # A card per row: each value under its column's name, the header kept for readers.
        assert table.locator("td").first.evaluate("td => getComputedStyle(td).display") == "flex"
        assert table.locator("thead").evaluate("h => h.getBoundingClientRect().width") <= 1

    # The row leads to the proposal's admin page, and from there to screening.
    page.get_by_role("link", name=reviewing.reference_code).click()
    page.wait_for_url(f"**/admin/proposals/proposal/{reviewing.pk}/change/")
    check(page, accessible=False)  # Django's own change form: another helper's axe pass


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_staff_screen_assign_and_decide(new_page, work, staff, reviewer, reviewer2, width):
    reviewing, submitted = work
    page = new_page(viewport={"width": width, "height": 900})
    sign_in_with_second_factor(
        page, staff, next_url=f"/admin/proposals/proposal/{submitted.pk}/screening/"
    )
    # The screening page shows what is screened.
    page.get_by_role("heading", name="The proposal").wait_for()
    assert "Households warned in time" in page.locator(".screened-proposal").inner_text()
    check(page)

    # Assigning: each reviewer's open load, the due date prefilled.
    page.goto("/admin/proposals/proposal/")
    page.locator(f'input.action-select[value="{reviewing.pk}"]').check()
    page.get_by_role("combobox", name="Action").select_option("assign_selected")
    page.get_by_role("button", name="Go").click()
    page.get_by_text(f"{reviewer2} · 1 review open").wait_for()
    assert page.get_by_text(f"{reviewer} · 0 reviews open").count() == 1
    due = jst_today() + datetime.timedelta(days=14)
    assert page.get_by_label("Review due").input_value() == due.isoformat()
    check(page)

    # The decision page: each reviewer beside the aggregate; shortlisting waits.
    page.goto(f"/admin/proposals/proposal/{reviewing.pk}/decision/")
    reviewers = page.get_by_role("region", name="Each reviewer")
    assert "Solid." in reviewers.inner_text()
    check(page)
    page.get_by_role("button", name="Shortlist").click()
    page.get_by_text("1 review is still outstanding: wait for it").wait_for()
    reviewing.refresh_from_db()
    assert reviewing.status == Status.UNDER_REVIEW
    check(page)
    page.get_by_label("Decide now, without the 1 outstanding review").first.check()
    page.get_by_role("button", name="Shortlist").click()
    page.get_by_text("Shortlisted.").wait_for()
    reviewing.refresh_from_db()
    assert reviewing.status == Status.SHORTLISTED

    # The ranking fits the window; on a phone each proposal is a card, values under their names.
    page.goto(f"/admin/proposals/call/{reviewing.call_id}/ranking/")
    ranking = page.get_by_role("region", name="Ranking")
    ranking.wait_for()
    check(page)
    assert_cards(ranking.locator("tbody tr").first, width, "Reference")

    # So is Django's change list (templates/admin/change_list_results.html).
    page.goto("/admin/proposals/proposal/")
    assert_cards(page.locator("#result_list tbody tr").first, width, "Title")
    check(page)


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_staff_find_the_applications_and_their_letter(new_page, reference_data, staff, width):
    hue = make_city("Huế", "VN")
    page = new_page(viewport={"width": width, "height": 900})
    sign_in_with_second_factor(page, staff, next_url="/admin/proposals/city/")
    # Applications by default: Huế, not the reference rows nobody applied for.
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "Huế" in rows.first.inner_text()
    check(page, accessible=False)  # Django's own change list: another helper's axe pass
    page.get_by_role("link", name="Reference cities, no application").click()
    assert "Huế" not in page.locator("#result_list").inner_text()

    # The pending city's admin page: its letter, and the way to the decision beside it.
    page.goto(f"/admin/proposals/city/{hue.pk}/change/")
    page.get_by_role("link", name="letter.pdf").wait_for()
    page.get_by_role("link", name="Verify or reject on the city's page").click()
    page.wait_for_url(f"**/cities/{hue.code}/")
    check(page, accessible=False)  # the portal's city page: another helper's
