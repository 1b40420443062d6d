"""Investment promotion (issue 16): a project's financing tracks, their amounts and statuses."""

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from proposals import services
from proposals.models import (
    AuditEvent,
    DeliverableKind,
    DeliverableState,
    FinancingDocument,
    FinancingStatus,
    FinancingTrack,
)

from .factories import UserFactory, pdf_bytes, upload


@pytest.fixture
def promoted(project, staff):
    """The project, its final report accepted, in investment promotion."""
    project.deliverables.filter(kind=DeliverableKind.FINAL).update(state=DeliverableState.ACCEPTED)
    return services.take_project_transition(
        actor=staff, project=project, name="promote_investment"
    ).project


def add(project, actor, **kwargs):
    values = {"kind": "jbic_loan", "counterpart": "JBIC", "sought_jpy": 2_000_000_000, **kwargs}
    return services.add_financing_track(actor=actor, project=project, **values)


def status(track, name, actor, **kwargs):
    return services.change_financing_status(actor=actor, track=track, name=name, **kwargs)


def test_financing_waits_for_investment_promotion(project, staff):
    with pytest.raises(ValidationError) as raised:
        add(project, staff)
    assert raised.value.messages == [
        "Financing is sought once the project is in investment promotion."
    ]
    assert not FinancingTrack.objects.exists()


@pytest.mark.parametrize("role", ["danang_lead", "reviewer"])
def test_only_staff_add_and_move_tracks(request, promoted, staff, role):
    actor = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        add(promoted, actor)
    track = add(promoted, staff)
    with pytest.raises(PermissionDenied):
        status(track, "refer", actor)
    track.refresh_from_db()
    assert track.status == FinancingStatus.IDENTIFIED


def test_a_negative_amount_is_refused_and_nothing_stored(promoted, staff):
    with pytest.raises(ValidationError):
        add(promoted, staff, sought_jpy=-1)
    assert not FinancingTrack.objects.exists()


def test_from_identified_to_disbursed(
    promoted, staff, danang_lead, django_capture_on_commit_callbacks
):
    track = add(promoted, staff)
    status(track, "refer", staff, note="Sent to JBIC's infrastructure department.")
    status(track, "appraise", staff)
    with pytest.raises(ValidationError) as raised:
        status(track, "approve", staff)
    assert raised.value.messages == ["Give the amount the investor committed."]
    # More than sought needs a reason: refused, nothing changed.
    with pytest.raises(ValidationError) as raised:
        status(track, "approve", staff, committed_jpy=2_500_000_000)
    assert raised.value.message_dict == {
        "above_sought_reason": ["More than the amount sought is committed: say why."]
    }
    track.refresh_from_db()
    assert (track.status, track.committed_jpy) == (FinancingStatus.UNDER_APPRAISAL, None)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        status(
            track,
            "approve",
            staff,
            committed_jpy=2_500_000_000,
            above_sought_reason="The second phase was added.",
        )
    (message,) = [m for m in mail.outbox if m.to == [danang_lead.email]]
    assert "JBIC loan" in message.subject and "Approved" in message.subject
    status(track, "disburse", staff)
    track.refresh_from_db()
    assert (track.status, track.committed_jpy) == (FinancingStatus.DISBURSED, 2_500_000_000)
    assert [(c.from_status, c.to_status) for c in track.status_changes.all()] == [
        ("identified", "referred"),
        ("referred", "under_appraisal"),
        ("under_appraisal", "approved"),
        ("approved", "disbursed"),
    ]
    assert AuditEvent.objects.filter(action="financing.status_changed").count() == 4
    with pytest.raises(ValidationError) as raised:
        status(track, "decline", staff)
    assert raised.value.messages == ["This is not possible while the financing is disbursed."]


def test_the_city_sees_its_tracks_and_the_page_does_not_grow(
    promoted, staff, danang_lead, cebu_lead, assert_page_queries
):
    add(promoted, staff)
    client = Client()
    client.force_login(danang_lead)
    url = reverse("project_detail", args=[promoted.code])
    page = client.get(url).content.decode()
    assert "JBIC loan" in page and "¥2,000,000,000" in page and "Identified" in page
    # The user, the project, its plan, the plan's versions, the history, the financing.
    with assert_page_queries(6):
        client.get(url)
    for n in range(4):
        add(promoted, staff, kind="join_equity", counterpart=f"JOIN {n}")
    with assert_page_queries(6):
        client.get(url)
    other = Client()
    other.force_login(cebu_lead)
    assert other.get(url).status_code == 404


def test_staff_add_a_track_and_take_the_investors_decision_in_the_admin(promoted, staff):
    client = Client()
    client.force_login(staff)
    response = client.post(
        reverse("admin:proposals_financingtrack_add"),
        {
            "project": promoted.pk,
            "kind": "jica_loan",
            "counterpart": "JICA",
            "contact": "",
            "sought_jpy": "900000000",
            "committed_jpy": "",
            "above_sought_reason": "",
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
            "documents-TOTAL_FORMS": "0",
            "documents-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    track = FinancingTrack.objects.get()
    assert AuditEvent.objects.filter(action="financing.added").count() == 1
    changelist = reverse("admin:proposals_financingtrack_changelist")
    client.post(changelist, {"action": "take_refer", "_selected_action": [track.pk]})
    track.refresh_from_db()
    assert track.status == FinancingStatus.REFERRED
    change = reverse("admin:proposals_financingtrack_change", args=[track.pk])
    assert client.get(change).status_code == 200
    assert (
        client.get(reverse("admin:proposals_project_change", args=[promoted.pk])).status_code == 200
    )


def change_form(track, upload_file) -> dict:
    return {
        "counterpart": track.counterpart,
        "contact": "",
        "sought_jpy": str(track.sought_jpy),
        "committed_jpy": "",
        "above_sought_reason": "",
        "status_changes-TOTAL_FORMS": "0",
        "status_changes-INITIAL_FORMS": "0",
        "documents-TOTAL_FORMS": "1",
        "documents-INITIAL_FORMS": "0",
        "documents-0-file": upload_file,
    }


def test_staff_keep_a_track_s_documents_which_only_staff_read(
    promoted, staff, danang_lead, cebu_lead, reviewer, private_files
):
    track = add(promoted, staff)
    client = Client()
    client.force_login(staff)
    change = reverse("admin:proposals_financingtrack_change", args=[track.pk])
    response = client.post(change, change_form(track, upload("term-sheet.pdf", pdf_bytes())))
    assert response.status_code == 302, response.content.decode()[:3000]
    document = FinancingDocument.objects.get()
    assert (document.track, document.name, document.uploaded_by) == (track, "term-sheet.pdf", staff)
    assert AuditEvent.objects.filter(action="financing.document_added").count() == 1
    url = reverse("financing_document", args=[promoted.code, document.code])
    assert url in client.get(change).content.decode()
    download = client.get(url)
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    consultant = UserFactory(email="firm@survey.example")
    promoted.consultants.add(consultant)
    for user in (danang_lead, cebu_lead, reviewer, consultant):
        other = Client()
        other.force_login(user)
        assert other.get(url).status_code == 404, user
    assert Client().get(url).status_code == 404


def test_a_track_document_that_is_not_what_its_name_says_is_refused(promoted, staff, private_files):
    track = add(promoted, staff)
    client = Client()
    client.force_login(staff)
    change = reverse("admin:proposals_financingtrack_change", args=[track.pk])
    response = client.post(change, change_form(track, upload("term-sheet.pdf", b"<html>x</html>")))
    assert response.status_code == 200
    assert (
        "is not a PDF" in response.content.decode() or "not accepted" in response.content.decode()
    )
    assert not FinancingDocument.objects.exists()
    with pytest.raises(PermissionDenied):
        services.add_financing_document(
            actor=UserFactory(), track=track, upload=upload("a.pdf", pdf_bytes())
        )
