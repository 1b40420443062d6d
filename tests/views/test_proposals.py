import datetime
import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from proposals import services
from proposals.models import Attachment, Proposal, Status, StatusChange
from smartjamp import cache_versions

from ..factories import make_call, make_proposal, upload

pytestmark = pytest.mark.django_db


def edit_data(proposal, **changes):
    """The edit form as a browser posts it, with `changes` applied."""
    data = {
        "base_version": proposal.version,
        "title": proposal.title,
        "partners-TOTAL_FORMS": "1",
        "partners-INITIAL_FORMS": "0",
        "partners-MIN_NUM_FORMS": "0",
        "partners-MAX_NUM_FORMS": "20",
        "partners-0-name": "",
        "partners-0-kind": "",
        "partners-0-role": "",
    }
    data.update(changes)
    return data


@pytest.fixture
def draft(call, danang, danang_lead):
    return make_proposal(call, danang, danang_lead)


def test_edit_saves_a_draft_and_redirects(client, draft, danang_editor):
    client.force_login(danang_editor)
    response = client.post(
        reverse("proposal_edit", args=[draft.code]),
        edit_data(
            draft,
            title="Cảnh báo lũ",
            summary="ระบบเตือนภัยน้ำท่วม",
            **{
                "partners-0-name": "大阪大学",
                "partners-0-kind": "university",
                "partners-0-role": "Hydrology",
            },
        ),
    )
    assert response["Location"] == reverse("proposal_edit", args=[draft.code])
    draft.refresh_from_db()
    assert (draft.title, draft.summary, draft.version) == ("Cảnh báo lũ", "ระบบเตือนภัยน้ำท่วม", 3)
    assert list(draft.partners.values_list("name", "role")) == [("大阪大学", "Hydrology")]
    page = client.get(reverse("proposal_detail", args=[draft.code])).content.decode()
    assert "Cảnh báo lũ" in page and "ระบบเตือนภัยน้ำท่วม" in page


def test_save_draft_always_works_when_incomplete(client, call, danang, danang_editor):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    client.force_login(danang_editor)
    response = client.post(reverse("proposal_edit", args=[proposal.code]), edit_data(proposal))
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Draft saved at" in page
    # Issue 18: each checklist item links to the form's section where it is filled in.
    assert '<a href="#attachments"><strong>Attachments</strong></a>: a concept note' in page


def test_edit_refuses_an_amount_over_the_call_maximum(client, draft, danang_lead):
    client.force_login(danang_lead)
    response = client.post(
        reverse("proposal_edit", args=[draft.code]),
        edit_data(draft, requested_jpy="50000001", total_cost_jpy="90000000"),
    )
    assert response.status_code == 200
    assert response.context["form"].errors["requested_jpy"] == [
        "This call funds at most ¥50,000,000 per proposal."
    ]
    draft.refresh_from_db()
    assert draft.requested_jpy == 40_000_000


def test_edit_ignores_fields_a_city_may_not_set(client, draft, danang_lead, cebu):
    client.force_login(danang_lead)
    client.post(
        reverse("proposal_edit", args=[draft.code]),
        edit_data(
            draft,
            status="approved",
            reference_code="SJ-2026-VN-9999",
            city=cebu.pk,
            approved_jpy="1",
            call="1",
            version="99",
            code="mine",
        ),
    )
    draft.refresh_from_db()
    assert (draft.status, draft.reference_code, draft.city_id, draft.approved_jpy, draft.code) == (
        Status.DRAFT,
        None,
        draft.city_id,
        None,
        draft.code,
    )
    assert draft.city.name == "Da Nang"


def test_stale_save_is_refused_and_shows_what_changed(draft, danang_lead, danang_editor):
    lead, editor = Client(), Client()
    lead.force_login(danang_lead)
    editor.force_login(danang_editor)
    url = reverse("proposal_edit", args=[draft.code])
    base = edit_data(draft)  # both opened the same version

    lead.post(url, {**base, "title": "The lead's title"})
    response = editor.post(url, {**base, "title": "The editor's title"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Not saved: a colleague changed this draft meanwhile" in page
    assert '<dt>Title</dt><dd class="text-break">The lead&#x27;s title</dd>' in page
    assert 'value="The editor&#x27;s title"' in page  # the editor's text is kept
    draft.refresh_from_db()
    assert draft.title == "The lead's title"

    # Saving again, now knowingly over the lead's version, goes through.
    again = editor.post(url, {**base, "title": "The editor's title", "base_version": draft.version})
    assert again.status_code == 302
    draft.refresh_from_db()
    assert draft.title == "The editor's title"


def test_autosave_answers_json(client, draft, danang_editor):
    client.force_login(danang_editor)
    url = reverse("proposal_edit", args=[draft.code])
    response = client.post(url, edit_data(draft, title="Autosaved"), HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 200
    assert response.json()["version"] == draft.version + 1
    assert response.json()["message"].startswith("Draft saved at ")
    stale = client.post(url, edit_data(draft, title="Old copy"), HTTP_X_REQUESTED_WITH="fetch")
    assert (stale.status_code, stale.json()["conflict"]) == (409, True)
    bad = client.post(
        url,
        edit_data(draft, base_version=draft.version + 1, requested_jpy="-5"),
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["requested_jpy", "partners"]


TEXT_FIELDS = [
    "title",
    "summary",
    "problem",
    "solution",
    "outcomes",
    "indicators",
    "timeline",
    "co_financing_sources",
    "contact_name",
]


def test_script_in_every_text_field_is_inert(client, draft, danang_lead, staff):
    script = "<script>alert('x')</script>"
    client.force_login(danang_lead)
    saved = client.post(
        reverse("proposal_edit", args=[draft.code]),
        edit_data(
            draft,
            **{name: f"{name} {script}" for name in TEXT_FIELDS},
            **{"partners-0-name": script, "partners-0-kind": "company", "partners-0-role": script},
            contact_phone="<i>+84</i>",
        ),
    )
    assert saved.status_code == 302, saved.context["form"].errors
    client.post(reverse("proposal_message", args=[draft.code]), {"body": script})
    draft.refresh_from_db()
    assert draft.summary == f"summary {script}"
    pages = [
        reverse("proposal_detail", args=[draft.code]),
        reverse("proposal_edit", args=[draft.code]),
        reverse("proposal_print", args=[draft.code]),
        reverse("my_proposals"),
        reverse("call_detail", args=[draft.call.code]),
    ]
    for url in pages:
        page = client.get(url).content.decode()
        assert script not in page, url
        assert "<i>+84</i>" not in page, url
        assert "alert(" not in page.replace(html.escape(script, quote=True), "").replace(
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;", ""
        ), url
    staff_client = Client()
    staff_client.force_login(staff)
    admin_page = staff_client.get(reverse("admin:proposals_proposal_change", args=[draft.pk]))
    assert script not in admin_page.content.decode()


def test_unicode_text_round_trips_unchanged(client, draft, danang_lead):
    vietnamese = "Dự án đô thị thông minh Đà Nẵng: giảm ngập úng"
    thai = "โครงการเมืองอัจฉริยะ ลดน้ำท่วมในกรุงเทพฯ"
    client.force_login(danang_lead)
    client.post(
        reverse("proposal_edit", args=[draft.code]),
        edit_data(draft, title=vietnamese, summary=thai),
    )
    draft.refresh_from_db()
    assert (draft.title, draft.summary) == (vietnamese, thai)
    page = client.get(reverse("proposal_print", args=[draft.code])).content.decode()
    assert vietnamese in page and thai in page


def test_submit_shows_receipt_and_timeline(client, draft, danang_lead):
    client.force_login(danang_lead)
    url = reverse("proposal_submit", args=[draft.code])
    # Issue 18: posted without the confirmation page's button, nothing is submitted and the
    # confirmation page is shown.
    unconfirmed = client.post(url)
    assert unconfirmed.status_code == 200 and 'name="confirm"' in unconfirmed.content.decode()
    draft.refresh_from_db()
    assert (draft.status, draft.reference_code) == (Status.DRAFT, None)
    assert not StatusChange.objects.filter(proposal=draft).exists()
    response = client.post(url, {"confirm": "yes"})
    assert response["Location"] == reverse("proposal_receipt", args=[draft.code])
    draft.refresh_from_db()
    receipt = client.get(response["Location"]).content.decode()
    # Issue 18: the reference code does not break mid-code on a phone.
    assert f'<strong class="text-nowrap">{draft.reference_code}</strong>' in receipt
    detail = client.get(reverse("proposal_detail", args=[draft.code])).content.decode()
    assert "<strong>Submitted</strong>: Submitted." in detail
    assert "Edit the draft" not in detail
    edit = client.get(reverse("proposal_edit", args=[draft.code]))
    assert edit["Location"] == reverse("proposal_detail", args=[draft.code])


def test_double_clicked_submit_is_one_submission(client, draft, danang_lead):
    client.force_login(danang_lead)
    url = reverse("proposal_submit", args=[draft.code])
    first, second = client.post(url, {"confirm": "yes"}), client.post(url, {"confirm": "yes"})
    assert first["Location"] == reverse("proposal_receipt", args=[draft.code])
    # Issue 18: the second click lands on the receipt too; the confirmation page, opened
    # again, leads back to the proposal's page.
    assert second["Location"] == reverse("proposal_receipt", args=[draft.code])
    page = client.get(second["Location"]).content.decode()
    assert "This proposal was submitted already." in page and draft.title in page
    assert client.get(url)["Location"] == reverse("proposal_detail", args=[draft.code])
    assert StatusChange.objects.filter(proposal=draft).count() == 1
    assert Proposal.objects.get(pk=draft.pk).status == Status.SUBMITTED


def test_submit_after_the_deadline_by_the_server_clock(client, clock, draft, danang_lead):
    clock.set(draft.call.closes_at + datetime.timedelta(seconds=1))
    client.force_login(danang_lead)
    response = client.post(
        reverse("proposal_submit", args=[draft.code]), {"confirm": "yes"}, follow=True
    )
    assert "The call closed; submissions are no longer accepted." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_withdraw_with_a_reason(client, draft, danang_lead):
    services.submit_proposal(user=danang_lead, proposal=draft)
    client.force_login(danang_lead)
    url = reverse("proposal_withdraw", args=[draft.code])
    empty = client.post(url, {"reason": "", "confirm": "yes"})
    assert empty.context["form"].errors == {"reason": ["This field is required."]}
    # Issue 18: a reason posted without the confirmation page's button withdraws nothing.
    unconfirmed = client.post(url, {"reason": "The council changed its priorities."})
    assert unconfirmed.status_code == 200 and 'name="confirm"' in unconfirmed.content.decode()
    draft.refresh_from_db()
    assert draft.status == Status.SUBMITTED
    client.post(url, {"reason": "The council changed its priorities.", "confirm": "yes"})
    draft.refresh_from_db()
    assert draft.status == Status.WITHDRAWN
    page = client.get(reverse("proposal_detail", args=[draft.code])).content.decode()
    assert "<strong>Withdrawn</strong>: The council changed its priorities." in page


def test_upload_and_remove_attachments_in_the_browser_form(client, call, danang, danang_editor):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    client.force_login(danang_editor)
    url = reverse("proposal_attachment_upload", args=[proposal.code])
    response = client.post(
        url, {"kind": "concept_note", "file": upload("Ghi chú.pdf")}, follow=True
    )
    assert "Ghi chú.pdf is attached." in response.content.decode()
    attachment = Attachment.objects.get(proposal=proposal)
    download = client.get(reverse("proposal_attachment", args=[proposal.code, attachment.code]))
    assert download["Content-Disposition"] == "attachment; filename*=utf-8''Ghi%20ch%C3%BA.pdf"
    assert download["Content-Type"] == "application/pdf"

    wrong = client.post(
        url, {"kind": "map", "file": upload("x.pdf", b"<html></html>")}, follow=True
    )
    assert (
        "This file is not a PDF or DOCX or XLSX or PNG or JPEG document" in wrong.content.decode()
    )

    delete = reverse("proposal_attachment_delete", args=[proposal.code, attachment.code])
    # Issue 18: removing asks first; a POST without the confirmation's button removes nothing.
    asked = client.get(delete)
    assert asked.status_code == 200 and 'name="confirm"' in asked.content.decode()
    unconfirmed = client.post(delete)
    assert unconfirmed.status_code == 200 and 'name="confirm"' in unconfirmed.content.decode()
    assert Attachment.objects.filter(proposal=proposal).exists()
    client.post(delete, {"confirm": "yes"})
    assert not Attachment.objects.filter(proposal=proposal).exists()


def test_city_sees_programme_staff_not_names_in_the_thread(client, draft, danang_lead, staff):
    services.post_message(user=staff, proposal=draft, body="Please add a map.")
    client.force_login(danang_lead)
    page = client.get(reverse("proposal_detail", args=[draft.code])).content.decode()
    assert "Programme staff" in page and "Please add a map." in page
    assert staff.full_name not in page
    staff_client = Client()
    staff_client.force_login(staff)
    assert (
        staff.full_name
        in staff_client.get(reverse("proposal_detail", args=[draft.code])).content.decode()
    )


def test_staff_answer_from_the_admin(client, draft, staff):
    client.force_login(staff)
    response = client.post(
        reverse("admin:proposals_proposal_change", args=[draft.pk]),
        {
            "partners-TOTAL_FORMS": "0",
            "partners-INITIAL_FORMS": "0",
            "attachments-TOTAL_FORMS": "0",
            "attachments-INITIAL_FORMS": "0",
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
            "messages-TOTAL_FORMS": "1",
            "messages-INITIAL_FORMS": "0",
            "messages-0-body": "We received your draft.",
        },
    )
    assert response.status_code == 302
    message = draft.messages.get()
    assert (message.body, message.author, message.from_staff) == (
        "We received your draft.",
        staff,
        True,
    )


def test_call_page_shows_the_deadline_in_jst_utc_and_the_readers_zone(
    client, clock, reference_data, danang_lead
):
    clock.set(datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.UTC))
    call = make_call(
        opens_at=datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC),
        closes_at=datetime.datetime(2026, 12, 1, 3, 0, tzinfo=datetime.UTC),
    )
    danang_lead.time_zone = "Asia/Ho_Chi_Minh"
    danang_lead.save()
    client.force_login(danang_lead)
    page = " ".join(client.get(reverse("call_detail", args=[call.code])).content.decode().split())
    # The city's zone first (Da Nang's, the reader's too), then JST and UTC.
    assert "<strong>1 Dec 2026, 10:00</strong> Da Nang time (UTC+7)" in page
    assert "1 Dec 2026, 12:00 JST · 1 Dec 2026, 03:00 UTC · 1 week, 4 days left" in page
    assert "your time" not in page
    # A reader in Tokyo sees their own time marked.
    danang_lead.time_zone = "Asia/Tokyo"
    danang_lead.save()
    page = " ".join(client.get(reverse("call_detail", args=[call.code])).content.decode().split())
    assert "<strong>1 Dec 2026, 10:00</strong> Da Nang time (UTC+7)" in page
    assert "1 Dec 2026, 12:00 JST (your time) · 1 Dec 2026, 03:00 UTC" in page


def listed_calls(response) -> dict[str, list[str]]:
    """The call list's titles by phase, read off the page (a cached page has no context)."""
    page = response.content.decode()
    return {
        phase: [
            html.unescape(title)
            for title in re.findall(r'<h3 class="h5 mb-1"><a href="[^"]+">([^<]*)</a>', section)
        ]
        for phase, section in re.findall(
            r'<section aria-labelledby="calls-(\w+)".*?>(.*?)</section>', page, re.S
        )
    }


def test_call_list_groups_open_upcoming_and_closed(client, reference_data):
    make_call("Open call")
    make_call("Future call", opens_in_days=5, closes_in_days=40)
    make_call("Past call", opens_in_days=-60, closes_in_days=-30)
    assert listed_calls(client.get(reverse("call_list"))) == {
        "open": ["Open call"],
        "upcoming": ["Future call"],
        "closed": ["Past call"],
    }


def test_city_sees_its_own_extended_deadline(
    client, clock, call, danang, danang_lead, cebu_lead, staff
):
    from proposals.models import DeadlineExtension

    extended = call.closes_at + datetime.timedelta(days=3)
    DeadlineExtension.objects.create(
        call=call, city=danang, closes_at=extended, reason="Flood", granted_by=staff
    )
    # Another city's extension, granted earlier than Da Nang's and ending later, is not ours.
    cebu = cebu_lead.memberships.get().city
    DeadlineExtension.objects.create(
        call=call,
        city=cebu,
        closes_at=extended - datetime.timedelta(days=1),
        reason="Typhoon",
        granted_by=staff,
    )
    make_proposal(call, danang, danang_lead, complete=False)
    clock.set(call.closes_at + datetime.timedelta(days=1))
    client.force_login(danang_lead)
    assert listed_calls(client.get(reverse("call_list")))["open"] == [call.title]
    assert client.get(reverse("my_proposals")).context["proposals"][0].due_at == extended
    other = Client()
    other.force_login(cebu_lead)
    make_proposal(call, cebu, cebu_lead, complete=False)
    assert other.get(reverse("my_proposals")).context["proposals"][0].due_at == (
        extended - datetime.timedelta(days=1)
    )
    assert listed_calls(other.get(reverse("call_list")))["open"] == [call.title]
    clock.set(extended - datetime.timedelta(hours=12))  # Cebu's extension is over, ours not
    # Days passed: both sessions lapsed (12 hours idle at most), so both sign in again.
    other.force_login(cebu_lead)
    client.force_login(danang_lead)
    assert listed_calls(other.get(reverse("call_list")))["closed"] == [call.title]
    assert listed_calls(client.get(reverse("call_list")))["open"] == [call.title]


def test_start_a_proposal_from_the_call_page(client, call, danang, danang_editor):
    client.force_login(danang_editor)
    response = client.post(
        reverse("call_start_proposal", args=[call.code]),
        {"city": danang.pk, "title": "Ý tưởng mới"},
    )
    proposal = Proposal.objects.get(title="Ý tưởng mới")
    assert response["Location"] == reverse("proposal_edit", args=[proposal.code])
    assert (proposal.city, proposal.call, proposal.created_by) == (danang, call, danang_editor)


def test_start_a_proposal_for_another_city_is_refused(client, call, danang, cebu_lead):
    client.force_login(cebu_lead)
    client.post(reverse("call_start_proposal", args=[call.code]), {"city": danang.pk, "title": "x"})
    assert not Proposal.objects.exists()


def test_my_proposals_query_count_does_not_grow(
    assert_page_queries, client, call, danang, danang_lead
):
    make_proposal(call, danang, danang_lead, complete=False)
    client.force_login(danang_lead)
    client.get(reverse("my_proposals"))
    # The user and the reader's cities (the session is in the cache); the rows come from the
    # cached fragment.
    with assert_page_queries(2):
        response = client.get(reverse("my_proposals"))
    assert len(re.findall(r'href="/proposals/\w+/"', response.content.decode())) == 1
    # Built again: the rows too, in one query.
    cache_versions.bump(cache_versions.city_proposals(danang.pk))
    with assert_page_queries(3):
        response = client.get(reverse("my_proposals"))
    other_call = make_call("Other call")
    Proposal.objects.bulk_create(
        Proposal(call=other_call if n % 2 else call, city=danang, title=f"Proposal {n}")
        for n in range(49)
    )
    cache_versions.bump(cache_versions.city_proposals(danang.pk))  # bulk inserts send no signal
    with assert_page_queries(3):
        response = client.get(reverse("my_proposals"))
    assert len(re.findall(r'href="/proposals/\w+/"', response.content.decode())) == 50


def test_call_list_query_count_does_not_grow(
    assert_page_queries, client, call, danang, danang_lead
):
    make_proposal(call, danang, danang_lead, complete=False)
    client.force_login(danang_lead)
    client.get(reverse("call_list"))
    # The user, and the calls' times with the home city's deadlines (the cached fragment's
    # key); the session is in the cache, the rows come from the fragment.
    with assert_page_queries(2):
        client.get(reverse("call_list"))
    for n in range(5):
        make_call(f"Call {n}")
    Proposal.objects.bulk_create(Proposal(call=call, city=danang, title=f"P{n}") for n in range(49))
    # Built again: the home city (whose zone the deadlines are shown in) and the rows.
    with assert_page_queries(4):
        assert len(listed_calls(client.get(reverse("call_list")))["open"]) == 6
    visitor = Client()
    with assert_page_queries(2):
        visitor.get(reverse("call_list"))
    with assert_page_queries(1):
        visitor.get(reverse("call_list"))


# The access matrix: every proposal URL, for every kind of visitor.

ROLES = ["anonymous", "other_city", "reviewer", "editor", "lead", "staff"]
# url name, method, needs an attachment, expected status per role (in ROLES order)
MATRIX = [
    ("proposal_detail", "get", False, [302, 404, 404, 200, 200, 200]),
    ("proposal_edit", "get", False, [302, 404, 404, 200, 200, 403]),
    ("proposal_edit", "post", False, [302, 404, 404, 302, 302, 403]),
    ("proposal_print", "get", False, [302, 404, 404, 200, 200, 200]),
    ("proposal_receipt", "get", False, [302, 404, 404, 302, 302, 302]),
    ("proposal_submit", "get", False, [302, 404, 404, 403, 200, 403]),
    ("proposal_submit", "post", False, [302, 404, 404, 403, 302, 403]),
    ("proposal_withdraw", "get", False, [302, 404, 404, 403, 200, 403]),
    ("proposal_withdraw", "post", False, [302, 404, 404, 403, 302, 403]),
    ("proposal_message", "post", False, [302, 404, 404, 302, 302, 302]),
    ("proposal_attachment_upload", "post", False, [302, 404, 404, 302, 302, 403]),
    ("proposal_attachment", "get", True, [302, 404, 404, 200, 200, 200]),
    ("proposal_attachment_delete", "get", True, [302, 404, 404, 200, 200, 403]),
    ("proposal_attachment_delete", "post", True, [302, 404, 404, 302, 302, 403]),
]
# The actions that ask first (issue 18): their POSTs in the matrix carry the confirmation
# page's button; without it, see test_unconfirmed_posts_show_the_confirmation_and_store_nothing.
CONFIRMED = {"proposal_submit", "proposal_withdraw", "proposal_attachment_delete"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "method", "with_attachment", "expected"),
    MATRIX,
    ids=[f"{m[0]}-{m[1]}" for m in MATRIX],
)
def test_access_matrix(
    client,
    role,
    name,
    method,
    with_attachment,
    expected,
    draft,
    danang_lead,
    danang_editor,
    cebu_lead,
    staff,
    reviewer,
):
    visitor = {
        "anonymous": None,
        "other_city": cebu_lead,
        "reviewer": reviewer,
        "editor": danang_editor,
        "lead": danang_lead,
        "staff": staff,
    }[role]
    if visitor is not None:
        client.force_login(visitor)
    args = [draft.code]
    if with_attachment:
        args.append(draft.attachments.get().code)
    data = {
        "proposal_edit": edit_data(draft),
        "proposal_withdraw": {"reason": "Because."},
        "proposal_message": {"body": "Hello"},
        "proposal_attachment_upload": {"kind": "map", "file": upload("map.pdf")},
    }.get(name, {})
    if method == "post" and name in CONFIRMED:
        data = {**data, "confirm": "yes"}
    response = getattr(client, method)(reverse(name, args=args), data)
    assert response.status_code == expected[ROLES.index(role)]
    if role == "anonymous":
        assert response["Location"].startswith(reverse("account_login"))
    if expected[ROLES.index(role)] in (403, 404):
        draft.refresh_from_db()
        assert (draft.status, draft.version, draft.attachments.count(), draft.messages.count()) == (
            Status.DRAFT,
            2,
            1,
            0,
        )


@pytest.mark.parametrize(
    ("name", "role", "data"),
    [
        ("proposal_submit", "lead", {}),
        ("proposal_withdraw", "lead", {"reason": "Because."}),
        ("proposal_attachment_delete", "editor", {}),
        ("proposal_attachment_delete", "lead", {}),
    ],
)
def test_unconfirmed_posts_show_the_confirmation_and_store_nothing(
    client, name, role, data, draft, danang_lead, danang_editor
):
    client.force_login({"editor": danang_editor, "lead": danang_lead}[role])
    args = [draft.code]
    if name == "proposal_attachment_delete":
        args.append(draft.attachments.get().code)
    for posted in (data, {**data, "confirm": "no"}):
        response = client.post(reverse(name, args=args), posted)
        assert response.status_code == 200
        page = response.content.decode()
        assert 'name="confirm" value="yes"' in page
        assert "Nothing was done yet: please confirm below." in page
    draft.refresh_from_db()
    assert (draft.status, draft.version, draft.reference_code, draft.attachments.count()) == (
        Status.DRAFT,
        2,
        None,
        1,
    )
    assert not StatusChange.objects.filter(proposal=draft).exists()


def test_saves_on_different_parts_merge(draft, danang_lead, danang_editor):
    lead, editor = Client(), Client()
    lead.force_login(danang_lead)
    editor.force_login(danang_editor)
    url = reverse("proposal_edit", args=[draft.code])
    base = edit_data(draft, summary=draft.summary)  # both opened the same version

    lead.post(url, {**base, "title": "The lead's title"})
    response = editor.post(url, {**base, "summary": "The editor's summary"})

    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.title, draft.summary) == ("The lead's title", "The editor's summary")


def test_conflict_page_keeps_theirs_elsewhere_and_pauses_autosave(
    draft, danang_lead, danang_editor
):
    lead, editor = Client(), Client()
    lead.force_login(danang_lead)
    editor.force_login(danang_editor)
    url = reverse("proposal_edit", args=[draft.code])
    base = edit_data(draft, summary=draft.summary)
    lead.post(url, {**base, "title": "Lead title", "summary": "Lead summary"})
    response = editor.post(url, {**base, "title": "Editor title"})
    form = response.context["form"]
    assert (form["title"].value(), form["summary"].value()) == ("Editor title", "Lead summary")
    assert [label for label, _stored in response.context["conflict"]["fields"]] == ["Title"]
    assert "data-autosave=" not in response.content.decode()


def test_save_after_submission_by_a_colleague_is_refused_cleanly(
    client, draft, danang_editor, danang_lead
):
    client.force_login(danang_editor)
    url = reverse("proposal_edit", args=[draft.code])
    page = client.get(url)  # the editor opens the draft
    services.submit_proposal(user=danang_lead, proposal=draft)
    response = client.post(url, edit_data(draft, title="Late"), HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 409
    assert response.json()["message"] == "This proposal can no longer be edited."
    assert page.status_code == 200


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        (
            {"duration_months": "0"},
            "duration_months",
            "Ensure this value is greater than or equal to 1.",
        ),
        (
            {"duration_months": "99999"},
            "duration_months",
            "Ensure this value is less than or equal to 120.",
        ),
        (
            {"total_cost_jpy": "10000000000000001"},
            "total_cost_jpy",
            "Ensure this value is less than or equal to 1000000000000000.",
        ),
        ({"contact_email": "not an email"}, "contact_email", "Enter a valid email address."),
    ],
)
def test_edit_refuses_out_of_range_values(client, draft, danang_lead, changes, field, error):
    client.force_login(danang_lead)
    response = client.post(reverse("proposal_edit", args=[draft.code]), edit_data(draft, **changes))
    assert response.context["form"].errors[field] == [error]


def test_partner_formset_is_capped(client, draft, danang_lead):
    data = edit_data(draft, **{"partners-TOTAL_FORMS": "25"})
    for n in range(25):
        data.update(
            {
                f"partners-{n}-name": f"P{n}",
                f"partners-{n}-kind": "company",
                f"partners-{n}-role": "r",
            }
        )
    client.force_login(danang_lead)
    response = client.post(reverse("proposal_edit", args=[draft.code]), data)
    assert response.status_code == 200
    assert draft.partners.count() == 1


def test_staff_cannot_delete_a_proposal(client, draft, staff):
    client.force_login(staff)
    response = client.post(
        reverse("admin:proposals_proposal_delete", args=[draft.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Proposal.objects.filter(pk=draft.pk).exists()


def test_proposal_page_message_form_is_labelled_and_posts(client, draft, danang_lead):
    client.force_login(danang_lead)
    page = client.get(reverse("proposal_detail", args=[draft.code])).content.decode()
    assert '<label class="form-label" for="id_body">Your message' in page
    assert 'name="body" id="id_body" rows="3" maxlength="5000" required' in page
    response = client.post(reverse("proposal_message", args=[draft.code]), {"body": "Xin chào"})
    assert response.status_code == 302
    assert "Xin chào" in client.get(reverse("proposal_detail", args=[draft.code])).content.decode()


def test_call_page_start_form_is_labelled(client, call, danang, danang_lead):
    client.force_login(danang_lead)
    page = client.get(reverse("call_detail", args=[call.code])).content.decode()
    assert '<label class="form-label" for="id_city">For the city' in page
    assert '<select class="form-select" name="city" id="id_city" required>' in page
    assert f'<option value="{danang.pk}" selected>{danang}</option>' in page
    assert '<label class="form-label" for="id_title">Working title' in page


def test_proposal_page_queries_do_not_grow_with_its_history(
    assert_page_queries, client, django_assert_num_queries, call, danang, danang_lead, staff
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from proposals.models import AttachmentKind, Message, StatusChange

    from ..factories import upload

    proposal = make_proposal(call, danang, danang_lead)
    client.force_login(danang_lead)
    url = reverse("proposal_detail", args=[proposal.code])
    client.get(url)
    # The session, the user, the proposal (with the reader's role in its city), and its
    # history, thread and attachments read once each (their fragments built again, as after
    # the changes below).
    cache_versions.bump(cache_versions.proposal(proposal.pk))
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for n in range(6):
        Message.objects.create(proposal=proposal, author=danang_lead, body=f"Question {n}")
        Message.objects.create(proposal=proposal, author=staff, from_staff=True, body=f"A {n}")
        StatusChange.objects.create(
            proposal=proposal, from_status="draft", to_status="draft", actor=staff, message="x"
        )
    for _n in range(3):
        services.add_attachment(
            user=danang_lead, proposal=proposal, kind=AttachmentKind.OTHER, upload=upload()
        )
    with django_assert_num_queries(len(one.captured_queries)):
        page = client.get(url).content.decode()
    assert page.count("Question ") == 6


def test_a_proposal_returned_for_revision_shows_its_resubmission_date_everywhere(
    client, call, danang, danang_lead, staff
):
    """My proposals, the edit page and the proposal page show when it is due now: the date
    staff set for the resubmission, not the call's close."""
    from django.utils import timezone

    from proposals.templatetags.smartjamp import short_datetime

    proposal = make_proposal(call, danang, danang_lead)
    services.submit_proposal(user=danang_lead, proposal=proposal)
    proposal.refresh_from_db()
    services.screen_proposal(actor=staff, proposal=proposal)
    proposal.refresh_from_db()
    due = (call.closes_at + datetime.timedelta(days=20)).replace(hour=3, minute=0, second=0)
    services.request_revision(actor=staff, proposal=proposal, message="Add a map.", due=due)
    client.force_login(danang_lead)
    listed = client.get(reverse("my_proposals")).content.decode()
    with timezone.override(danang.time_zone):
        assert f"<strong>{short_datetime(timezone.localtime(due))}</strong> Da Nang time" in listed
        assert short_datetime(timezone.localtime(call.closes_at)) not in listed
    for name in ("proposal_edit", "proposal_detail"):
        page = client.get(reverse(name, args=[proposal.code])).content.decode()
        assert f'<time datetime="{due.astimezone(datetime.UTC).isoformat()}">' in page, name
        closes = call.closes_at.astimezone(datetime.UTC).isoformat()
        assert f'<time datetime="{closes}">' not in page, name
