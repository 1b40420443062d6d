"""Issue 19, item 5: decisions within the envelope. Approving shows the call's envelope, what
is approved already and what remains; an approval beyond what remains is refused unless
staff give a reason, which is recorded in the audit trail."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from proposals import services
from proposals.models import AuditEvent, Proposal, Status

from ..factories import UserFactory, make_call, make_city, make_proposal, review, under_review

pytestmark = pytest.mark.django_db

LETTER = "Dear Mayor, we are pleased to fund the study."


@pytest.fixture
def envelope_call():
    return make_call(envelope_jpy=100_000_000, max_request_jpy=60_000_000)


def shortlisted(call, city, lead, staff, reviewer, title):
    proposal = under_review(make_proposal(call, city, lead, title=title), lead=lead, staff=staff)
    review(proposal, reviewer, [4, 4], staff=staff)
    services.shortlist_proposal(actor=staff, proposal=proposal)
    return Proposal.objects.get(pk=proposal.pk)  # requests ¥40,000,000


def approve(staff, proposal, amount, **extra):
    return services.approve_proposal(
        actor=staff, proposal=proposal, amount=amount, letter=LETTER, **extra
    )


def test_approvals_within_the_envelope_need_no_reason(
    envelope_call, danang, danang_lead, cebu, cebu_lead, staff, reviewer
):
    first = shortlisted(envelope_call, danang, danang_lead, staff, reviewer, "Flood sensors")
    second = shortlisted(envelope_call, cebu, cebu_lead, staff, reviewer, "Bus lanes")
    approve(staff, first, 40_000_000)
    assert services.envelope_use(envelope_call) == {
        "envelope": 100_000_000,
        "approved": 40_000_000,
        "remaining": 60_000_000,
        "beyond": 0,
    }
    approve(staff, second, 40_000_000)
    assert services.envelope_use(envelope_call)["remaining"] == 20_000_000
    assert not AuditEvent.objects.filter(action="decision.beyond_envelope").exists()


def test_an_approval_beyond_what_remains_is_refused_without_a_reason(
    envelope_call, danang, danang_lead, cebu, cebu_lead, staff, reviewer
):
    hue = make_city("Huế", "VN", verified=True)
    from proposals.models import CityMembership, MemberRole

    CityMembership.objects.create(city=hue, user=danang_lead, role=MemberRole.LEAD)
    for city, lead, title in ((danang, danang_lead, "A"), (cebu, cebu_lead, "B")):
        approve(staff, shortlisted(envelope_call, city, lead, staff, reviewer, title), 40_000_000)
    third = shortlisted(envelope_call, hue, danang_lead, staff, reviewer, "C")
    with pytest.raises(ValidationError) as refused:
        approve(staff, third, 30_000_000, beyond_envelope="   ")
    assert refused.value.messages == [
        "Approving ¥30,000,000 would go beyond the call's envelope: ¥20,000,000 of "
        "¥100,000,000 remain. Give a reason to approve beyond it."
    ]
    third.refresh_from_db()
    assert third.status == Status.SHORTLISTED and third.approved_jpy is None
    # What remains can still be approved; more, with a reason, which is recorded.
    approve(staff, third, 30_000_000, beyond_envelope="The ministry tops the envelope up.")
    third.refresh_from_db()
    assert third.status == Status.APPROVED and third.approved_jpy == 30_000_000
    event = AuditEvent.objects.get(action="decision.beyond_envelope")
    assert event.actor == staff and event.proposal == third
    assert event.details["reason"] == "The ministry tops the envelope up."
    assert (event.details["amount"], event.details["remaining"]) == (30_000_000, 20_000_000)
    assert services.envelope_use(envelope_call) == {
        "envelope": 100_000_000,
        "approved": 110_000_000,
        "remaining": 0,
        "beyond": 10_000_000,
    }


def test_the_decision_page_shows_the_envelope_and_refuses_beyond_it(
    client, envelope_call, danang, danang_lead, cebu, cebu_lead, staff, reviewer
):
    approve(
        staff,
        shortlisted(envelope_call, danang, danang_lead, staff, reviewer, "Flood sensors"),
        70_000_000 - 30_000_000,
    )
    proposal = shortlisted(envelope_call, cebu, cebu_lead, staff, reviewer, "Bus lanes")
    Proposal.objects.filter(pk=proposal.pk).update(requested_jpy=60_000_000)
    client.force_login(staff)
    url = reverse("admin:proposals_proposal_decision", args=[proposal.pk])
    page = client.get(url).content.decode()
    assert "<dt>Envelope of the call</dt><dd>¥100,000,000</dd>" in page
    assert "<dt>Approved so far</dt><dd>¥40,000,000</dd>" in page
    assert "<dt>Remaining</dt><dd>¥60,000,000</dd>" in page
    assert 'name="beyond_envelope"' in page

    data = {"step": "approve", "amount": "60000000", "letter": LETTER}
    assert client.post(url, data).status_code == 302  # exactly what remains: no reason needed
    assert Proposal.objects.get(pk=proposal.pk).status == Status.APPROVED


def test_the_decision_page_keeps_the_form_when_it_refuses(
    client, envelope_call, danang, danang_lead, cebu, cebu_lead, staff, reviewer
):
    proposal = shortlisted(envelope_call, danang, danang_lead, staff, reviewer, "Flood sensors")
    other = shortlisted(envelope_call, cebu, cebu_lead, staff, reviewer, "Bus lanes")
    envelope_call.envelope_jpy = 30_000_000
    envelope_call.max_request_jpy = 30_000_000
    envelope_call.save()
    client.force_login(staff)
    url = reverse("admin:proposals_proposal_decision", args=[proposal.pk])
    data = {"step": "approve", "amount": "40000000", "letter": LETTER}
    refused = client.post(url, data)
    page = refused.content.decode()
    assert refused.status_code == 200
    assert "would go beyond the call&#x27;s envelope: ¥30,000,000 of ¥30,000,000 remain" in page
    assert LETTER in page  # the letter as typed
    assert Proposal.objects.get(pk=proposal.pk).status == Status.SHORTLISTED
    allowed = client.post(url, data | {"beyond_envelope": "Agreed with the ministry."})
    assert allowed.status_code == 302
    assert Proposal.objects.get(pk=proposal.pk).approved_jpy == 40_000_000
    # The next decision of the call says the envelope was exceeded.
    other_url = reverse("admin:proposals_proposal_decision", args=[other.pk])
    page = client.get(other_url).content.decode()
    assert "<dd>¥0 <strong>(approvals went ¥10,000,000 beyond it)</strong></dd>" in page


@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_cannot_both_take_what_remains(reference_data):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to test")
    from ..conftest import in_group, member

    staff = in_group(UserFactory(email="a@example.org", is_staff=True), "Programme staff")
    reviewer = in_group(UserFactory(email="r@example.org", is_staff=True), "MLIT reviewers")
    call = make_call(envelope_jpy=60_000_000, max_request_jpy=60_000_000)
    proposals = []
    for name in ("Đà Lạt", "Huế"):
        city = make_city(name, "VN", verified=True)
        lead = member(city, f"lead.{city.pk}@example.org", "Lead", "lead")
        proposals.append(shortlisted(call, city, lead, staff, reviewer, name))
    results = []
    barrier = threading.Barrier(2)

    def decide(proposal):
        barrier.wait()
        try:
            results.append(approve(staff, proposal, 40_000_000))
        except ValidationError as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(p,)) for p in proposals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(r).__name__ for r in results) == ["Proposal", "ValidationError"]
    assert services.envelope_use(call)["approved"] == 40_000_000
