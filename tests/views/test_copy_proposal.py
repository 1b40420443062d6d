"""Issue 19, item 9: a city starts a draft in an open call from any of its earlier proposals
(texts, figures, focus areas, sectors and partners copied; attachments if asked), with the
earlier one's evaluation summary beside the new draft's form."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from proposals import services
from proposals.models import AuditEvent, Proposal, Status

from ..factories import make_call, make_proposal, review, under_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def declined(call, danang, danang_lead, staff, reviewer):
    """Da Nang's proposal of last year's call, declined, with its evaluation summary."""
    proposal = under_review(
        make_proposal(call, danang, danang_lead, title="Flood sensors"),
        lead=danang_lead,
        staff=staff,
    )
    review(proposal, reviewer, [3, 2], staff=staff)
    relevance = call.criteria.order_by("position", "pk").first()
    services.write_evaluation_summary(
        actor=staff,
        proposal=proposal,
        language="en",
        overall="A real problem; the plan needs partners.",
        feedback={relevance.pk: ("", "Name the districts that flood.")},
    )
    services.reject_proposal(actor=staff, proposal=proposal, letter="Not this year.")
    return Proposal.objects.get(pk=proposal.pk)


@pytest.fixture
def next_call():
    return make_call("Smart JAMP 2028", opens_in_days=-1, closes_in_days=60)


def test_the_copy_takes_the_texts_and_partners_but_not_the_declaration(
    declined, next_call, danang_editor
):
    copy = services.copy_proposal(user=danang_editor, source=declined, call=next_call)
    assert (copy.call, copy.city, copy.status, copy.copied_from) == (
        next_call,
        declined.city,
        Status.DRAFT,
        declined,
    )
    for name in ("title", "summary", "problem", "solution", "outcomes", "indicators", "timeline"):
        assert getattr(copy, name) == getattr(declined, name), name
    assert (copy.total_cost_jpy, copy.requested_jpy, copy.instruments) == (
        declined.total_cost_jpy,
        declined.requested_jpy,
        declined.instruments,
    )
    assert set(copy.focus_areas.all()) == set(declined.focus_areas.all())
    assert set(copy.sectors.all()) == set(declined.sectors.all())
    assert [(p.name, p.kind, p.role) for p in copy.partners.all()] == [
        (p.name, p.kind, p.role) for p in declined.partners.all()
    ]
    # Filled in again: the contact is the one who copies, no start date, no declaration.
    assert (copy.contact_email, copy.start_date, copy.declaration) == (
        danang_editor.email,
        None,
        False,
    )
    assert copy.reference_code is None and not copy.attachments.exists()
    assert copy.version == 2 and copy.revisions.filter(version=2).exists()
    event = AuditEvent.objects.get(action="proposal.copied")
    assert event.proposal == copy and event.details["source"] == declined.reference_code
    # The earlier proposal is untouched.
    assert Proposal.objects.get(pk=declined.pk).status == Status.REJECTED


def test_attachments_are_copied_only_if_asked(declined, next_call, danang_lead):
    copy = services.copy_proposal(
        user=danang_lead, source=declined, call=next_call, with_attachments=True
    )
    originals = list(declined.attachments.order_by("pk"))
    copies = list(copy.attachments.order_by("pk"))
    assert [(a.kind, a.name, a.size) for a in copies] == [
        (a.kind, a.name, a.size) for a in originals
    ]
    assert copies and copies[0].file.name != originals[0].file.name
    with copies[0].file.open("rb") as new, originals[0].file.open("rb") as old:
        assert new.read() == old.read()


def test_the_same_rules_as_starting_a_draft(declined, call, next_call, cebu_lead, danang_lead):
    with pytest.raises(PermissionDenied):  # another city's member
        services.copy_proposal(user=cebu_lead, source=declined, call=next_call)
    next_call.closes_at = next_call.opens_at + datetime.timedelta(seconds=1)
    next_call.save()
    with pytest.raises(ValidationError):  # the call is closed
        services.copy_proposal(user=danang_lead, source=declined, call=next_call)
    assert not Proposal.objects.filter(copied_from=declined).exists()


def test_a_member_starts_it_from_the_proposals_page(client, declined, next_call, danang_editor):
    client.force_login(danang_editor)
    detail = client.get(reverse("proposal_detail", args=[declined.code])).content.decode()
    url = reverse("proposal_copy", args=[declined.code])
    assert f'href="{url}"' in detail
    page = client.get(url).content.decode()
    assert "Smart JAMP 2028" in page and "Copy its attachments too" in page
    response = client.post(url, {"call": next_call.pk})
    copy = Proposal.objects.get(copied_from=declined)
    assert response["Location"] == reverse("proposal_edit", args=[copy.code])
    # The new draft's form has the earlier one's evaluation beside it.
    edit = client.get(response["Location"]).content.decode()
    assert "Started from “Flood sensors” (Smart JAMP 2027)." in edit
    assert "A real problem; the plan needs partners." in edit
    assert "Name the districts that flood." in edit


def test_others_cannot_copy_and_staff_are_not_offered_it(
    client, declined, next_call, cebu_lead, staff
):
    url = reverse("proposal_copy", args=[declined.code])
    client.force_login(cebu_lead)
    assert client.get(url).status_code == 404
    assert client.post(url, {"call": next_call.pk}).status_code == 404
    client.force_login(staff)
    detail = client.get(reverse("proposal_detail", args=[declined.code])).content.decode()
    assert f'href="{url}"' not in detail
    assert client.post(url, {"call": next_call.pk}).status_code == 403
    assert not Proposal.objects.filter(copied_from=declined).exists()


def test_without_an_open_call_the_page_says_so(client, declined, danang_lead, call):
    call.closes_at = call.opens_at + datetime.timedelta(seconds=1)
    call.save()
    client.force_login(danang_lead)
    page = client.get(reverse("proposal_copy", args=[declined.code])).content.decode()
    assert "No call is open now." in page
