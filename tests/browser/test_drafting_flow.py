"""Issue 18, the drafting flow in the browser, on a desktop and on a 390 px phone: the draft
form in sections with its checklist, removing a file and submitting after a confirmation,
"ready for the lead", the receipt, the print view and a notification read in the portal. Every
page visited is checked for sideways scrolling and for serious or critical axe violations."""

import re

import pytest

from proposals import services
from proposals.models import AttachmentKind, Proposal, Status

from ..conftest import member
from ..factories import PASSWORD, make_call, make_proposal, upload
from .axe import check

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# No name in the profile: the page shows the address, which must wrap on a phone.
LONG_EMAIL = (
    "maria.clara.hernandez-delacruz.urban-planning-office@danang-city-government.example.org"
)


def sign_in(page, email):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("link", name="My proposals").first.wait_for(state="attached")


@pytest.mark.parametrize("size", WIDTHS, ids=list(WIDTHS))
def test_an_editor_prepares_and_the_lead_submits_after_confirming(
    new_page, size, call, danang, danang_lead
):
    editor_user = member(danang, LONG_EMAIL, "", "editor")
    draft = make_proposal(call, danang, editor_user)
    services.add_attachment(
        user=editor_user, proposal=draft, kind=AttachmentKind.MAP, upload=upload("old-map.pdf")
    )
    phone = size == "phone"

    # The editor: the form in sections, the checklist before the form on a phone.
    editor = new_page(viewport=WIDTHS[size])
    sign_in(editor, LONG_EMAIL)
    editor.goto(f"/proposals/{draft.code}/edit/")
    editor.get_by_role("heading", name="Ready to submit?").wait_for()
    check(editor, "the edit page")
    checklist = editor.locator(".checklist").bounding_box()
    form = editor.locator("details.form-section").first.bounding_box()
    if phone:
        assert checklist["y"] < form["y"]
    else:
        assert checklist["x"] > form["x"] + form["width"] - 1  # beside it, on the right
    # A closed section opens with a click (no JavaScript needed for it).
    problem = editor.locator("details.form-section", has_text="Problem and solution")
    assert not problem.evaluate("d => d.open")
    problem.locator("summary").click()
    editor.get_by_label("Problem to solve").wait_for()
    # The empty partner row is optional: no asterisk (the stored one has them).
    editor.locator("details.form-section", has_text="Japanese partners").locator("summary").click()
    rows = editor.locator("#partners > div.border")
    assert rows.first.locator(".asteriskField").count() == 3  # the stored partner's
    assert rows.last.locator(".asteriskField").count() == 0

    # Removing a file asks first, in a dialog over the page (static/js/confirm.js); "Keep it"
    # closes it and keeps the file.
    edit_url = editor.url
    editor.get_by_role("link", name="Remove old-map.pdf").click()
    dialog = editor.get_by_role("dialog", name="Remove the file?")
    dialog.wait_for()
    assert editor.url == edit_url
    check(editor, "the removal's confirmation")
    dialog.get_by_role("link", name="Keep it").click()
    dialog.wait_for(state="detached")
    assert draft.attachments.count() == 2
    editor.get_by_role("link", name="Remove old-map.pdf").click()
    dialog.get_by_role("button", name="Yes, remove it").click()
    editor.get_by_text("old-map.pdf was removed.").wait_for()
    assert draft.attachments.count() == 1

    # The editor tells the lead.
    editor.goto(f"/proposals/{draft.code}/")
    editor.get_by_role("button", name="Tell the lead it is ready").click()
    editor.get_by_text("The city's leads have been told that the draft is ready.").wait_for()
    editor.locator("#ready-for-lead").wait_for()
    check(editor, "the proposal page, ready for the lead")

    # The lead: My proposals says so; cards on a phone, the deadline in view.
    lead = new_page(viewport=WIDTHS[size])
    sign_in(lead, danang_lead.email)
    lead.goto("/proposals/")
    lead.get_by_text(re.compile("Ready for the lead since")).wait_for()
    check(lead, "My proposals")
    deadline = lead.locator("#my-proposals td[data-label='Next deadline']").first.bounding_box()
    assert deadline["x"] + deadline["width"] <= WIDTHS[size]["width"]
    display = lead.locator("#my-proposals tr").nth(1).evaluate("r => getComputedStyle(r).display")
    assert (display == "block") == phone

    # Submitting shows what will be sent, and asks.
    lead.get_by_role("link", name=draft.title).click()
    lead.get_by_role("link", name="Submit the proposal").click()
    dialog = lead.get_by_role("dialog", name="Submit the proposal?")
    dialog.get_by_text("concept-note.pdf").wait_for()
    check(lead, "the submission's confirmation")
    assert Proposal.objects.get(pk=draft.pk).status == Status.DRAFT
    dialog.get_by_role("button", name="Yes, submit it").click()
    lead.get_by_role("heading", name="Submission receipt").wait_for()
    lead.get_by_role("heading", name="What happens next").wait_for()
    check(lead, "the receipt")
    draft.refresh_from_db()
    assert draft.status == Status.SUBMITTED and draft.ready_at is None

    # The print view has a print button with JavaScript on.
    lead.get_by_role("link", name="Print view").click()
    lead.get_by_role("button", name="Print").wait_for()
    check(lead, "the print view")

    # The receipt email, read in the portal.
    lead.goto("/notifications/")
    check(lead, "the notifications")
    lead.get_by_role("link", name=re.compile(f"proposal {draft.reference_code} received")).click()
    lead.get_by_text(re.compile("has been received under the reference")).wait_for()
    lead.get_by_text("What happens next:").wait_for()
    check(lead, "a notification")


@pytest.mark.parametrize("size", WIDTHS, ids=list(WIDTHS))
def test_without_javascript(new_page, size, call, danang, danang_lead, danang_editor):
    incomplete = make_proposal(call, danang, danang_editor, complete=False)
    complete = make_proposal(call, danang, danang_editor, title="Bus lanes")
    page = new_page(viewport=WIDTHS[size], java_script_enabled=False)
    sign_in(page, danang_lead.email)

    # A checklist item leads to its section, open, with its field.
    page.goto(f"/proposals/{incomplete.code}/edit/")
    page.get_by_role("link", name="Problem and solution").first.click()
    page.get_by_label("Problem to solve").wait_for()
    assert page.url.endswith("#section-1")
    check(page, "the edit page without JavaScript", accessible=False)

    # The confirmation works as a plain page and form.
    page.goto(f"/proposals/{complete.code}/")
    page.get_by_role("link", name="Submit the proposal").click()
    page.get_by_role("heading", name="Submit the proposal?").wait_for()
    assert page.url.endswith(f"/proposals/{complete.code}/submit/")
    page.get_by_role("button", name="Yes, submit it").click()
    page.get_by_role("heading", name="What happens next").wait_for()
    assert Proposal.objects.get(pk=complete.pk).status == Status.SUBMITTED

    # No print button that could do nothing.
    page.goto(f"/proposals/{complete.code}/print/")
    page.get_by_role("heading", name="Bus lanes").wait_for()
    assert page.get_by_role("button", name="Print").count() == 0
    check(page, "the print view without JavaScript", accessible=False)


def test_withdrawing_asks_in_a_dialog_with_its_reason(new_page, call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead, title="Flood sensors")
    services.submit_proposal(user=danang_lead, proposal=proposal)
    page = new_page(viewport=WIDTHS["phone"])
    sign_in(page, danang_lead.email)
    page.goto(f"/proposals/{proposal.code}/")
    page.get_by_role("link", name="Withdraw").click()
    dialog = page.get_by_role("dialog", name="Withdraw the proposal")
    dialog.get_by_label("Why do you withdraw this proposal?").wait_for()
    check(page, "the withdrawal's confirmation")
    # The reason is required: the browser asks for it before anything is posted.
    dialog.get_by_role("button", name="Yes, withdraw it").click()
    assert Proposal.objects.get(pk=proposal.pk).status == Status.SUBMITTED
    dialog.get_by_label("Why do you withdraw this proposal?").fill(
        "The council chose another site."
    )
    dialog.get_by_role("button", name="Yes, withdraw it").click()
    page.get_by_text("The proposal has been withdrawn.").wait_for()
    proposal.refresh_from_db()
    assert proposal.status == Status.WITHDRAWN
    assert proposal.status_changes.latest("created_at").message == "The council chose another site."


def test_a_declined_proposal_starts_the_next_calls_draft(
    new_page, call, danang, danang_lead, staff
):
    # Issue 19, item 9, on a phone: the earlier proposal, declined with its evaluation.
    earlier = make_proposal(call, danang, danang_lead, title="Flood sensors")
    services.submit_proposal(user=danang_lead, proposal=earlier)
    services.screen_proposal(actor=staff, proposal=earlier)
    services.write_evaluation_summary(
        actor=staff,
        proposal=earlier,
        language="en",
        overall="Name the districts that flood.",
        feedback={},
    )
    services.reject_proposal(actor=staff, proposal=earlier, letter="Not this year.")
    next_call = make_call("Smart JAMP 2028", opens_in_days=-1)
    page = new_page(viewport=WIDTHS["phone"])
    sign_in(page, danang_lead.email)
    page.goto(f"/proposals/{earlier.code}/")
    page.get_by_role("region", name="Evaluation summary").wait_for()
    page.get_by_role("link", name="Start a new proposal from this one").click()
    page.get_by_label("In the call").select_option(label=next_call.title)
    page.get_by_label("Copy its attachments too").check()
    check(page, "the copy's page")
    page.get_by_role("button", name="Start the new draft").click()
    page.get_by_text("Your new draft is ready, started from “Flood sensors”.").wait_for()
    page.get_by_text("Started from “Flood sensors” (Smart JAMP 2027).").wait_for()
    check(page, "the copy's edit page")
    copy = Proposal.objects.get(copied_from=earlier)
    assert copy.call == next_call and copy.attachments.count() == earlier.attachments.count()
