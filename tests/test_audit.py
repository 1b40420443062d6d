"""The audit trail: what is recorded (who, when, what, from where), who reads it, and that no
one can change it."""

import csv
import io
import logging
import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse

from proposals import audit
from proposals.models import (
    AttachmentKind,
    AuditEvent,
    CityMembership,
    ExportJob,
    JoinRequest,
    MemberRole,
    Proposal,
)

from .factories import PASSWORD, UserFactory, make_proposal, review, under_review, upload

pytestmark = pytest.mark.django_db

IP = "127.0.0.1"  # the test client's REMOTE_ADDR


def events(action_prefix: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action__startswith=action_prefix).order_by("pk"))


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


@pytest.fixture
def draft(call, danang, danang_lead):
    return make_proposal(call, danang, danang_lead)


@pytest.fixture
def reviewed(draft, danang_lead, staff, reviewer):
    proposal = under_review(draft, lead=danang_lead, staff=staff)
    review(proposal, reviewer, [4, 3], staff=staff)
    return proposal


# Cities: members and join requests -----------------------------------------------------------


def test_member_role_change_is_recorded(client, danang, danang_lead, danang_editor):
    membership = CityMembership.objects.get(user=danang_editor)
    client.force_login(danang_lead)
    client.post(
        reverse("city_manage_member", args=[danang.code]),
        {"membership": membership.pk, "action": MemberRole.LEAD},
    )
    (event,) = events("member.")
    assert (event.action, event.actor, event.city, event.user, event.ip) == (
        "member.role_changed",
        danang_lead,
        danang,
        danang_editor,
        IP,
    )
    assert event.details == {"from": "editor", "to": "lead"}
    assert event.target == "Da Nang"


def test_member_removal_is_recorded(client, danang, danang_lead, danang_editor):
    membership = CityMembership.objects.get(user=danang_editor)
    client.force_login(danang_lead)
    client.post(
        reverse("city_manage_member", args=[danang.code]),
        {"membership": membership.pk, "action": "remove"},
    )
    (event,) = events("member.")
    assert (event.action, event.actor, event.city, event.user, event.details) == (
        "member.removed",
        danang_lead,
        danang,
        danang_editor,
        {"role": "editor"},
    )


@pytest.mark.parametrize(("answer", "action"), [("approve", "approved"), ("decline", "declined")])
def test_join_request_decision_is_recorded(client, danang, danang_lead, official, answer, action):
    join_request = JoinRequest.objects.create(city=danang, user=official, message="Hello")
    client.force_login(danang_lead)
    client.post(
        reverse("city_answer_request", args=[danang.code]),
        {"request": join_request.pk, "action": answer},
    )
    (event,) = events("join_request.")
    assert (event.action, event.actor, event.city, event.user, event.ip) == (
        f"join_request.{action}",
        danang_lead,
        danang,
        official,
        IP,
    )


# Attachments and downloads -------------------------------------------------------------------


def test_attachment_upload_and_deletion_are_recorded(client, call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead, complete=False)
    client.force_login(danang_lead)
    client.post(
        reverse("proposal_attachment_upload", args=[proposal.code]),
        {"kind": AttachmentKind.CONCEPT_NOTE, "file": upload("plan.pdf")},
    )
    attachment = proposal.attachments.get()
    delete = reverse("proposal_attachment_delete", args=[proposal.code, attachment.code])
    # Issue 18: posted without the confirmation page's button, nothing is removed or recorded.
    client.post(delete)
    assert proposal.attachments.filter(pk=attachment.pk).exists()
    assert [e.action for e in events("attachment.")] == ["attachment.added"]
    client.post(delete, {"confirm": "yes"})
    assert not proposal.attachments.exists()
    assert [
        (e.action, e.actor, e.proposal, e.city, e.details, e.ip) for e in events("attachment.")
    ] == [
        (
            "attachment.added",
            danang_lead,
            proposal,
            danang,
            {"attachment": attachment.code, "name": "plan.pdf", "kind": "concept_note"},
            IP,
        ),
        (
            "attachment.deleted",
            danang_lead,
            proposal,
            danang,
            {"attachment": attachment.code, "name": "plan.pdf", "kind": "concept_note"},
            IP,
        ),
    ]


def test_attachment_download_is_recorded(client, draft, danang_editor):
    attachment = draft.attachments.get()
    client.force_login(danang_editor)
    response = client.get(reverse("proposal_attachment", args=[draft.code, attachment.code]))
    b"".join(response.streaming_content)
    (event,) = events("download.")
    assert (event.action, event.actor, event.proposal, event.details, event.ip) == (
        "download.attachment",
        danang_editor,
        draft,
        {"attachment": attachment.code, "name": "concept-note.pdf", "kind": attachment.kind},
        IP,
    )


def test_reviewer_attachment_download_is_recorded(client, reviewed, reviewer):
    attachment = reviewed.attachments.get()
    assignment = reviewed.assignments.get(reviewer=reviewer)
    client.force_login(reviewer)
    url = reverse(
        "admin:proposals_reviewassignment_attachment", args=[assignment.pk, attachment.code]
    )
    assert client.get(url).status_code == 200
    (event,) = events("download.")
    assert (event.action, event.actor, event.proposal, event.details["attachment"]) == (
        "download.attachment",
        reviewer,
        reviewed,
        attachment.code,
    )


def test_authorisation_letter_download_is_recorded(client, danang, danang_lead):
    client.force_login(danang_lead)
    assert client.get(reverse("city_letter", args=[danang.code])).status_code == 200
    (event,) = events("download.")
    assert (event.action, event.actor, event.city, event.details) == (
        "download.authorisation_letter",
        danang_lead,
        danang,
        {"name": "letter.pdf"},
    )


# Exports -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "recorded"),
    [
        ("staff_export_proposals", ["csv"], "proposals"),
        ("staff_export_proposals", ["xlsx"], "proposals"),
        ("staff_export_proposals", ["json"], "proposals"),
        ("staff_export_summary", ["country", "csv"], "summary-by-country"),
        ("staff_export_review_progress", ["xlsx"], "review-progress"),
    ],
)
def test_export_is_recorded(client, staff, draft, name, args, recorded):
    client.force_login(staff)
    response = client.get(reverse(name, args=args), {"country": "VN"})
    assert response.status_code == 200
    (event,) = events("export.")
    assert (event.action, event.actor, event.ip, event.details) == (
        "export.downloaded",
        staff,
        IP,
        {"export": recorded, "format": args[-1], "query": "country=VN"},
    )


def test_ranking_export_is_recorded(client, staff, reviewed):
    client.force_login(staff)
    client.get(reverse("staff_export_ranking", args=[reviewed.call.code, "csv"]))
    (event,) = events("export.")
    assert (event.action, event.details) == (
        "export.downloaded",
        {"export": "ranking", "format": "csv", "query": "", "call": reviewed.call.code},
    )


def test_admin_export_action_is_recorded(client, staff, draft):
    client.force_login(staff)
    client.post(
        reverse("admin:proposals_proposal_changelist"),
        {"action": "export_csv_selected", ACTION_CHECKBOX_NAME: [draft.pk]},
    )
    (event,) = events("export.")
    assert (event.action, event.actor, event.details) == (
        "export.downloaded",
        staff,
        {"export": "proposals", "format": "csv", "query": "", "selected": 1},
    )


def test_background_export_and_its_download_are_recorded(
    client, staff, call, danang, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_BACKGROUND_ROWS = 1
    Proposal.objects.bulk_create(Proposal(call=call, city=danang, title=f"P{n}") for n in range(2))
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        client.get(reverse("staff_export_proposals", args=["xlsx"]), {"country": "VN"})
    job = ExportJob.objects.get()
    download = client.get(reverse("staff_export_job_download", args=[job.code]))
    b"".join(download.streaming_content)
    assert [(e.action, e.actor, e.details) for e in events("export.")] == [
        (
            "export.queued",
            staff,
            {"export": "proposals", "format": "xlsx", "query": "country=VN", "job": job.code},
        ),
        ("export.downloaded", staff, {"export": "proposals", "format": "xlsx", "job": job.code}),
    ]


# Accounts ----------------------------------------------------------------------------------


def log_in(client, email, password=PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_sign_in_and_sign_out_are_recorded(client, danang_lead):
    log_in(client, danang_lead.email)
    client.post(reverse("account_logout"))
    assert [(e.action, e.actor, e.user, e.ip) for e in events("auth.")] == [
        ("auth.login", danang_lead, danang_lead, IP),
        ("auth.logout", danang_lead, danang_lead, IP),
    ]


def test_failed_sign_in_records_the_email_never_the_password(client, danang_lead):
    log_in(client, "Lead.Danang@example.org", "wrong horse")
    log_in(client, "nobody@example.org", "wrong horse")
    recorded = [(e.action, e.actor, e.user, e.ip, e.details) for e in events("auth.")]
    assert recorded == [
        ("auth.login_failed", None, danang_lead, IP, {"email": "lead.danang@example.org"}),
        ("auth.login_failed", None, None, IP, {"email": "nobody@example.org"}),
    ]
    assert "wrong horse" not in str(list(AuditEvent.objects.values()))


def test_password_change_is_recorded(client, danang_lead):
    client.force_login(danang_lead)
    client.post(
        reverse("account_change_password"),
        {
            "oldpassword": PASSWORD,
            "password1": "a new passphrase!",
            "password2": "a new passphrase!",
        },
    )
    (event,) = events("account.")
    assert (event.action, event.actor, event.user, event.ip, event.details) == (
        "account.password_changed",
        danang_lead,
        danang_lead,
        IP,
        {},
    )


def test_password_reset_is_recorded(client, django_capture_on_commit_callbacks):
    user = UserFactory(email="forgot@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("account_reset_password"), {"email": user.email})
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", mail.outbox[0].body)
    form_url = client.get(link[1])["Location"]
    client.post(form_url, {"password1": "a new passphrase!", "password2": "a new passphrase!"})
    assert [(e.action, e.actor, e.user) for e in events("account.")] == [
        ("account.password_reset", None, user)
    ]


def reauthenticate(client, user):
    # Address changes ask for the password again (ACCOUNT_REAUTHENTICATION_REQUIRED).
    client.force_login(user)
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})


def test_email_address_changes_are_recorded(client, danang_lead):
    reauthenticate(client, danang_lead)
    client.post(reverse("account_email"), {"action_add": "", "email": "an@danang.gov.vn"})
    added = EmailAddress.objects.get(email="an@danang.gov.vn")
    EmailAddress.objects.filter(pk=added.pk).update(verified=True)
    client.post(reverse("account_email"), {"action_primary": "", "email": "an@danang.gov.vn"})
    client.post(reverse("account_email"), {"action_remove": "", "email": danang_lead.email})
    recorded = [(e.action, e.actor, e.user, e.details) for e in events("account.")]
    assert recorded == [
        ("account.email_added", danang_lead, danang_lead, {"email": "an@danang.gov.vn"}),
        (
            "account.email_changed",
            danang_lead,
            danang_lead,
            {"from": "lead.danang@example.org", "to": "an@danang.gov.vn"},
        ),
        ("account.email_removed", danang_lead, danang_lead, {"email": "lead.danang@example.org"}),
    ]


def test_email_confirmation_is_recorded(client, danang_lead, django_capture_on_commit_callbacks):
    reauthenticate(client, danang_lead)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("account_email"), {"action_add": "", "email": "an@danang.gov.vn"})
    key_url = re.search(
        r"http://testserver(/accounts/confirm-email/[^/\s]+/)", mail.outbox[-1].body
    )
    client.post(key_url[1])
    assert events("account.")[-1].action == "account.email_confirmed"
    assert events("account.")[-1].details == {"email": "an@danang.gov.vn"}


# Admin edits -------------------------------------------------------------------------------


def test_admin_edit_is_recorded(client, staff, danang):
    client.force_login(staff)
    url = reverse("admin:proposals_city_change", args=[danang.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and not isinstance(value, list | tuple)
    }
    data.update({"region": "Central Viet Nam", "_save": "Save"})
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for field in management:
            data[f"{management.prefix}-{field.name}"] = field.value()
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    (event,) = events("admin.")
    assert (event.action, event.actor, event.city, event.target, event.ip) == (
        "admin.change",
        staff,
        danang,
        "Da Nang (VN)",
        IP,
    )
    assert event.details["model"] == "proposals.city"
    assert event.details["object_id"] == str(danang.pk)
    assert event.details["message"] == "Changed Province or region."


def test_admin_bulk_deletion_records_each_object(client, staff, danang, official):
    asked = [
        JoinRequest.objects.create(city=danang, user=user)
        for user in (official, UserFactory(email="hoa@example.org"))
    ]
    client.force_login(staff)
    client.post(
        reverse("admin:proposals_joinrequest_changelist"),
        {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: [r.pk for r in asked]},
    )
    assert not JoinRequest.objects.exists()
    recorded = sorted(
        (e.action, e.actor, e.target, e.details["object_id"]) for e in events("admin.")
    )
    assert recorded == sorted(("admin.delete", staff, str(r), str(r.pk)) for r in asked)


# Refused access ----------------------------------------------------------------------------


def test_gate_refusal_is_a_security_event(client, draft, cebu_lead, caplog):
    client.force_login(cebu_lead)
    url = reverse("proposal_detail", args=[draft.code])
    with caplog.at_level(logging.WARNING, logger="smartjamp.security"):
        assert client.get(url).status_code == 404
    (event,) = events("security.")
    assert (event.action, event.actor, event.proposal, event.ip, event.details) == (
        "security.refused",
        cebu_lead,
        None,
        IP,
        {"status": 404, "path": url, "method": "GET"},
    )
    assert [r.getMessage() for r in caplog.records if r.name == "smartjamp.security"] == [
        f"refused 404 GET {url} user={cebu_lead.pk} ip={IP}"
    ]


def test_forbidden_is_a_security_event(client, draft, danang_editor):
    client.force_login(danang_editor)  # an editor may not submit: the lead does
    url = reverse("proposal_submit", args=[draft.code])
    assert client.post(url).status_code == 403
    (event,) = events("security.")
    assert (event.actor, event.details) == (
        danang_editor,
        {"status": 403, "path": url, "method": "POST"},
    )


def test_unknown_addresses_and_repeats_do_not_fill_the_trail(client, draft, cebu_lead, settings):
    client.force_login(cebu_lead)
    assert client.get("/no-such-page/").status_code == 404  # no view, nothing refused
    url = reverse("proposal_detail", args=[draft.code])
    for _ in range(3):
        client.get(url)
    assert len(events("security.")) == 1  # the same refusal again within minutes: logged only


# The trail in the admin --------------------------------------------------------------------


@pytest.fixture
def superuser(reference_data):
    return UserFactory(email="root@example.org", is_staff=True, is_superuser=True)


def test_trail_cannot_be_changed_or_deleted_even_by_a_superuser(client, superuser, draft):
    event = audit.record(actor=superuser, action="test.kept", proposal=draft)
    client.force_login(superuser)
    change = reverse("admin:proposals_auditevent_change", args=[event.pk])
    delete = reverse("admin:proposals_auditevent_delete", args=[event.pk])
    page = client.get(change)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert client.post(change, {"action": "test.rewritten"}).status_code == 403
    assert client.post(delete, {"post": "yes"}).status_code == 403
    listing = client.get(reverse("admin:proposals_auditevent_changelist"))
    assert listing.context["action_form"] is None  # no actions, the bulk deletion neither
    client.post(
        reverse("admin:proposals_auditevent_changelist"),
        {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: [event.pk]},
    )
    event.refresh_from_db()
    assert event.action == "test.kept"


def test_deleting_a_proposal_keeps_its_trail(staff, draft):
    audit.record(actor=staff, action="test.kept", proposal=draft)
    reference = draft.code
    draft.delete()
    event = AuditEvent.objects.get(action="test.kept")
    assert (event.proposal, event.target) == (None, reference)


def test_staff_read_the_trail_of_one_proposal(
    client, staff, call, danang, danang_lead, cebu, cebu_lead, assert_page_queries
):
    mine = make_proposal(call, danang, danang_lead, complete=False)
    theirs = make_proposal(call, cebu, cebu_lead, complete=False)
    client.force_login(staff)
    url = reverse("admin:proposals_auditevent_changelist")
    client.get(url)

    def listed(proposal, count):
        for n in range(count):
            audit.record(actor=staff, action=f"test.{n}", proposal=proposal)
        # The user and their permissions (two), the count, the page of rows, and the date
        # hierarchy's range and days (the session is in the cache).
        with assert_page_queries(7):
            response = client.get(url, {"proposal__id__exact": proposal.pk})
        return [event.action for event in response.context["cl"].result_list]

    assert listed(mine, 1) == ["test.0"]
    assert listed(theirs, 3) == ["test.2", "test.1", "test.0"]


def test_trail_filters_by_city_and_user(client, staff, danang, cebu, danang_lead, cebu_lead):
    audit.record(actor=staff, action="test.danang", city=danang, user=danang_lead)
    audit.record(actor=staff, action="test.cebu", city=cebu, user=cebu_lead)
    client.force_login(staff)
    url = reverse("admin:proposals_auditevent_changelist")

    def listed(**query):
        return [e.action for e in client.get(url, query).context["cl"].result_list]

    assert listed(city__id__exact=cebu.pk) == ["test.cebu"]
    assert listed(user__id__exact=danang_lead.pk) == ["test.danang"]
    assert listed(q="Cebu") == ["test.cebu"]
    audit.record(actor=staff, action="member.removed", city=cebu, user=cebu_lead)
    assert listed(kind="member") == ["member.removed"]


def test_admin_pages_link_to_their_trail(client, staff, draft, danang, danang_lead):
    client.force_login(staff)
    trail = reverse("admin:proposals_auditevent_changelist")
    pages = [
        (
            reverse("admin:proposals_proposal_change", args=[draft.pk]),
            f"proposal__id__exact={draft.pk}",
        ),
        (reverse("admin:proposals_city_change", args=[danang.pk]), f"city__id__exact={danang.pk}"),
        (
            reverse("admin:proposals_user_change", args=[danang_lead.pk]),
            f"user__id__exact={danang_lead.pk}",
        ),
    ]
    for page, query in pages:
        assert f'href="{trail}?{query}"' in client.get(page).content.decode(), page


def test_trail_export_streams_the_filtered_rows(client, staff, danang, cebu, danang_lead):
    audit.record(actor=danang_lead, action="test.danang", city=danang, note="=HYPERLINK(1)")
    audit.record(actor=staff, action="test.cebu", city=cebu)
    client.force_login(staff)
    response = client.get(
        reverse("admin:proposals_auditevent_export"), {"city__id__exact": danang.pk}
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    header, *rows = read_csv(response)
    assert header == [
        "At (UTC)",
        "Action",
        "Actor",
        "Proposal",
        "City",
        "User",
        "Target",
        "IP address",
        "Details",
    ]
    (row,) = rows
    assert row[1:8] == ["test.danang", danang_lead.email, "", "Da Nang", "", "Da Nang", ""]
    assert row[8] == '{"note": "=HYPERLINK(1)"}'
    # The export itself is in the trail.
    assert AuditEvent.objects.filter(action="export.downloaded", actor=staff).count() == 1


def test_reviewer_cannot_read_the_trail(client, reviewer):
    audit.record(actor=reviewer, action="test.secret")
    client.force_login(reviewer)
    assert client.get(reverse("admin:proposals_auditevent_changelist")).status_code == 403
    assert client.get(reverse("admin:proposals_auditevent_export")).status_code == 403


def test_the_ip_comes_from_remote_addr_not_a_forwarded_header(client, danang, danang_lead):
    client.force_login(danang_lead)
    client.get(
        reverse("city_letter", args=[danang.code]),
        REMOTE_ADDR="203.0.113.7",
        HTTP_X_FORWARDED_FOR="198.51.100.1",
    )
    assert events("download.")[0].ip == "203.0.113.7"


def test_a_proxy_header_named_in_the_settings_gives_the_address(
    client, danang, danang_lead, settings
):
    settings.AUDIT_CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    client.force_login(danang_lead)
    client.get(
        reverse("city_letter", args=[danang.code]),
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="192.0.2.66, 198.51.100.1",  # the client's claim, then our proxy's
    )
    assert events("download.")[0].ip == "198.51.100.1"


@pytest.mark.django_db
def test_a_nul_character_given_by_anybody_is_stored_replaced():
    # PostgreSQL stores no NUL in text or JSON: an address holding one must not fail the record.
    from proposals import audit

    event = audit.record(
        actor=None, action="security.refused", target="x\x00y", path="/a.csv\x00", seen=["\x00"]
    )
    event.refresh_from_db()
    assert (event.target, event.details) == (
        "x\ufffdy",
        {"path": "/a.csv\ufffd", "seen": ["\ufffd"]},
    )
