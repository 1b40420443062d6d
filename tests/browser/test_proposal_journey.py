"""Da Nang drafts a proposal together and submits it; Cebu cannot see it."""

import re

import pytest

from proposals.models import Proposal

from ..factories import PASSWORD, pdf_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("link", name="My proposals").wait_for()


def open_section(page, title):
    """Opens a section of the draft form (a <details>) as a person does: by its summary."""
    section = page.locator("details.form-section").filter(
        has=page.locator("summary", has_text=title)
    )
    if section.get_attribute("open") is None:
        section.locator("summary").click()
    section.locator("fieldset").first.wait_for()


def test_city_drafts_together_and_submits(
    new_page, call, danang_lead, danang_editor, cebu_lead, tmp_path
):
    lead = new_page()
    sign_in(lead, danang_lead.email)

    # The lead starts a proposal from the call and fills it in.
    lead.goto("/calls/")
    lead.get_by_role("link", name=call.title).click()
    lead.get_by_label("Working title").fill("Cảnh báo lũ sớm sông Hàn")
    lead.get_by_role("button", name="Start a proposal").click()
    lead.get_by_role("heading", name="Cảnh báo lũ sớm sông Hàn").wait_for()
    open_section(lead, "Overview")
    lead.get_by_label("Summary").fill("Cảnh báo lũ cho người dân trước nhiều giờ.")
    lead.get_by_label("Contact person").fill("Nguyễn Văn An")
    lead.get_by_label("Contact email").fill("an@danang.gov.vn")
    open_section(lead, "Problem and solution")
    lead.get_by_label("Problem to solve").fill("Floods cut roads every rainy season.")
    lead.get_by_label("Proposed solution").fill("River sensors and SMS alerts.")
    open_section(lead, "Focus areas and sectors")
    lead.get_by_label("Quality environment").check()
    lead.get_by_label("Disaster risk reduction").check()
    open_section(lead, "Outcomes and indicators")
    lead.get_by_label("Expected outcomes").fill("Fewer losses.")
    lead.get_by_label("Indicators").fill("Households warned: 20% to 90%.")
    open_section(lead, "Timeline")
    lead.get_by_label("Planned start").fill("2027-07-01")
    lead.get_by_label("Duration (months)").fill("9")
    lead.get_by_label("Milestones").fill("Survey; design; financing plan.")
    open_section(lead, "Budget and financing")
    lead.get_by_label("Total cost (JPY)").fill("80000000")
    lead.get_by_label("Requested amount (JPY)").fill("40000000")
    lead.get_by_label("MLIT project formation survey").check()
    open_section(lead, "Declaration")
    lead.get_by_label("Declaration").check()
    lead.get_by_role("button", name="Save draft").click()
    lead.get_by_text(re.compile("Draft saved at")).first.wait_for()

    note = tmp_path / "concept-note.pdf"
    note.write_bytes(pdf_bytes("concept note"))
    lead.get_by_label("Kind of document").select_option("concept_note")
    lead.get_by_label("File").set_input_files(str(note))
    lead.get_by_role("button", name="Upload").click()
    lead.get_by_text("concept-note.pdf is attached.").wait_for()

    # The editor adds a Japanese partner.
    editor = new_page()
    sign_in(editor, danang_editor.email)
    editor.goto("/proposals/")
    editor.get_by_role("link", name="Cảnh báo lũ sớm sông Hàn").click()
    editor.get_by_role("link", name="Edit the draft").click()
    open_section(editor, "Japanese partners")
    editor.locator("#id_partners-0-name").fill("Nippon Koei Co., Ltd.")
    editor.locator("#id_partners-0-kind").select_option("company")
    editor.locator("#id_partners-0-role").fill("Survey lead")
    editor.get_by_role("button", name="Save draft").click()
    editor.get_by_text(re.compile("Draft saved at")).first.wait_for()
    assert editor.get_by_role("button", name="Submit the proposal").count() == 0
    assert editor.get_by_role("link", name="Submit the proposal").count() == 0

    # The lead submits, and sees the reference code and the timeline.
    proposal = Proposal.objects.get(title="Cảnh báo lũ sớm sông Hàn")
    lead.goto(f"/proposals/{proposal.code}/")
    lead.get_by_text("Everything needed is there.").wait_for()
    # Submit leads to a summary of what will be sent; only its own button submits.
    lead.get_by_role("link", name="Submit the proposal").click()
    lead.get_by_role("heading", name="Submit the proposal?").wait_for()
    assert lead.get_by_text("Nippon Koei Co., Ltd.").is_visible()
    assert lead.get_by_text("concept-note.pdf (Concept note)").is_visible()
    proposal.refresh_from_db()
    assert proposal.reference_code is None
    lead.get_by_role("button", name="Yes, submit it").click()
    lead.get_by_role("heading", name="Submission receipt").wait_for()
    proposal.refresh_from_db()
    assert re.fullmatch(r"SJ-\d{4}-VN-0001", proposal.reference_code)
    assert lead.get_by_text(proposal.reference_code, exact=True).is_visible()
    lead.get_by_role("link", name="Follow the proposal").click()
    assert lead.locator(".timeline").get_by_text("Submitted", exact=True).is_visible()
    assert list(proposal.partners.values_list("name", flat=True)) == ["Nippon Koei Co., Ltd."]

    # Another city's lead gets 404.
    other = new_page()
    sign_in(other, cebu_lead.email)
    response = other.goto(f"/proposals/{proposal.code}/")
    assert response.status == 404
    assert other.get_by_role("heading", name="Page not found").is_visible()
