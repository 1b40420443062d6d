"""The formation survey's consultant and deliverables (issue 16): invitations, uploads checked
by content, accepting and returning with comments, every version kept, and who sees what."""

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from proposals import services
from proposals.models import (
    AuditEvent,
    ConsultantInvitation,
    DeliverableKind,
    DeliverableState,
    DeliverableVersion,
)

from .conftest import in_group
from .factories import PASSWORD, UserFactory, docx_bytes, pdf_bytes, upload


@pytest.fixture
def consultant(project, staff, django_capture_on_commit_callbacks):
    user = UserFactory(email="consultant@nippon-survey.example")
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_consultant(
            actor=staff, project=project, email=" Consultant@Nippon-Survey.example "
        )
    return user


def inception(project):
    return project.deliverables.get(kind=DeliverableKind.INCEPTION)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# Invitations ----------------------------------------------------------------------------------


def test_an_account_with_the_verified_address_joins_at_once(project, consultant):
    assert list(project.consultants.all()) == [consultant]
    invitation = ConsultantInvitation.objects.get()
    assert invitation.accepted_at is not None
    (message,) = [m for m in mail.outbox if m.to == [consultant.email]]
    assert "consultant" in message.subject and "upload its deliverables" in message.body
    assert AuditEvent.objects.filter(action="project.consultant_invited").count() == 1


def test_an_unknown_address_is_invited_and_joins_when_it_confirms_it(
    project, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.invite_consultant(actor=staff, project=project, email="new@survey.example")
    (message,) = [m for m in mail.outbox if m.to == ["new@survey.example"]]
    assert "Sign up with this email address" in message.body
    assert reverse("account_signup") in message.body
    assert not project.consultants.exists()
    # They sign up; an unverified address gives nothing.
    newcomer = UserFactory(email="new@survey.example", verified_email=False)
    address = EmailAddress.objects.create(user=newcomer, email=newcomer.email, verified=False)
    assert not project.consultants.exists()
    address.verified = True
    address.save()
    from allauth.account.signals import email_confirmed

    email_confirmed.send(sender=EmailAddress, request=None, email_address=address)
    assert list(project.consultants.all()) == [newcomer]


@pytest.mark.parametrize("role", ["danang_lead", "reviewer"])
def test_only_staff_invite(request, project, role):
    with pytest.raises(PermissionDenied):
        services.invite_consultant(
            actor=request.getfixturevalue(role), project=project, email="x@example.org"
        )
    assert not ConsultantInvitation.objects.exists()


# Uploads and review ---------------------------------------------------------------------------


def test_upload_return_upload_again_accept_keeping_every_version(
    project, consultant, staff, danang_lead, django_capture_on_commit_callbacks
):
    deliverable = inception(project)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        first = services.upload_deliverable(
            user=consultant, deliverable=deliverable, upload=upload("Inception report.pdf")
        )
    assert [m.to[0] for m in mail.outbox] == [staff.email]  # to review
    deliverable.refresh_from_db()
    assert deliverable.state == DeliverableState.UPLOADED
    with pytest.raises(ValidationError) as raised:
        services.upload_deliverable(user=consultant, deliverable=deliverable, upload=upload())
    assert raised.value.messages == ["This deliverable is uploaded: nothing to upload now."]
    with pytest.raises(ValidationError) as raised:
        services.review_deliverable(actor=staff, deliverable=deliverable, accept=False, comment=" ")
    assert raised.value.messages == ["Say what must change: a returned deliverable needs comments."]
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.review_deliverable(
            actor=staff, deliverable=deliverable, accept=False, comment="Add the traffic counts."
        )
    told = sorted(m.to[0] for m in mail.outbox)
    assert told == sorted([consultant.email, danang_lead.email])
    assert all("Add the traffic counts." in m.body for m in mail.outbox)
    second = services.upload_deliverable(
        user=consultant, deliverable=deliverable, upload=upload("Inception report v2.pdf")
    )
    services.review_deliverable(actor=staff, deliverable=deliverable, accept=True)
    deliverable.refresh_from_db()
    assert deliverable.state == DeliverableState.ACCEPTED
    assert [(v.pk, v.name, v.outcome, v.comment) for v in deliverable.versions.order_by("pk")] == [
        (first.pk, "Inception report.pdf", "returned", "Add the traffic counts."),
        (second.pk, "Inception report v2.pdf", "accepted", ""),
    ]
    assert AuditEvent.objects.filter(action__startswith="deliverable.").count() == 4


def test_a_file_that_is_not_what_it_says_or_too_large_is_refused_and_nothing_stored(
    project, consultant, settings
):
    deliverable = inception(project)
    with pytest.raises(ValidationError) as raised:
        services.upload_deliverable(
            user=consultant,
            deliverable=deliverable,
            upload=upload("report.pdf", b"<html><script>alert(1)</script></html>"),
        )
    assert "its content was checked, not its name" in raised.value.messages[0]
    with pytest.raises(ValidationError) as raised:
        services.upload_deliverable(
            user=consultant,
            deliverable=deliverable,
            upload=upload("big.pdf", pdf_bytes(size=51 * 1024 * 1024)),
        )
    assert "at most" in raised.value.messages[0]
    assert not DeliverableVersion.objects.exists()
    deliverable.refresh_from_db()
    assert deliverable.state == DeliverableState.PLANNED
    # A DOCX is a report too.
    services.upload_deliverable(
        user=consultant,
        deliverable=deliverable,
        upload=upload("report.docx", docx_bytes(), "application/octet-stream"),
    )


@pytest.mark.parametrize("role", ["danang_lead", "cebu_lead", "staff"])
def test_only_the_projects_consultants_upload(request, project, consultant, role):
    with pytest.raises(PermissionDenied):
        services.upload_deliverable(
            user=request.getfixturevalue(role), deliverable=inception(project), upload=upload()
        )


@pytest.mark.parametrize("role", ["danang_lead", "consultant", "reviewer"])
def test_only_staff_review(request, project, consultant, role):
    deliverable = inception(project)
    services.upload_deliverable(user=consultant, deliverable=deliverable, upload=upload())
    with pytest.raises(PermissionDenied):
        services.review_deliverable(
            actor=request.getfixturevalue(role), deliverable=deliverable, accept=True
        )


# The pages ------------------------------------------------------------------------------------


def test_the_journey_through_the_pages(project, consultant, staff, danang_lead):
    url = reverse("project_detail", args=[project.code])
    as_consultant, as_staff, as_lead = (
        signed_in(consultant),
        signed_in(staff),
        signed_in(danang_lead),
    )
    upload_url = reverse("deliverable_upload", args=[project.code, "inception"])
    assert upload_url in as_consultant.get(url).content.decode()
    assert upload_url not in as_lead.get(url).content.decode()
    response = as_consultant.post(upload_url, {"file": upload("Inception.pdf")}, follow=True)
    assert "Inception.pdf is uploaded for review." in response.content.decode()
    review_url = reverse("deliverable_review", args=[project.code, "inception"])
    page = as_staff.get(url).content.decode()
    assert review_url in page and "Inception.pdf" in page

    def latest():
        return DeliverableVersion.objects.order_by("-uploaded_at", "-pk").first().code

    response = as_staff.post(
        review_url, {"outcome": "return", "comment": "", "version": latest()}, follow=True
    )
    assert "a returned deliverable needs comments" in response.content.decode()
    stale = latest()  # a colleague's page, still showing the first version
    as_staff.post(
        review_url, {"outcome": "return", "comment": "Add the survey area map.", "version": stale}
    )
    as_consultant.post(upload_url, {"file": upload("Inception v2.pdf")})
    # A click on a page older than the last upload reviews nothing.
    response = as_staff.post(review_url, {"outcome": "accept", "version": stale}, follow=True)
    assert "A newer version was uploaded meanwhile" in response.content.decode()
    as_staff.post(review_url, {"outcome": "accept", "version": latest()})
    page = as_lead.get(url).content.decode()
    assert "Accepted" in page and "Add the survey area map." in page
    # The city sees the states and comments, not the files; the consultant and staff do.
    version = DeliverableVersion.objects.order_by("pk").last()
    file_url = reverse("deliverable_file", args=[project.code, version.code])
    assert file_url not in page
    assert as_lead.get(file_url).status_code == 404
    for client in (as_consultant, as_staff):
        response = client.get(file_url)
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment")
        assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="download.deliverable").count() == 2


def test_others_get_404_on_every_project_url(project, consultant, cebu_lead, call, danang):
    version = services.upload_deliverable(
        user=consultant, deliverable=inception(project), upload=upload()
    )
    other_consultant = UserFactory(email="elsewhere@survey.example")
    reviewer = in_group(UserFactory(is_staff=True), "MLIT reviewers")
    gets = [
        reverse("project_detail", args=[project.code]),
        reverse("deliverable_file", args=[project.code, version.code]),
    ]
    posts = [
        reverse("deliverable_upload", args=[project.code, "interim"]),
        reverse("deliverable_review", args=[project.code, "inception"]),
    ]
    for user in (cebu_lead, other_consultant, reviewer):
        client = signed_in(user)
        for url in gets:
            assert client.get(url).status_code == 404, (user, url)
        for url in posts:
            assert client.post(url, {"file": upload(), "outcome": "accept"}).status_code == 404
    visitor = Client()
    for url in gets:
        response = visitor.get(url)
        assert response.status_code == 404, url
        # The 404 page offers a visitor to sign in and come back.
        assert f"/accounts/login/?next={url}" in response.content.decode().replace("%2F", "/")
    for url in posts:
        assert visitor.post(url, {"file": upload(), "outcome": "accept"}).status_code == 404
    version.refresh_from_db()
    assert version.outcome == ""
    assert not project.deliverables.get(kind="interim").versions.exists()


def test_the_project_page_query_count_does_not_grow_with_versions(
    project, consultant, staff, assert_page_queries
):
    client = signed_in(staff)
    url = reverse("project_detail", args=[project.code])
    client.get(url)
    with assert_page_queries(9):  # the user, staff's permissions (two), and the page's six
        client.get(url)
    deliverable = inception(project)
    for n in range(3):
        services.upload_deliverable(user=consultant, deliverable=deliverable, upload=upload())
        services.review_deliverable(
            actor=staff, deliverable=deliverable, accept=False, comment=f"Again {n}"
        )
    with assert_page_queries(9):
        client.get(url)


# What the security review of the first version found -------------------------------------


def test_a_look_alike_address_is_not_the_invited_one():
    from proposals.services.projects import same_address

    assert same_address("Consultant@Gmail.com", "consultant@gmail.com")
    assert not same_address("consultant@gmaıl.com", "consultant@gmail.com")  # dotless ı
    assert not same_address("conſultant@gmail.com", "consultant@gmail.com")  # long s
    assert same_address("ｃonsultant@münchen.example", "ｃonsultant@MÜNCHEN.example")


def test_a_look_alike_of_an_invited_address_neither_signs_up_nor_claims(
    project, staff, django_capture_on_commit_callbacks
):
    from allauth.account.adapter import get_adapter
    from django import forms

    services.invite_consultant(actor=staff, project=project, email="consultant@gmail.com")
    with pytest.raises(forms.ValidationError):
        get_adapter().clean_email("consultant@gmaıl.com")
    attacker = UserFactory(email="consultant@gmaıl.com")
    assert services.claim_invitations(attacker, "consultant@gmaıl.com") == 0
    assert not project.consultants.exists()
    # An account confirming the real address later does join.
    real = UserFactory(email="consultant@gmail.com")
    assert services.claim_invitations(real, "Consultant@gmail.com") == 1
    assert list(project.consultants.all()) == [real]


def test_an_old_invitation_or_a_closed_project_is_not_joined(project, staff, clock):
    import datetime

    from django.utils import timezone

    invitation = services.invite_consultant(actor=staff, project=project, email="late@x.example")
    ConsultantInvitation.objects.filter(pk=invitation.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=31)
    )
    assert services.claim_invitations(UserFactory(email="late@x.example"), "late@x.example") == 0
    services.take_project_transition(actor=staff, project=project, name="cancel", reason="Stop.")
    project.refresh_from_db()
    with pytest.raises(ValidationError) as raised:
        services.invite_consultant(actor=staff, project=project, email="new@x.example")
    assert raised.value.messages == ["This project is closed: nobody joins it any more."]


@pytest.mark.django_db(transaction=True)
def test_a_failure_after_commit_keeps_the_uploaded_file(
    call, danang, danang_lead, staff, reviewer2, monkeypatch
):
    from proposals import notifications

    from .factories import make_proposal, review, under_review

    proposal = make_proposal(call, danang, danang_lead)
    under_review(proposal, lead=danang_lead, staff=staff)
    review(proposal, reviewer2, [4, 4], staff=staff)
    services.shortlist_proposal(actor=staff, proposal=proposal)
    approved = services.approve_proposal(actor=staff, proposal=proposal, amount=1, letter="Yes")
    consultant = UserFactory(email="c@survey.example")
    services.invite_consultant(actor=staff, project=approved.project, email=consultant.email)

    def broken(version):
        raise RuntimeError("the outbox failed")

    monkeypatch.setattr(notifications, "deliverable_uploaded", broken)
    deliverable = approved.project.deliverables.get(kind="inception")
    with pytest.raises(RuntimeError):
        services.upload_deliverable(user=consultant, deliverable=deliverable, upload=upload())
    version = DeliverableVersion.objects.get()
    assert version.file.storage.exists(version.file.name)


def test_the_data_migration_makes_the_projects_of_earlier_approvals(project):
    import importlib

    from django.apps import apps

    from proposals.models import Project

    migration = importlib.import_module("proposals.migrations.0019_projects_of_approved_proposals")
    project.deliverables.all().delete()
    Project.objects.filter(pk=project.pk).delete()
    migration.create_projects(apps, None)
    (made,) = Project.objects.all()
    assert made.proposal_id == project.proposal_id and made.deliverables.count() == 4
    migration.create_projects(apps, None)  # again: nothing more
    assert Project.objects.count() == 1


def test_deliverable_reminders_14_7_1_days_before_and_3_after_once_each(
    project, consultant, staff, django_capture_on_commit_callbacks
):
    import datetime

    from proposals import reminders
    from proposals.fiscal import JST

    deliverable = inception(project)
    due = deliverable.due_on

    def run(days_before: int) -> list:
        mail.outbox.clear()
        when = datetime.datetime.combine(
            due - datetime.timedelta(days=days_before), datetime.time(9), tzinfo=JST
        )
        with django_capture_on_commit_callbacks(execute=True):
            reminders.deliverable_reminders(when)
        return sorted((m.to[0], m.subject) for m in mail.outbox if "Inception report" in m.subject)

    code = project.proposal.reference_code
    assert run(20) == []
    assert run(14) == [
        (consultant.email, f"Smart JAMP: the Inception report of {code} is due in 14 days")
    ]
    assert run(14) == []  # once
    assert run(7) == [
        (consultant.email, f"Smart JAMP: the Inception report of {code} is due in 7 days")
    ]
    assert run(1) == [
        (consultant.email, f"Smart JAMP: the Inception report of {code} is due in 1 day")
    ]
    assert run(-1) == []
    overdue = f"Smart JAMP: the Inception report of {code} is overdue"
    assert run(-3) == sorted([(consultant.email, overdue), (staff.email, overdue)])
    # Once uploaded, no more.
    services.upload_deliverable(user=consultant, deliverable=deliverable, upload=upload())
    assert run(-10) == []


def test_payments_follow_accepted_deliverables_within_the_contract(
    project, consultant, staff, danang_lead
):
    from proposals.models import Payment

    project.contract_amount_jpy = 40_000_000
    project.save(update_fields=["contract_amount_jpy"])
    deliverable = inception(project)
    payment = Payment(project=project, deliverable=deliverable, amount_jpy=10_000_000)
    payment.full_clean()
    payment.save()
    payment.paid_on = "2026-07-01"
    with pytest.raises(ValidationError) as raised:
        payment.full_clean()
    assert raised.value.message_dict == {
        "paid_on": ["An instalment is paid once its deliverable is accepted."]
    }
    services.upload_deliverable(user=consultant, deliverable=deliverable, upload=upload())
    services.review_deliverable(actor=staff, deliverable=deliverable, accept=True)
    payment.deliverable.refresh_from_db()
    payment.full_clean()
    payment.save()
    with pytest.raises(ValidationError) as raised:
        Payment(project=project, amount_jpy=30_000_001).full_clean()
    assert "more than the contract amount (¥40,000,000)" in str(raised.value)
    url = reverse("project_detail", args=[project.code])
    assert "¥10,000,000" in signed_in(consultant).get(url).content.decode()
    assert "¥10,000,000" in signed_in(staff).get(url).content.decode()
    assert "¥10,000,000" not in signed_in(danang_lead).get(url).content.decode()


def test_an_invitation_missed_at_confirmation_is_claimed_at_sign_in(project, staff):
    invited = UserFactory(email="late.confirm@survey.example")
    # The invitation was written while the address was being confirmed: nobody claimed it.
    ConsultantInvitation.objects.create(project=project, email=invited.email, invited_by=staff)
    assert not project.consultants.exists()
    client = Client()
    client.post(reverse("account_login"), {"login": invited.email, "password": PASSWORD})
    assert list(project.consultants.all()) == [invited]
