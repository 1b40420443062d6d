import datetime
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from proposals import services
from proposals.models import (
    City,
    CityMembership,
    Country,
    DeadlineExtension,
    Proposal,
    ProposalSnapshot,
    Status,
    StatusChange,
    VerificationStatus,
)

from .factories import (
    UserFactory,
    docx_bytes,
    image_bytes,
    make_call,
    make_city,
    make_proposal,
    pdf_bytes,
    upload,
)

pytestmark = pytest.mark.django_db


def test_start_proposal_for_a_verified_member(call, danang, danang_editor):
    proposal = services.start_proposal(user=danang_editor, call=call, city=danang, title="Ý tưởng")
    assert (proposal.status, proposal.version, proposal.reference_code) == (Status.DRAFT, 1, None)
    assert proposal.created_by == danang_editor


def test_start_proposal_refusals(call, danang, danang_lead, cebu_lead, reference_data):
    with pytest.raises(ValidationError) as raised:
        services.start_proposal(user=cebu_lead, call=call, city=danang, title="x")
    assert raised.value.messages == ["You are not a member of this city."]

    City.objects.filter(pk=danang.pk).update(verification_status=VerificationStatus.PENDING)
    danang.refresh_from_db()
    only_thailand = make_call("Thai call", countries=Country.objects.filter(iso2="TH"))
    with pytest.raises(ValidationError) as raised:
        services.start_proposal(user=danang_lead, call=only_thailand, city=danang, title="x")
    # Issue 18: a city being verified may draft, so only the country stops it here.
    assert raised.value.messages == ["Cities of Viet Nam are not eligible for this call."]
    # ... it drafts in a call it is eligible for, but cannot submit until it is verified.
    pending_draft = make_proposal(call, danang, danang_lead, title="While verified")
    with pytest.raises(ValidationError) as raised:
        services.submit_proposal(user=danang_lead, proposal=pending_draft)
    assert raised.value.messages == ["The city must be verified by programme staff first."]
    pending_draft.refresh_from_db()
    assert (pending_draft.status, pending_draft.reference_code) == (Status.DRAFT, None)

    # A rejected city drafts nothing.
    City.objects.filter(pk=danang.pk).update(
        verification_status=VerificationStatus.REJECTED, rejection_reason="No letter."
    )
    danang.refresh_from_db()
    with pytest.raises(ValidationError) as raised:
        services.start_proposal(user=danang_lead, call=only_thailand, city=danang, title="x")
    assert raised.value.messages == [
        "The city must be verified by programme staff first.",
        "Cities of Viet Nam are not eligible for this call.",
    ]

    closed = make_call("Closed", opens_in_days=-20, closes_in_days=-1)
    City.objects.filter(pk=danang.pk).update(verification_status=VerificationStatus.VERIFIED)
    danang.refresh_from_db()
    with pytest.raises(ValidationError) as raised:
        services.start_proposal(user=danang_lead, call=closed, city=danang, title="x")
    assert raised.value.messages == ["The call is closed."]


def test_save_draft_bumps_the_version_and_replaces_partners(call, danang, danang_editor):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    saved = services.save_draft(
        user=danang_editor,
        proposal=proposal,
        base_version=1,
        values={"title": "Hệ thống cảnh báo lũ sớm", "summary": "ระบบเตือนภัยน้ำท่วม"},
        focus_areas=[],
        sectors=[],
        partners=[{"name": "Kyoto University", "kind": "university", "role": "Models"}],
    )
    saved.refresh_from_db()
    assert (saved.version, saved.title, saved.summary) == (
        2,
        "Hệ thống cảnh báo lũ sớm",
        "ระบบเตือนภัยน้ำท่วม",
    )
    assert list(saved.partners.values_list("name", flat=True)) == ["Kyoto University"]


def test_save_draft_from_an_outdated_copy_is_refused(call, danang, danang_lead, danang_editor):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    services.save_draft(
        user=danang_lead,
        proposal=proposal,
        base_version=1,
        values={"title": "Lead's title"},
        focus_areas=[],
        sectors=[],
        partners=[],
    )
    with pytest.raises(services.StaleProposal) as raised:
        services.save_draft(
            user=danang_editor,
            proposal=proposal,
            base_version=1,
            values={"title": "Editor's"},
            focus_areas=[],
            sectors=[],
            partners=[],
        )
    assert raised.value.proposal.title == "Lead's title"
    proposal.refresh_from_db()
    assert (proposal.title, proposal.version) == ("Lead's title", 2)


def test_submit_gives_reference_code_status_change_and_snapshot(call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead)
    submitted = services.submit_proposal(user=danang_lead, proposal=proposal)

    year = timezone.localtime(timezone.now(), datetime.timezone(datetime.timedelta(hours=9))).year
    assert submitted.reference_code == f"SJ-{year}-VN-0001"
    assert submitted.status == Status.SUBMITTED
    change = StatusChange.objects.get(proposal=proposal)
    assert (
        change.from_status,
        change.to_status,
        change.actor,
        change.message,
        change.is_public,
    ) == (
        Status.DRAFT,
        Status.SUBMITTED,
        danang_lead,
        "Submitted.",
        True,
    )
    snapshot = ProposalSnapshot.objects.get(proposal=proposal)
    assert (snapshot.number, snapshot.data["title"], snapshot.data["requested_jpy"]) == (
        1,
        "Flood early warning",
        40_000_000,
    )
    second = make_proposal(call, danang, danang_lead, title="Second")
    assert services.submit_proposal(user=danang_lead, proposal=second).reference_code == (
        f"SJ-{year}-VN-0002"
    )


def test_reference_codes_are_never_reused_after_withdrawal(call, danang, danang_lead):
    first = services.submit_proposal(
        user=danang_lead, proposal=make_proposal(call, danang, danang_lead)
    )
    services.withdraw_proposal(user=danang_lead, proposal=first, reason="Merged with another.")
    second = services.submit_proposal(
        user=danang_lead, proposal=make_proposal(call, danang, danang_lead, title="Other")
    )
    assert first.reference_code.endswith("-0001") and second.reference_code.endswith("-0002")


def test_submit_by_an_editor_is_refused(call, danang, danang_lead, danang_editor):
    proposal = make_proposal(call, danang, danang_editor)
    with pytest.raises(PermissionDenied):
        services.submit_proposal(user=danang_editor, proposal=proposal)
    proposal.refresh_from_db()
    assert proposal.status == Status.DRAFT


def test_submit_incomplete_lists_what_is_missing(call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead, complete=False)
    missing = (
        "Overview: a summary; Overview: a contact person with an email address; Problem and "
        "solution: the problem to solve; Problem and solution: the proposed solution; Focus areas "
        "and sectors: at least one ASCN focus area; Focus areas and sectors: at least one sector; "
        "Outcomes and indicators: the expected outcomes; Outcomes and indicators: indicators to "
        "measure them; Timeline: a planned start and a duration; Timeline: the milestones; Budget "
        "and financing: the total cost; Budget and financing: the requested amount; Budget and "
        "financing: at least one financing instrument; Attachments: a concept note; Declaration: "
        "the declaration, ticked."
    )
    contact = "Overview: a contact person with an email address; "
    with pytest.raises(ValidationError) as raised:
        services.submit_proposal(user=danang_lead, proposal=proposal)
    # Issue 18: the contact person comes from the starter's profile, so it is not missing ...
    assert raised.value.messages == [f"The proposal is incomplete: {missing.replace(contact, '')}"]

    # ... until someone empties it.
    Proposal.objects.filter(pk=proposal.pk).update(contact_name="", contact_email="")
    proposal.refresh_from_db()
    with pytest.raises(ValidationError) as raised:
        services.submit_proposal(user=danang_lead, proposal=proposal)
    assert raised.value.messages == [f"The proposal is incomplete: {missing}"]


def test_missing_section_is_named(call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead)
    proposal.attachments.all().delete()
    assert proposal.missing_for_submission() == [("Attachments", "a concept note")]


def test_submit_one_second_after_the_deadline_is_refused(clock, call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead)
    clock.set(call.closes_at + datetime.timedelta(seconds=1))
    with pytest.raises(ValidationError) as raised:
        services.submit_proposal(user=danang_lead, proposal=proposal)
    assert raised.value.messages == ["The call closed; submissions are no longer accepted."]
    clock.set(call.closes_at)
    with pytest.raises(ValidationError):
        services.submit_proposal(user=danang_lead, proposal=proposal)
    clock.set(call.closes_at - datetime.timedelta(seconds=1))
    assert services.submit_proposal(user=danang_lead, proposal=proposal).status == Status.SUBMITTED


def test_extension_lets_exactly_its_city_submit_until_it_ends(
    clock, call, danang, danang_lead, cebu, cebu_lead, staff
):
    ours = make_proposal(call, danang, danang_lead)
    theirs = make_proposal(call, cebu, cebu_lead)
    DeadlineExtension.objects.create(
        call=call,
        city=danang,
        closes_at=call.closes_at + datetime.timedelta(days=2),
        reason="Typhoon closed the city hall.",
        granted_by=staff,
    )
    clock.set(call.closes_at + datetime.timedelta(days=1))
    with pytest.raises(ValidationError):
        services.submit_proposal(user=cebu_lead, proposal=theirs)
    assert services.submit_proposal(user=danang_lead, proposal=ours).status == Status.SUBMITTED

    clock.set(call.closes_at + datetime.timedelta(days=2, seconds=1))
    second = Proposal.objects.create(call=call, city=danang, title="After the extension")
    with pytest.raises(ValidationError) as raised:
        services.submit_proposal(user=danang_lead, proposal=second)
    assert "The call closed; submissions are no longer accepted." in raised.value.messages


def test_submit_beyond_the_city_limit_is_refused(reference_data, danang, danang_lead):
    call = make_call(max_proposals_per_city=1)
    services.submit_proposal(user=danang_lead, proposal=make_proposal(call, danang, danang_lead))
    other = make_proposal(call, danang, danang_lead, title="Another")
    with pytest.raises(ValidationError) as raised:
        services.submit_proposal(user=danang_lead, proposal=other)
    assert raised.value.messages == ["Your city has submitted the 1 proposals this call allows."]


def test_submit_twice_is_one_submission(call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead)
    services.submit_proposal(user=danang_lead, proposal=proposal)
    with pytest.raises(services.AlreadySubmitted):
        services.submit_proposal(user=danang_lead, proposal=proposal)
    assert StatusChange.objects.filter(proposal=proposal).count() == 1


def test_submitted_proposal_is_read_only_for_the_city(call, danang, danang_lead):
    proposal = services.submit_proposal(
        user=danang_lead, proposal=make_proposal(call, danang, danang_lead)
    )
    with pytest.raises(ValidationError):
        services.save_draft(
            user=danang_lead,
            proposal=proposal,
            base_version=proposal.version,
            values={"title": "changed"},
            focus_areas=[],
            sectors=[],
            partners=[],
        )
    with pytest.raises(ValidationError):
        services.add_attachment(user=danang_lead, proposal=proposal, kind="map", upload=upload())


def test_withdraw_needs_a_lead_and_a_reason(call, danang, danang_lead, danang_editor):
    proposal = services.submit_proposal(
        user=danang_lead, proposal=make_proposal(call, danang, danang_lead)
    )
    with pytest.raises(PermissionDenied):
        services.withdraw_proposal(user=danang_editor, proposal=proposal, reason="No.")
    with pytest.raises(ValidationError):
        services.withdraw_proposal(user=danang_lead, proposal=proposal, reason="  ")
    withdrawn = services.withdraw_proposal(
        user=danang_lead, proposal=proposal, reason="Budget cut."
    )
    assert withdrawn.status == Status.WITHDRAWN
    assert list(proposal.status_changes.values_list("to_status", "message")) == [
        (Status.SUBMITTED, "Submitted."),
        (Status.WITHDRAWN, "Budget cut."),
    ]
    with pytest.raises(ValidationError):
        services.withdraw_proposal(user=danang_lead, proposal=withdrawn, reason="Again.")


def test_status_cannot_be_assigned_directly(call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead)
    with pytest.raises(AttributeError):
        proposal.status = Status.APPROVED


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("note.pdf", pdf_bytes()),
        ("budget.xlsx", None),
        ("plan.docx", docx_bytes()),
        ("map.png", image_bytes("PNG")),
        ("photo.jpg", image_bytes("JPEG")),
    ],
)
def test_add_attachment_accepts_the_allowed_types(call, danang, danang_editor, name, content):
    if content is None:
        import io

        import openpyxl

        buffer = io.BytesIO()
        openpyxl.Workbook().save(buffer)
        content = buffer.getvalue()
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    attachment = services.add_attachment(
        user=danang_editor, proposal=proposal, kind="other", upload=upload(name, content)
    )
    assert attachment.name == name
    assert attachment.file.name.startswith("attachments/") and name not in attachment.file.name


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "tool.exe",
            b"MZ\x90\x00" + b"\x00" * 200,
            "This file is not a PDF or DOCX or XLSX or PNG or JPEG document (its content was "
            "checked, not its name).",
        ),
        (
            "run.pdf",
            b"\x7fELF\x02\x01\x01" + b"\x00" * 200,
            "This file is not a PDF or DOCX or XLSX or PNG or JPEG document (its content was "
            "checked, not its name).",
        ),
        (
            "page.pdf",
            b"<html><script>alert(1)</script></html>",
            "This file is not a PDF or DOCX or XLSX or PNG or JPEG document (its content was "
            "checked, not its name).",
        ),
        (
            "big.pdf",
            pdf_bytes(size=21 * 1024 * 1024),
            "The file is 21.0\xa0MB; at most 20.0\xa0MB is accepted.",
        ),
    ],
    ids=["windows-executable", "elf-named-pdf", "html-named-pdf", "21-MB"],
)
def test_add_attachment_refuses_wrong_files(
    call, danang, danang_editor, private_files, name, content, message
):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    before = private_files()
    with pytest.raises(ValidationError) as raised:
        services.add_attachment(
            user=danang_editor, proposal=proposal, kind="other", upload=upload(name, content)
        )
    assert raised.value.messages == [message]
    assert private_files() == before


def test_eleventh_attachment_is_refused(call, danang, danang_editor, private_files):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    for n in range(10):
        services.add_attachment(
            user=danang_editor, proposal=proposal, kind="other", upload=upload(f"{n}.pdf")
        )
    with pytest.raises(ValidationError) as raised:
        services.add_attachment(
            user=danang_editor, proposal=proposal, kind="other", upload=upload("11.pdf")
        )
    assert raised.value.messages == ["A proposal has at most 10 attachments. Remove one first."]
    assert len([name for name in private_files() if name.startswith("attachments/")]) == 10


def test_attachment_name_is_sanitised(call, danang, danang_editor):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    attachment = services.add_attachment(
        user=danang_editor,
        proposal=proposal,
        kind="other",
        upload=upload('../../<img src=x onerror="x">.pdf', pdf_bytes()),
    )
    assert attachment.name == "img src=x onerror=x.pdf"


def test_post_message_marks_staff_messages(call, danang, danang_lead, staff, cebu_lead):
    proposal = make_proposal(call, danang, danang_lead, complete=False)
    city_message = services.post_message(user=danang_lead, proposal=proposal, body="A question")
    staff_message = services.post_message(user=staff, proposal=proposal, body="An answer")
    assert (city_message.from_staff, staff_message.from_staff) == (False, True)
    with pytest.raises(PermissionDenied):
        services.post_message(user=cebu_lead, proposal=proposal, body="Nosy")


@pytest.mark.django_db(transaction=True)
def test_parallel_submissions_for_the_last_place_leave_the_limit(reference_data):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to test")
    city = make_city("Cần Thơ", "VN", verified=True)
    lead = UserFactory(email="lead.cantho@example.org")
    CityMembership.objects.create(city=city, user=lead, role="lead")
    call = make_call(max_proposals_per_city=3)
    for n in range(2):
        services.submit_proposal(
            user=lead, proposal=make_proposal(call, city, lead, title=f"Early {n}")
        )
    racers = [make_proposal(call, city, lead, title=f"Racer {n}") for n in range(20)]
    results = _race(lambda proposal: services.submit_proposal(user=lead, proposal=proposal), racers)

    assert sorted(type(r).__name__ for r in results).count("Proposal") == 1
    assert Proposal.objects.filter(call=call, city=city, status=Status.SUBMITTED).count() == 3
    assert StatusChange.objects.filter(proposal__call=call).count() == 3


@pytest.mark.django_db(transaction=True)
def test_parallel_first_submissions_never_share_a_reference_code(reference_data):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to test")
    call = make_call()
    proposals = []
    for n in range(12):
        city = make_city(f"Thành phố {n}", "VN", verified=True)
        lead = UserFactory(email=f"lead{n}@example.org")
        CityMembership.objects.create(city=city, user=lead, role="lead")
        proposals.append(make_proposal(call, city, lead))
    results = _race(
        lambda proposal: services.submit_proposal(
            user=proposal.city.memberships.get().user, proposal=proposal
        ),
        proposals,
    )
    codes = [r.reference_code for r in results]
    assert len(codes) == 12 and len(set(codes)) == 12
    assert sorted(int(code.rsplit("-", 1)[1]) for code in codes) == list(range(1, 13))


def _race(action, items):
    """Run `action` on every item in its own thread and connection, all starting together."""
    results = []
    barrier = threading.Barrier(len(items))

    def run(item):
        barrier.wait()
        try:
            results.append(action(item))
        except (ValidationError, services.AlreadySubmitted) as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_an_extension_never_shortens_a_deadline(call, danang, staff):
    DeadlineExtension.objects.create(
        call=call,
        city=danang,
        closes_at=call.closes_at + datetime.timedelta(days=1),
        reason="Flood",
        granted_by=staff,
    )
    call.closes_at += datetime.timedelta(days=5)
    call.save()
    assert call.deadline_for(danang) == call.closes_at
    from proposals.models import Call

    assert Call.objects.with_deadline_for(danang.pk).get(pk=call.pk).deadline == call.closes_at
