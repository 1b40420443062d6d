"""Issue 18: the home that says what to do next, invitations, "find my city", drafting while
the city is being verified, staff told of registrations, Verify/Reject on the city page."""

import datetime
import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from proposals import services
from proposals.models import (
    AuditEvent,
    City,
    CityInvitation,
    CityMembership,
    JoinRequest,
    MemberRole,
    Notification,
    NotificationKind,
    ReviewAssignment,
    VerificationStatus,
)
from proposals.services.cities import invitation_token_hash

from ..factories import PASSWORD, UserFactory, make_call, make_city, make_proposal, under_review
from .test_cities import registration

pytestmark = pytest.mark.django_db


def invite(lead, city, email="colleague@example.org", role=MemberRole.EDITOR):
    return services.invite_to_city(actor=lead, city=city, email=email, role=role)


def pending_city(reference_data, lead_email="lead.hue@example.org"):
    city = make_city("Huế", "VN")
    City.objects.filter(pk=city.pk).update(
        verification_status=VerificationStatus.PENDING,
        registered_at=timezone.now(),
        authorisation_letter="letters/hue.pdf",
        letter_name="hue-letter.pdf",
    )
    city.refresh_from_db()
    lead = UserFactory(email=lead_email)
    CityMembership.objects.create(city=city, user=lead, role=MemberRole.LEAD)
    return city, lead


# The home -------------------------------------------------------------------------------------


def test_anonymous_visitors_keep_the_brochure(client, reference_data):
    page = client.get(reverse("home")).content.decode()
    assert "What a selected proposal receives" in page
    assert "What to do next" not in page


def test_an_official_without_a_city_is_told_how_to_apply(client, official):
    client.force_login(official)
    page = client.get(reverse("home")).content.decode()
    assert "How to apply" in page
    assert "What to do next" not in page


def test_an_officials_home_lists_cities_drafts_revisions_and_messages(
    client, call, danang, danang_lead, staff
):
    draft = make_proposal(call, danang, danang_lead, title="Night market lighting", complete=False)
    submitted = make_proposal(call, danang, danang_lead, title="Flood early warning")
    services.submit_proposal(user=danang_lead, proposal=submitted)
    services.screen_proposal(actor=staff, proposal=submitted)
    due = timezone.now() + datetime.timedelta(days=7)
    services.request_revision(actor=staff, proposal=submitted, message="Add a budget.", due=due)
    services.post_message(user=staff, proposal=submitted, body="Which district?")
    client.force_login(danang_lead)
    response = client.get(reverse("home"))
    page = response.content.decode()
    assert "What to do next" in page
    assert reverse("city_detail", args=[danang.code]) in page
    drafts = page.split('id="drafts-heading"')[1]
    assert (
        "Night market lighting" in drafts and reverse("proposal_edit", args=[draft.code]) in drafts
    )
    assert "a summary" in drafts  # what is missing
    revisions = page.split('id="revisions-heading"')[1].split('id="drafts-heading"')[0]
    assert "Flood early warning" in revisions and "Resubmit by" in revisions
    waiting = page.split('id="waiting-heading"')[1]
    assert reverse("proposal_detail", args=[submitted.code]) + "#messages" in waiting
    # Answered, the message no longer waits.
    services.post_message(user=danang_lead, proposal=submitted, body="District 3.")
    assert 'id="waiting-heading"' not in client.get(reverse("home")).content.decode()


def test_the_officials_home_queries_do_not_grow(
    assert_page_queries, client, danang, danang_lead, staff, reference_data
):
    from proposals.views.pages import HOME_DRAFTS

    calls = [make_call(f"Call {n}") for n in range(HOME_DRAFTS + 3)]
    make_proposal(calls[0], danang, danang_lead, complete=False)
    client.force_login(danang_lead)
    client.get(reverse("home"))
    with _counted() as first:
        client.get(reverse("home"))
    for each in calls[1:]:
        proposal = make_proposal(each, danang, danang_lead, complete=False)
        services.post_message(user=danang_lead, proposal=proposal, body="A question.")
    CityMembership.objects.create(
        city=make_city("Cebu City", "PH", verified=True), user=danang_lead, role=MemberRole.LEAD
    )
    with assert_page_queries(len(first.own)):
        client.get(reverse("home"))


class _counted:
    """The page's own queries, as assert_page_queries counts them."""

    def __enter__(self):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.context = CaptureQueriesContext(connection)
        self.context.__enter__()
        return self

    def __exit__(self, *exc):
        self.context.__exit__(*exc)
        self.own = [
            q["sql"]
            for q in self.context.captured_queries
            if "smartjamp_cache" not in q["sql"] and "SAVEPOINT" not in q["sql"]
        ]


def test_staff_home_has_work_queues_linking_to_the_lists(client, staff, call, danang, danang_lead):
    city, _lead = pending_city(None)
    submitted = make_proposal(call, danang, danang_lead)
    services.submit_proposal(user=danang_lead, proposal=submitted)
    client.force_login(staff)
    page = client.get(reverse("home")).content.decode()
    queues = page.split('id="queues-heading"')[1]
    city_list = reverse("admin:proposals_city_changelist")
    assert (
        f'href="{city_list}?registration=applications&amp;verification_status__exact=pending"'
        in queues
    )
    assert reverse("admin:proposals_proposal_changelist") + "?status__in=submitted" in queues
    assert reverse("admin:proposals_reviewassignment_changelist") + "?due__lt=" in queues
    assert reverse("desk") + "?state=open" in queues
    counts = re.findall(r'<span class="badge [^"]*">(\d+)</span>', queues)
    assert counts[:2] == ["1", "1"]  # Huế to verify, the submission to screen
    # The linked lists answer (the admin refuses unknown filters with a redirect).
    for url in re.findall(r'href="(/admin/[^"]+)"', queues):
        assert client.get(url.replace("&amp;", "&")).status_code == 200, url


def test_staff_queues_count_overdue_reviews_and_decisions(
    client, staff, reviewer, call, danang, danang_lead
):
    proposal = make_proposal(call, danang, danang_lead)
    under_review(proposal, lead=danang_lead, staff=staff)
    services.assign_reviewers(
        actor=staff,
        proposals=[proposal],
        reviewers=[reviewer],
        due=timezone.localdate() - datetime.timedelta(days=1),
    )
    client.force_login(staff)
    queues = client.get(reverse("home")).content.decode().split('id="queues-heading"')[1]
    overdue = queues.split("Reviews overdue")[1]
    assert re.search(r'<span class="badge [^"]*">1</span>', overdue.split("</li>")[0])


def test_a_reviewers_home_lists_assignments_by_due_date(
    client, staff, reviewer, call, danang, danang_lead, cebu, cebu_lead
):
    late = make_proposal(call, cebu, cebu_lead, title="Bus fares")
    soon = make_proposal(call, danang, danang_lead, title="Flood early warning")
    for proposal, days in ((soon, 3), (late, 10)):
        under_review(proposal, lead=proposal.city.memberships.first().user, staff=staff)
        services.assign_reviewers(
            actor=staff,
            proposals=[proposal],
            reviewers=[reviewer],
            due=timezone.localdate() + datetime.timedelta(days=days),
        )
    client.force_login(reviewer)
    page = client.get(reverse("home")).content.decode()
    mine = page.split('id="assignments-heading"')[1]
    assert mine.index("Flood early warning") < mine.index("Bus fares")
    first = ReviewAssignment.objects.get(proposal=soon)
    assert reverse("admin:proposals_reviewassignment_review", args=[first.pk]) in mine
    assert 'id="queues-heading"' not in page


# Invitations ------------------------------------------------------------------------------------


def test_a_lead_invites_by_email_through_the_outbox(
    client, danang, danang_lead, django_capture_on_commit_callbacks
):
    client.force_login(danang_lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("city_invite", args=[danang.code]),
            {"email": "colleague@example.org", "role": "editor"},
            follow=True,
        )
    assert "An invitation has been sent to colleague@example.org." in response.content.decode()
    invitation = CityInvitation.objects.get()
    assert (invitation.city, invitation.email, invitation.role) == (
        danang,
        "colleague@example.org",
        "editor",
    )
    assert invitation.expires_at - timezone.now() > datetime.timedelta(days=13)
    notification = Notification.objects.get(kind=NotificationKind.CITY_INVITATION)
    assert notification.dedup_key == f"city-invitation:{invitation.pk}"
    assert notification.email == "colleague@example.org"
    token = re.search(r"/invitations/([^/]+)/", notification.body_text).group(1)
    assert invitation.token_hash == invitation_token_hash(token) != token
    assert "Da Nang" in notification.subject
    assert [m.to for m in mail.outbox] == [["colleague@example.org"]]
    # The lead sees it waiting, and the trail has it.
    page = client.get(reverse("city_detail", args=[danang.code])).content.decode()
    assert "colleague@example.org (Editor), valid until" in page
    assert AuditEvent.objects.filter(action="city_invitation.sent", city=danang).exists()


def test_an_editor_cannot_invite(client, danang, danang_editor):
    client.force_login(danang_editor)
    response = client.post(
        reverse("city_invite", args=[danang.code]), {"email": "x@example.org", "role": "lead"}
    )
    assert response.status_code == 404
    assert not CityInvitation.objects.exists()
    assert (
        "Invite colleagues"
        not in client.get(reverse("city_detail", args=[danang.code])).content.decode()
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "not-an-address", "role": "editor"}, "Enter a valid email address."),
        ({"email": "x@example.org", "role": "owner"}, "Select a valid choice."),
        ({"email": "LEAD.danang@example.org", "role": "editor"}, "is a member of Da Nang already"),
    ],
)
def test_a_bad_invitation_says_why_and_stores_nothing(client, danang, danang_lead, data, message):
    client.force_login(danang_lead)
    response = client.post(reverse("city_invite", args=[danang.code]), data, follow=True)
    assert message in response.content.decode()
    assert not CityInvitation.objects.exists()
    assert not Notification.objects.filter(kind=NotificationKind.CITY_INVITATION).exists()


def test_invitations_are_rate_limited_per_lead(client, settings, danang, danang_lead):
    settings.CITY_INVITATIONS_PER_HOUR = 2
    client.force_login(danang_lead)
    for n in range(2):
        invite(danang_lead, danang, email=f"c{n}@example.org")
    response = client.post(
        reverse("city_invite", args=[danang.code]),
        {"email": "c3@example.org", "role": "editor"},
        follow=True,
    )
    assert "the most allowed. Please send the next ones later." in response.content.decode()
    assert CityInvitation.objects.count() == 2
    # An hour later, the lead may invite again.
    CityInvitation.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=61))
    invite(danang_lead, danang, email="c3@example.org")


def test_inviting_again_replaces_the_earlier_link(danang, danang_lead):
    first, first_token = invite(danang_lead, danang)
    second, second_token = invite(danang_lead, danang)
    first.refresh_from_db()
    assert first.revoked_at and not second.revoked_at
    assert "withdrawn" in services.invitation_refusal(services.find_invitation(first_token))
    assert services.invitation_refusal(services.find_invitation(second_token)) == ""


def test_signed_in_with_the_invited_address_accepting_makes_a_member(client, danang, danang_lead):
    colleague = UserFactory(email="colleague@example.org")
    invitation, token = invite(danang_lead, danang, role=MemberRole.LEAD)
    client.force_login(colleague)
    url = reverse("city_invitation", args=[token])
    page = client.get(url).content.decode()
    assert "invites you to join Da Nang" in page and "Accept the invitation" in page
    response = client.post(url, follow=True)
    assert "You are now a member of Da Nang." in response.content.decode()
    assert CityMembership.objects.get(city=danang, user=colleague).role == MemberRole.LEAD
    invitation.refresh_from_db()
    assert invitation.accepted_by == colleague and invitation.accepted_at
    assert AuditEvent.objects.filter(action="city_invitation.accepted", user=colleague).exists()
    # The link is used up.
    response = client.post(url, follow=True)
    assert "This invitation has been used already." in response.content.decode()


def test_not_signed_in_the_invitation_waits_for_the_sign_in(client, danang, danang_lead):
    colleague = UserFactory(email="colleague@example.org")
    _invitation, token = invite(danang_lead, danang)
    url = reverse("city_invitation", args=[token])
    page = client.get(url).content.decode()
    assert reverse("account_login") in page and reverse("account_signup") in page
    assert not CityMembership.objects.filter(user=colleague).exists()
    response = client.post(
        reverse("account_login"), {"login": colleague.email, "password": PASSWORD}, follow=True
    )
    assert "You are now a member of Da Nang." in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("city_detail", args=[danang.code])
    assert CityMembership.objects.get(city=danang, user=colleague).role == MemberRole.EDITOR


def test_a_sign_in_with_another_address_is_refused_and_stores_nothing(client, danang, danang_lead):
    somebody = UserFactory(email="somebody@example.org")
    _invitation, token = invite(danang_lead, danang)
    client.get(reverse("city_invitation", args=[token]))
    response = client.post(
        reverse("account_login"), {"login": somebody.email, "password": PASSWORD}, follow=True
    )
    assert "This invitation was sent to another address than yours." in response.content.decode()
    assert not CityMembership.objects.filter(user=somebody).exists()
    assert CityInvitation.objects.get().accepted_at is None


def test_an_unconfirmed_invited_address_is_not_enough(danang, danang_lead):
    colleague = UserFactory(email="colleague@example.org")
    EmailAddress.objects.filter(user=colleague).update(verified=False)
    _invitation, token = invite(danang_lead, danang)
    with pytest.raises(ValidationError, match="another address"):
        services.accept_invitation(user=colleague, token=token)
    assert not CityMembership.objects.filter(user=colleague).exists()


@pytest.mark.parametrize("state", ["expired", "revoked", "member", "unknown"])
def test_an_unusable_invitation_says_why_and_stores_nothing(
    client, danang, danang_lead, danang_editor, state
):
    invited = danang_editor if state == "member" else UserFactory(email="colleague@example.org")
    invitation, token = invite(danang_lead, danang, email="colleague@example.org")
    if state == "member":
        CityInvitation.objects.filter(pk=invitation.pk).update(email=danang_editor.email)
    elif state == "expired":
        CityInvitation.objects.filter(pk=invitation.pk).update(
            expires_at=timezone.now() - datetime.timedelta(minutes=1)
        )
    elif state == "revoked":
        services.revoke_invitation(actor=danang_lead, invitation=invitation)
    elif state == "unknown":
        token = token[:-4] + "xxxx"
    memberships = list(CityMembership.objects.values_list("city", "user", "role"))
    client.force_login(invited)
    url = reverse("city_invitation", args=[token])
    response = client.post(url, follow=True)
    expected = {
        "expired": "This invitation expired on",
        "revoked": "This invitation has been withdrawn.",
        "member": "You are a member of Da Nang already.",
        "unknown": "This invitation link is not valid.",
    }[state]
    assert expected in response.content.decode()
    assert "Accept the invitation" not in response.content.decode()
    assert list(CityMembership.objects.values_list("city", "user", "role")) == memberships
    assert not CityInvitation.objects.filter(accepted_at__isnull=False).exists()


def test_the_lead_revokes_an_invitation(client, danang, danang_lead):
    invitation, token = invite(danang_lead, danang)
    client.force_login(danang_lead)
    response = client.post(
        reverse("city_revoke_invitation", args=[danang.code]),
        {"invitation": invitation.pk},
        follow=True,
    )
    assert (
        "The invitation to colleague@example.org has been withdrawn." in response.content.decode()
    )
    invitation.refresh_from_db()
    assert invitation.revoked_by == danang_lead
    assert AuditEvent.objects.filter(action="city_invitation.revoked").exists()
    # Twice: a clear message, nothing changed.
    response = client.post(
        reverse("city_revoke_invitation", args=[danang.code]),
        {"invitation": invitation.pk},
        follow=True,
    )
    assert "accepted, revoked or expired already" in response.content.decode()


def test_another_citys_lead_cannot_revoke(client, danang, danang_lead, cebu, cebu_lead):
    invitation, _token = invite(danang_lead, danang)
    client.force_login(cebu_lead)
    response = client.post(
        reverse("city_revoke_invitation", args=[cebu.code]), {"invitation": invitation.pk}
    )
    assert response.status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


# Find my city ------------------------------------------------------------------------------------


def test_find_my_city_leads_to_a_join_request(client, official, danang, danang_lead, cebu):
    client.force_login(official)
    page = client.get(reverse("my_cities"), {"name": "nang", "country": ""}).content.decode()
    found = page.split('id="found-heading"')[1]
    assert "1 city found" in page and "Da Nang" in found and "Cebu" not in found
    assert reverse("city_join", args=[danang.code]) in found
    assert "lead.danang@example.org" not in page  # never its members
    response = client.post(
        reverse("city_join", args=[danang.code]), {"message": "I work there."}, follow=True
    )
    assert "Your request to join Da Nang has been sent to its leads." in response.content.decode()
    assert JoinRequest.objects.filter(city=danang, user=official).exists()
    again = client.get(reverse("my_cities"), {"name": "Da Nang"}).content.decode()
    assert "You have asked to join" in again.split('id="found-heading"')[1]


def test_find_my_city_by_country_and_without_reference_rows(client, official, danang):
    client.force_login(official)
    assert (
        "0 cities found"
        in client.get(reverse("my_cities"), {"name": "Da Nang", "country": "PH"}).content.decode()
    )
    # A reference city nobody registered is not offered (it is registered, not joined).
    unclaimed = City.objects.exclude(pk__in=City.objects.claimed()).first()
    page = client.get(reverse("my_cities"), {"name": unclaimed.name}).content.decode()
    assert reverse("city_join", args=[unclaimed.code]) not in page


def test_find_my_city_needs_two_letters(client, official):
    client.force_login(official)
    page = client.get(reverse("my_cities"), {"name": "a"}).content.decode()
    assert "Ensure this value has at least 2 characters" in page
    assert 'id="found-heading"' not in page


# Drafting while verified; staff told of registrations -----------------------------------------


def test_a_pending_citys_members_draft_but_cannot_submit(reference_data):
    city, lead = pending_city(reference_data)
    call = make_call()
    assert services.drafting_refusals(user=lead, call=call, city=city) == []
    proposal = make_proposal(call, city, lead)
    refusals = services.submission_refusals(proposal)
    assert "The city must be verified by programme staff first." in refusals
    City.objects.filter(pk=city.pk).update(
        verification_status=VerificationStatus.REJECTED, rejection_reason="No mandate."
    )
    city.refresh_from_db()
    assert services.drafting_refusals(user=lead, call=call, city=city) == [
        "The city must be verified by programme staff first."
    ]


def test_staff_hear_of_each_registration(
    client, official, staff, django_capture_on_commit_callbacks
):
    client.force_login(official)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("register_city"), registration(), follow=True)
    assert "usually within 5 working days" in response.content.decode()
    city = City.objects.get(name="Huế")
    notification = Notification.objects.get(kind=NotificationKind.CITY_REGISTERED)
    assert notification.recipient == staff
    assert notification.dedup_key.startswith(f"city-registered:{city.pk}:")
    assert notification.link == reverse("city_detail", args=[city.code])
    assert "official[.]hue@example[.]org registered Huế" in notification.body_text
    assert "up to 5 working days" in client.get(notification.link).content.decode()


# Verify and reject on the city page --------------------------------------------------------------


def test_staff_verify_a_city_from_its_page(client, staff, reference_data):
    city, _lead = pending_city(reference_data)
    client.force_login(staff)
    page = client.get(reverse("city_detail", args=[city.code])).content.decode()
    assert "Verify the city" in page and "Reject the registration" in page
    assert page.index("hue-letter.pdf") < page.index("Verify the city")
    response = client.post(reverse("city_verify", args=[city.code]), follow=True)
    assert "Huế is verified." in response.content.decode()
    city.refresh_from_db()
    assert city.is_verified and city.decided_by == staff
    assert AuditEvent.objects.filter(action="city.verified", city=city).exists()


def test_staff_reject_with_a_reason_only(client, staff, reference_data):
    city, _lead = pending_city(reference_data)
    client.force_login(staff)
    response = client.post(reverse("city_reject", args=[city.code]), {"reason": "  "}, follow=True)
    assert "A reason is required to reject a city." in response.content.decode()
    city.refresh_from_db()
    assert city.verification_status == VerificationStatus.PENDING
    response = client.post(
        reverse("city_reject", args=[city.code]), {"reason": "The letter is unsigned."}, follow=True
    )
    assert "The registration of Huế is rejected." in response.content.decode()
    city.refresh_from_db()
    assert city.rejection_reason == "The letter is unsigned."


def test_officials_have_no_verify_or_reject(client, reference_data):
    city, lead = pending_city(reference_data)
    client.force_login(lead)
    assert (
        "Verify the city"
        not in client.get(reverse("city_detail", args=[city.code])).content.decode()
    )
    assert client.post(reverse("city_verify", args=[city.code])).status_code == 403
    city.refresh_from_db()
    assert city.verification_status == VerificationStatus.PENDING
