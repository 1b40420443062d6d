"""Issue 18, the drafting flow: the draft form in sections, confirmations before submitting,
removing a file and withdrawing, "ready for the lead", what happens after submission, the print
view and each notification readable in the portal."""

import datetime
import re

import pytest
from django.urls import reverse

from proposals import services
from proposals.models import (
    CITY_FIELDS,
    Attachment,
    AuditEvent,
    Notification,
    NotificationKind,
    Proposal,
    Status,
    StatusChange,
)

from ..conftest import member
from ..factories import make_proposal

pytestmark = pytest.mark.django_db

CONFIRM_FIRST = "Nothing was done yet: please confirm below."


@pytest.fixture
def draft(call, danang, danang_lead):
    return make_proposal(call, danang, danang_lead)


def page_of(response) -> str:
    return response.content.decode()


# Confirmations ---------------------------------------------------------------------------------


def test_submit_asks_first_with_a_summary_of_what_is_sent(client, draft, danang_lead):
    client.force_login(danang_lead)
    url = reverse("proposal_submit", args=[draft.code])
    page = page_of(client.get(url))
    assert "Submit the proposal?" in page
    assert draft.title in page and "concept-note.pdf" in page and "Tokyo Engineering" in page
    assert 'name="confirm" value="yes"' in page
    assert Proposal.objects.get(pk=draft.pk).status == Status.DRAFT

    response = client.post(url, {"confirm": "yes"})
    assert response["Location"] == reverse("proposal_receipt", args=[draft.code])
    assert Proposal.objects.get(pk=draft.pk).status == Status.SUBMITTED


def test_the_proposal_page_links_to_the_confirmation_not_a_direct_submit(
    client, draft, danang_lead
):
    client.force_login(danang_lead)
    page = page_of(client.get(reverse("proposal_detail", args=[draft.code])))
    submit = reverse("proposal_submit", args=[draft.code])
    assert f'href="{submit}"' in page
    assert f'action="{submit}"' not in page


def test_submit_posted_without_the_confirmation_stores_nothing(
    client, draft, danang_lead, django_capture_on_commit_callbacks
):
    client.force_login(danang_lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("proposal_submit", args=[draft.code]))
    assert response.status_code == 200
    assert CONFIRM_FIRST in page_of(response)
    assert 'name="confirm" value="yes"' in page_of(response)
    draft.refresh_from_db()
    assert (draft.status, draft.reference_code, draft.submitted_at) == (Status.DRAFT, None, None)
    assert not StatusChange.objects.filter(proposal=draft).exists()
    assert not Notification.objects.filter(kind=NotificationKind.SUBMISSION_RECEIPT).exists()


def test_an_incomplete_draft_shows_what_stops_it_and_no_confirm_button(
    client, call, danang, danang_lead
):
    proposal = make_proposal(call, danang, danang_lead, complete=False)
    client.force_login(danang_lead)
    url = reverse("proposal_submit", args=[proposal.code])
    page = page_of(client.get(url))
    assert "It cannot be submitted yet" in page and "a concept note" in page
    assert 'name="confirm"' not in page
    response = client.post(url, {"confirm": "yes"}, follow=True)
    assert "The proposal is incomplete" in page_of(response)
    assert Proposal.objects.get(pk=proposal.pk).status == Status.DRAFT


def test_only_a_lead_reaches_the_submit_confirmation(client, draft, danang_editor):
    client.force_login(danang_editor)
    assert client.get(reverse("proposal_submit", args=[draft.code])).status_code == 403
    assert (
        client.post(reverse("proposal_submit", args=[draft.code]), {"confirm": "yes"}).status_code
        == 403
    )
    assert Proposal.objects.get(pk=draft.pk).status == Status.DRAFT


def test_the_submit_confirmation_of_a_submitted_proposal_leads_back(client, draft, danang_lead):
    services.submit_proposal(user=danang_lead, proposal=draft)
    client.force_login(danang_lead)
    url = reverse("proposal_submit", args=[draft.code])
    assert client.get(url)["Location"] == reverse("proposal_detail", args=[draft.code])
    # Posted again (a second click): the receipt of the first.
    response = client.post(url, {"confirm": "yes"})
    assert response["Location"] == reverse("proposal_receipt", args=[draft.code])
    assert StatusChange.objects.filter(proposal=draft).count() == 1


def test_removing_a_file_asks_first(client, draft, danang_editor):
    attachment = draft.attachments.get()
    client.force_login(danang_editor)
    edit = page_of(client.get(reverse("proposal_edit", args=[draft.code])))
    url = reverse("proposal_attachment_delete", args=[draft.code, attachment.code])
    assert f'href="{url}"' in edit and f'action="{url}"' not in edit

    page = page_of(client.get(url))
    assert "Remove the file?" in page and "concept-note.pdf" in page
    skipped = client.post(url)
    assert skipped.status_code == 200 and CONFIRM_FIRST in page_of(skipped)
    assert Attachment.objects.filter(pk=attachment.pk).exists()
    assert not AuditEvent.objects.filter(action="attachment.deleted").exists()

    done = client.post(url, {"confirm": "yes"})
    assert done["Location"] == reverse("proposal_edit", args=[draft.code]) + "#attachments"
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
    assert AuditEvent.objects.filter(action="attachment.deleted").count() == 1


def test_removing_a_file_of_another_city_is_refused(client, draft, cebu_lead):
    attachment = draft.attachments.get()
    client.force_login(cebu_lead)
    url = reverse("proposal_attachment_delete", args=[draft.code, attachment.code])
    assert client.get(url).status_code == 404
    assert client.post(url, {"confirm": "yes"}).status_code == 404
    assert Attachment.objects.filter(pk=attachment.pk).exists()


def test_withdrawing_needs_the_confirmation_button(client, draft, danang_lead):
    services.submit_proposal(user=danang_lead, proposal=draft)
    client.force_login(danang_lead)
    url = reverse("proposal_withdraw", args=[draft.code])
    assert 'name="confirm" value="yes"' in page_of(client.get(url))
    skipped = client.post(url, {"reason": "The council changed its priorities."})
    assert skipped.status_code == 200 and CONFIRM_FIRST in page_of(skipped)
    assert Proposal.objects.get(pk=draft.pk).status == Status.SUBMITTED

    empty = client.post(url, {"reason": "", "confirm": "yes"})
    assert empty.context["form"].errors == {"reason": ["This field is required."]}
    assert Proposal.objects.get(pk=draft.pk).status == Status.SUBMITTED

    client.post(url, {"reason": "The council changed its priorities.", "confirm": "yes"})
    assert Proposal.objects.get(pk=draft.pk).status == Status.WITHDRAWN


# Ready for the lead ----------------------------------------------------------------------------


def ready_notifications(proposal):
    return Notification.objects.filter(kind=NotificationKind.DRAFT_READY).order_by("pk")


def test_an_editor_marks_the_draft_ready_and_the_leads_hear_once(
    client, draft, danang, danang_lead, danang_editor, django_capture_on_commit_callbacks
):
    second_lead = member(danang, "lead2.danang@example.org", "Trần Văn B", "lead")
    client.force_login(danang_editor)
    detail = page_of(client.get(reverse("proposal_detail", args=[draft.code])))
    assert "Tell the lead it is ready" in detail
    url = reverse("proposal_ready", args=[draft.code])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, follow=True)
        client.post(url)  # again: nothing new
    assert "The city&#x27;s leads have been told that the draft is ready." in page_of(response)
    draft.refresh_from_db()
    assert draft.ready_by == danang_editor and draft.ready_at is not None
    sent = ready_notifications(draft)
    assert {n.recipient for n in sent} == {danang_lead, second_lead}
    assert {n.dedup_key for n in sent} == {
        f"draft_ready:{draft.pk}:{draft.version}:{danang_lead.pk}",
        f"draft_ready:{draft.pk}:{draft.version}:{second_lead.pk}",
    }
    assert all(n.link == reverse("proposal_detail", args=[draft.code]) for n in sent)
    assert draft.title in sent[0].subject and "marked the draft" in sent[0].body_text
    assert AuditEvent.objects.filter(action="proposal.marked_ready").count() == 1

    client.force_login(danang_lead)
    detail = page_of(client.get(reverse("proposal_detail", args=[draft.code])))
    assert "Ready for the lead since" in detail and danang_editor.full_name in detail
    assert "Tell the lead it is ready" not in detail
    listed = page_of(client.get(reverse("my_proposals")))
    assert "Ready for the lead since" in listed


def stored(proposal) -> dict:
    return {name: getattr(proposal, name) for name in CITY_FIELDS}


def test_an_edit_clears_ready_and_a_new_version_is_told_again(
    draft, danang_lead, danang_editor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_ready_for_lead(user=danang_editor, proposal=draft)
    draft.refresh_from_db()
    # Saving without a change keeps it.
    same = services.save_draft(
        user=danang_editor,
        proposal=draft,
        base_version=draft.version,
        values=stored(draft),
        focus_areas=draft.focus_areas.all(),
        sectors=draft.sectors.all(),
        partners=list(draft.partners.values("name", "kind", "role")),
    )
    assert same.ready_at is not None
    changed = services.save_draft(
        user=danang_editor,
        proposal=same,
        base_version=same.version,
        values={**stored(same), "summary": "Shorter."},
        focus_areas=same.focus_areas.all(),
        sectors=same.sectors.all(),
        partners=list(same.partners.values("name", "kind", "role")),
    )
    assert (changed.ready_at, changed.ready_by) == (None, None)
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_ready_for_lead(user=danang_editor, proposal=changed)
    assert ready_notifications(draft).count() == 2  # one lead, two versions


def test_submitting_clears_ready(draft, danang_lead, danang_editor):
    services.mark_ready_for_lead(user=danang_editor, proposal=draft)
    submitted = services.submit_proposal(user=danang_lead, proposal=draft)
    submitted.refresh_from_db()
    assert (submitted.ready_at, submitted.ready_by) == (None, None)


def test_ready_is_refused_to_a_lead_to_others_and_after_submission(
    client, draft, danang_lead, danang_editor, cebu_lead
):
    url = reverse("proposal_ready", args=[draft.code])
    client.force_login(danang_lead)
    response = client.post(url, follow=True)
    assert "You are a lead of the city: you can submit the draft yourself." in page_of(response)
    client.force_login(cebu_lead)
    assert client.post(url).status_code == 404
    services.submit_proposal(user=danang_lead, proposal=draft)
    client.force_login(danang_editor)
    response = client.post(url, follow=True)
    assert "This proposal can no longer be edited." in page_of(response)
    assert client.get(url).status_code == 405
    assert Proposal.objects.get(pk=draft.pk).ready_at is None
    assert not Notification.objects.filter(kind=NotificationKind.DRAFT_READY).exists()


# The draft form --------------------------------------------------------------------------------


def test_a_new_draft_has_the_profile_as_its_contact(call, danang, danang_editor):
    proposal = services.start_proposal(user=danang_editor, call=call, city=danang, title="Bus")
    assert (proposal.contact_name, proposal.contact_email) == (
        danang_editor.full_name,
        danang_editor.email,
    )


def test_the_form_is_in_sections_the_checklist_links_to(client, call, danang, danang_editor):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    client.force_login(danang_editor)
    page = page_of(client.get(reverse("proposal_edit", args=[proposal.code])))
    assert page.count('<details class="form-section') == 8  # six sections, partners, declaration
    # Each missing item links to its section, which is open so the link lands without JS.
    for anchor in ("section-0", "section-1", "section-5", "attachments", "section-declaration"):
        assert f'href="#{anchor}"' in page, anchor
        assert f'id="{anchor}"' in page, anchor
    assert re.search(r"<details class=\"form-section[^>]*open>\s*<summary[^>]*>Problem", page)
    assert page.index('id="checklist-heading"') < page.index('id="section-0"')  # first on a phone
    # From the proposal page, the same items lead to the edit page.
    detail = page_of(client.get(reverse("proposal_detail", args=[proposal.code])))
    edit = reverse("proposal_edit", args=[proposal.code])
    assert f'href="{edit}#section-1"' in detail


def test_a_complete_section_is_closed_and_an_error_opens_it(client, draft, danang_editor):
    client.force_login(danang_editor)
    url = reverse("proposal_edit", args=[draft.code])
    page = page_of(client.get(url))
    assert re.search(r"<details class=\"form-section[^>]*>\s*<summary[^>]*>Problem", page)
    assert not re.search(r"<details class=\"form-section[^>]*open>\s*<summary[^>]*>Problem", page)
    data = {
        "base_version": draft.version,
        "title": draft.title,
        "duration_months": "500",
        "partners-TOTAL_FORMS": "1",
        "partners-INITIAL_FORMS": "0",
        "partners-MIN_NUM_FORMS": "0",
        "partners-MAX_NUM_FORMS": "20",
    }
    page = page_of(client.post(url, data))
    assert re.search(
        r"<details class=\"form-section[^>]*open>\s*<summary[^>]*>Timeline <span class=\"badge "
        r"text-bg-danger\">to correct",
        page,
    )


def test_the_empty_partner_row_has_no_required_marks(client, call, danang, danang_editor):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    client.force_login(danang_editor)
    url = reverse("proposal_edit", args=[proposal.code])
    page = page_of(client.get(url))
    partners = page[page.index('id="partners"') : page.index('id="section-declaration"')]
    assert "asteriskField" not in partners
    # A row half filled in is not optional: its missing fields are marked and said.
    half = {
        "base_version": proposal.version,
        "title": proposal.title,
        "partners-TOTAL_FORMS": "1",
        "partners-INITIAL_FORMS": "0",
        "partners-MIN_NUM_FORMS": "0",
        "partners-MAX_NUM_FORMS": "20",
        "partners-0-name": "Osaka University",
    }
    page = page_of(client.post(url, half))
    partners = page[page.index('id="partners"') : page.index('id="section-declaration"')]
    assert "asteriskField" in partners and "This field is required." in partners
    assert not Proposal.objects.get(pk=proposal.pk).partners.exists()


def test_a_revision_request_is_at_the_top_with_its_own_checklist_item(
    client, draft, danang_lead, danang_editor, staff
):
    services.submit_proposal(user=danang_lead, proposal=draft)
    draft.refresh_from_db()
    services.screen_proposal(actor=staff, proposal=draft)
    draft.refresh_from_db()
    due = draft.call.closes_at + datetime.timedelta(days=20)
    services.request_revision(
        actor=staff, proposal=draft, message="Add a map of the basin.", due=due
    )
    client.force_login(danang_editor)
    page = page_of(client.get(reverse("proposal_edit", args=[draft.code])))
    form = f'<form method="post" action="{reverse("proposal_edit", args=[draft.code])}"'
    assert page.index('id="revision-request"') < page.index(form)
    assert "Add a map of the basin." in page
    assert f'<time datetime="{due.astimezone(datetime.UTC).isoformat()}">' in page
    assert '<a href="#revision-request">Answer the revision request</a>' in page
    assert "Everything needed is there" not in page


# After submission ------------------------------------------------------------------------------


def test_the_receipt_and_its_email_say_what_happens_next(
    client, draft, danang_lead, django_capture_on_commit_callbacks
):
    draft.call.review_due = datetime.date(2027, 3, 31)
    draft.call.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.submit_proposal(user=danang_lead, proposal=draft)
    client.force_login(danang_lead)
    page = page_of(client.get(reverse("proposal_receipt", args=[draft.code])))
    assert "What happens next" in page
    assert "Screening" in page and "Review" in page and "Decision" in page
    assert "by 31 Mar 2027" in page
    email = Notification.objects.get(
        kind=NotificationKind.SUBMISSION_RECEIPT, recipient=danang_lead
    )
    assert "What happens next" in email.body_text and "by 31 Mar 2027" in email.body_text
    assert "What happens next" in email.body_html


def test_the_print_view_has_a_print_button_for_javascript_and_the_portal_dates(
    client, draft, danang_lead
):
    draft.start_date = datetime.date(2027, 4, 1)
    draft.save()
    client.force_login(danang_lead)
    page = page_of(client.get(reverse("proposal_print", args=[draft.code])))
    assert (
        '<button type="button" class="btn btn-sm btn-outline-secondary ms-auto" data-print hidden>'
        in page
    )
    assert "js/print.js" in page
    assert "Start: 1 Apr 2027" in page


# Notifications readable in the portal ----------------------------------------------------------


def test_each_notification_is_readable_by_its_recipient_only(
    client, draft, danang_lead, danang_editor, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        draft = services.submit_proposal(user=danang_lead, proposal=draft)
    email = Notification.objects.get(
        kind=NotificationKind.SUBMISSION_RECEIPT, recipient=danang_lead
    )
    url = reverse("notification_detail", args=[email.pk])
    client.force_login(danang_lead)
    listed = page_of(client.get(reverse("notifications")))
    assert f'href="{url}"' in listed
    page = page_of(client.get(url))
    assert email.subject in page
    assert "has been received under the reference" in page and draft.reference_code in page
    for other in (danang_editor, staff):  # the editor has an email of their own
        client.force_login(other)
        assert client.get(url).status_code == 404
    assert client.get(reverse("notification_detail", args=[10**9])).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_a_notification_shows_typed_text_escaped(client, draft, danang_lead):
    note = Notification.objects.create(
        recipient=danang_lead,
        email=danang_lead.email,
        kind=NotificationKind.MESSAGE,
        language="en",
        subject="<b>Hi</b>",
        body_text="<script>alert(1)</script>\nSecond line",
        dedup_key="test:escaped",
    )
    client.force_login(danang_lead)
    page = page_of(client.get(reverse("notification_detail", args=[note.pk])))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>Hi</b>" not in page
