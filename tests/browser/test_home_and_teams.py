"""Issue 18, items 1, 2, 3 and the city page of 7: the home says what to do next to a lead and
to staff; a lead invites a colleague, who signs in from the email's link and is a member; an
official finds their city and asks to join; staff verify a city beside its letter. On a
desktop and on a 390 px phone, no page scrolling sideways and no serious or critical axe-core
violation."""

import datetime
import re
import urllib.parse

import pytest
from django.core import mail
from django.utils import timezone

from proposals import services
from proposals.models import City, CityMembership, JoinRequest, MemberRole, VerificationStatus

from ..factories import PASSWORD, UserFactory, make_city, make_proposal, under_review
from .axe import check
from .conftest import sign_in_with_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "phone": 390}


def sign_in(page, email, *, then="/"):
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(lambda url: urllib.parse.urlsplit(url).path == then)


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_a_lead_invites_a_colleague_who_signs_in_from_the_email(
    new_page, call, danang, danang_lead, width
):
    make_proposal(call, danang, danang_lead, title="Night market lighting", complete=False)
    colleague = UserFactory(email="pham.long.very.long.address@danang.gov.vn")
    lead = new_page(viewport={"width": width, "height": 900})
    lead.goto("/accounts/login/")
    sign_in(lead, danang_lead.email)
    lead.get_by_role("heading", name="What to do next").wait_for()
    drafts = lead.locator("section", has=lead.get_by_role("heading", name="Drafts"))
    assert "Night market lighting" in drafts.inner_text()
    assert "still missing" in drafts.inner_text()
    check(lead)

    lead.get_by_role("link", name="Da Nang").first.click()
    lead.get_by_role("heading", name="Invite colleagues").wait_for()
    lead.get_by_label("Colleague's email address").fill(colleague.email)
    lead.get_by_label("Role", exact=True).select_option("editor")
    lead.get_by_role("button", name="Send the invitation").click()
    lead.get_by_text(f"An invitation has been sent to {colleague.email}.").wait_for()
    assert lead.get_by_text(re.compile(r"\(Editor\), valid until")).is_visible()
    check(lead)

    # The colleague opens the email's link, not signed in, and signs in.
    link = re.search(r"https?://[^/\s]+(/invitations/[^/\s]+/)", mail.outbox[-1].body)[1]
    other = new_page(viewport={"width": width, "height": 900})
    other.goto(link)
    other.get_by_role("heading", name="Invitation to join Da Nang").wait_for()
    check(other)
    other.get_by_role("link", name="Sign in").last.click()
    sign_in(other, colleague.email, then=f"/cities/{danang.code}/")
    other.get_by_text("You are now a member of Da Nang.").wait_for()
    check(other)
    assert CityMembership.objects.get(city=danang, user=colleague).role == MemberRole.EDITOR

    # The used link says so.
    other.goto(link)
    other.get_by_text("This invitation has been used already.").wait_for()
    check(other)


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_an_official_finds_their_city_and_asks_to_join(
    new_page, official, danang, danang_lead, width
):
    page = new_page(viewport={"width": width, "height": 900})
    page.goto("/accounts/login/")
    sign_in(page, official.email)
    page.goto("/cities/")
    page.get_by_label("Name of the city").fill("nang")
    page.get_by_label("Country").select_option(label="Viet Nam")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("heading", name="1 city found").wait_for()
    check(page)
    page.get_by_label("Message to the city's leads").fill("I head the smart-city office.")
    page.get_by_role("button", name="Ask to join Da Nang").click()
    page.get_by_text("Your request to join Da Nang has been sent to its leads.").wait_for()
    check(page)
    assert JoinRequest.objects.filter(city=danang, user=official).exists()


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_staff_see_their_queues_and_verify_a_city_beside_its_letter(
    new_page, staff, reference_data, width
):
    city = make_city("Huế", "VN")
    City.objects.filter(pk=city.pk).update(
        verification_status=VerificationStatus.PENDING,
        registered_at=timezone.now(),
        letter_name="hue-authorisation-letter.pdf",
        authorisation_letter="letters/hue.pdf",
    )
    CityMembership.objects.create(
        city=city, user=UserFactory(email="lead.hue@example.org"), role=MemberRole.LEAD
    )
    page = new_page(viewport={"width": width, "height": 900})
    sign_in_with_second_factor(page, staff, next_url="/")
    page.get_by_role("heading", name="Work queues").wait_for()
    check(page)
    page.get_by_role("link", name="Cities to verify").click()
    page.get_by_role("link", name="Huế").first.wait_for()

    page.goto(f"/cities/{city.code}/")
    page.get_by_role("heading", name="Verify the registration").wait_for()
    assert page.get_by_role("link", name="hue-authorisation-letter.pdf").is_visible()
    check(page)
    page.get_by_role("button", name="Reject the registration").click()  # no reason: refused
    assert City.objects.get(pk=city.pk).verification_status == VerificationStatus.PENDING
    page.get_by_role("button", name="Verify the city").click()
    page.get_by_text("Huế is verified.").wait_for()
    check(page)
    assert City.objects.get(pk=city.pk).is_verified


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_a_pending_citys_lead_drafts_and_a_reviewer_sees_assignments_by_due_date(
    new_page, call, staff, reviewer, cebu, cebu_lead, width
):
    # Item 3: the city awaits verification; its lead is told how long, and drafts meanwhile.
    city = make_city("Huế", "VN")
    City.objects.filter(pk=city.pk).update(
        verification_status=VerificationStatus.PENDING, registered_at=timezone.now()
    )
    lead_user = UserFactory(email="lead.hue@example.org")
    CityMembership.objects.create(city=city, user=lead_user, role=MemberRole.LEAD)
    lead = new_page(viewport={"width": width, "height": 900})
    lead.goto("/accounts/login/")
    sign_in(lead, lead_user.email)
    lead.get_by_text(re.compile(r"Verification usually takes up to \d+ working days")).wait_for()
    check(lead)
    lead.goto(f"/calls/{call.code}/")
    lead.get_by_label("Working title").fill("Perfume River lighting")
    lead.get_by_role("button", name="Start a proposal").click()
    lead.wait_for_url(re.compile(r"/proposals/[^/]+/edit/$"))
    code = lead.url.rstrip("/").split("/")[-2]
    lead.goto(f"/proposals/{code}/submit/")
    lead.get_by_text("The city must be verified by programme staff first.").wait_for()
    assert lead.get_by_role("button", name="Yes, submit it").count() == 0
    check(lead)

    # Item 1 for a reviewer: their assignments on the home, the nearest due first.
    late, soon = (
        under_review(make_proposal(call, cebu, cebu_lead, title=t), lead=cebu_lead, staff=staff)
        for t in ("Bus lanes", "Ferry piers")
    )
    today = timezone.localdate()
    for proposal, days in ((late, 20), (soon, 3)):
        services.assign_reviewers(
            actor=staff,
            proposals=[proposal],
            reviewers=[reviewer],
            due=today + datetime.timedelta(days=days),
        )
    page = new_page(viewport={"width": width, "height": 900})
    sign_in_with_second_factor(page, reviewer, next_url="/")
    section = page.locator("section", has=page.get_by_role("heading", name="My review assignments"))
    titles = section.get_by_role("link").all_inner_texts()
    assert titles == ["Ferry piers", "Bus lanes"]
    check(page)
    section.get_by_role("link", name="Ferry piers").click()
    page.get_by_role("heading", name="First: any conflict of interest?").wait_for()
