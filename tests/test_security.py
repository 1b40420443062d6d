"""The admin's doors, second factors, sessions and look-alike addresses (issue 14, items 1–7)."""

import datetime
import re
import subprocess
import sys

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from allauth.mfa.utils import encrypt
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from proposals.models import AuditEvent, Proposal, User
from proposals.roles import PROGRAMME_STAFF

from .factories import PASSWORD, UserFactory, make_proposal

pytestmark = pytest.mark.django_db

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def give_totp(user) -> Authenticator:
    return Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": encrypt(SECRET)}
    )


def totp_now() -> str:
    import time

    return format_hotp_value(hotp_value(SECRET, int(time.time()) // 30))


def log_in(client, email, password=PASSWORD, *, host="testserver", next_url=""):
    return client.post(
        reverse("account_login"),
        {"login": email, "password": password, "next": next_url},
        HTTP_HOST=host,
    )


def reauthenticate(client, password=PASSWORD):
    """allauth asks for the password again before address and second-factor changes."""
    response = client.post(reverse("account_reauthenticate"), {"password": password})
    assert response.status_code == 302, response.content.decode()[:2000]


def superuser():
    return UserFactory(email="root@example.org", is_staff=True, is_superuser=True)


# 1. The admin's doors: staff hold least privilege over accounts.


def test_staff_hold_no_account_or_second_factor_permissions(staff):
    perms = staff.get_all_permissions()
    assert not [p for p in perms if p.startswith(("account.", "mfa."))]
    assert "proposals.add_user" not in perms and "proposals.delete_user" not in perms
    assert "proposals.change_user" in perms  # officials' profiles


def test_staff_cannot_attach_an_address_to_another_account(client, staff):
    target = superuser()
    client.force_login(staff)
    assert client.get("/admin/account/emailaddress/").status_code == 403
    response = client.post(
        "/admin/account/emailaddress/add/",
        {"user": target.pk, "email": "mine@attacker.example", "verified": "on", "primary": "on"},
    )
    assert response.status_code == 403
    assert not EmailAddress.objects.filter(email="mine@attacker.example").exists()


@pytest.mark.parametrize("kind", ["superuser", "other staff", "reviewer"])
def test_staff_cannot_edit_users_with_admin_rights(client, staff, reviewer, kind):
    target = {
        "superuser": superuser,
        "other staff": lambda: UserFactory(email="staff2@example.org", is_staff=True),
        "reviewer": lambda: reviewer,
    }[kind]()
    client.force_login(staff)
    url = reverse("admin:proposals_user_change", args=[target.pk])
    response = client.post(url, {"email": "mine@attacker.example", "full_name": "Taken"})
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.email != "mine@attacker.example"
    assert 'name="_save"' not in client.get(url).content.decode()  # shown read-only


def test_staff_can_edit_an_officials_profile_but_not_address_or_password(
    client, staff, danang_lead
):
    client.force_login(staff)
    url = reverse("admin:proposals_user_change", args=[danang_lead.pk])
    page = client.get(url).content.decode()
    assert 'name="email"' not in page  # shown read-only
    assert "password/" not in page  # no link to the form that sets a password
    password_url = reverse("admin:auth_user_password_change", args=[danang_lead.pk])
    assert client.get(password_url).status_code == 403
    response = client.post(password_url, {"password1": "new-pass-12345!", "password2": "x"})
    assert response.status_code == 403
    assert client.get(reverse("admin:proposals_user_add")).status_code == 403
    assert (
        client.get(reverse("admin:proposals_user_delete", args=[danang_lead.pk])).status_code == 403
    )


def test_a_superuser_still_manages_every_account(client, staff):
    root = superuser()
    client.force_login(root)
    password_url = reverse("admin:auth_user_password_change", args=[staff.pk])
    assert client.get(password_url).status_code == 200
    page = client.get(reverse("admin:proposals_user_change", args=[staff.pk])).content.decode()
    assert 'name="email"' in page


def test_changing_ones_own_address_asks_for_the_password_again(client, danang_lead, clock):
    # Signed in more than REAUTHENTICATION_TIMEOUT ago: adding an address asks again first.
    client.post(reverse("account_login"), {"login": danang_lead.email, "password": PASSWORD})
    clock.set(timezone.now() + datetime.timedelta(minutes=10))
    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "new.lead@danang.gov.vn"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    assert not EmailAddress.objects.filter(email="new.lead@danang.gov.vn").exists()
    response = client.post(reverse("account_reauthenticate"), {"password": "wrong"})
    assert not EmailAddress.objects.filter(email="new.lead@danang.gov.vn").exists()
    reauthenticate(client)
    client.post(reverse("account_email"), {"action_add": "", "email": "new.lead@danang.gov.vn"})
    assert EmailAddress.objects.filter(email="new.lead@danang.gov.vn").exists()


# 2. /admin/login/ is the portal's login, with its throttles.


def test_admin_login_sends_people_to_the_portals_login(client, staff):
    response = client.get("/admin/login/?next=/admin/proposals/proposal/")
    assert response.status_code == 302
    assert response["Location"] == (reverse("account_login") + "?next=/admin/proposals/proposal/")
    # Its form takes no password: posting the right one signs nobody in.
    response = client.post(
        "/admin/login/", {"username": staff.email, "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_the_admins_password_form_is_the_portals(client, staff):
    client.force_login(staff)
    response = client.get("/admin/password_change/")
    assert (response.status_code, response["Location"]) == (
        302,
        reverse("account_change_password"),
    )


def test_thirty_wrong_passwords_then_the_right_one_stay_refused(staff):
    # Through the admin's door: it takes no password at all (Django's form had no limit).
    for _ in range(30):
        Client().post("/admin/login/", {"username": staff.email, "password": "wrong"})
    client = Client()
    client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    # Through the portal's login, which the admin's door leads to: throttled.
    for _ in range(30):
        log_in(Client(), staff.email, "wrong")
    client = Client()
    response = log_in(client, staff.email)
    assert response.status_code == 429 or "Too many failed" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockouts_and_wrong_second_factor_codes_are_recorded(staff):
    give_totp(staff)
    for _ in range(6):
        log_in(Client(), staff.email, "wrong")
    assert AuditEvent.objects.filter(action="auth.login_locked", user=staff).count() == 1
    client = Client()
    AuditEvent.objects.all().delete()
    from django.core.cache import cache

    cache.clear()  # the lockout lifted
    log_in(client, staff.email)
    client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert AuditEvent.objects.filter(action="mfa.failed", user=staff).exists()


# 3. The per-account limit holds whatever the host.


def test_failed_login_limit_is_per_account_whatever_the_host():
    UserFactory(email="lead@example.org")
    too_many = "Too many failed login attempts"
    # Five failures, spread over three host names (and letter cases of the address)…
    for host, login in [
        ("127.0.0.1", "lead@example.org"),
        ("127.0.0.1", "Lead@example.org"),
        ("localhost", "lead@example.org"),
        ("localhost", "LEAD@EXAMPLE.ORG"),
        ("testserver", "lead@example.org"),
    ]:
        assert too_many not in log_in(Client(), login, "wrong", host=host).content.decode()
    # …lock the account on every host, even with the right password.
    for host in ["[::1]", "localhost", "127.0.0.1"]:
        page = log_in(Client(), "lead@example.org", PASSWORD, host=host).content.decode()
        assert too_many in page, host


# 4. "View on site" resolves only what the reader may open.


def test_view_on_site_does_not_reveal_proposal_codes(client, reviewer, staff, call, danang_lead):
    draft = make_proposal(call, danang_lead.memberships.get().city, danang_lead, complete=False)
    ct = ContentType.objects.get_for_model(Proposal)
    url = f"/admin/r/{ct.pk}/{draft.pk}/"
    client.force_login(reviewer)
    response = client.get(url)
    assert response.status_code == 404
    assert draft.code not in response.content.decode()
    assert client.get(f"/admin/r/{ct.pk}/not-a-number/").status_code == 404
    assert client.get(f"/admin/r/99999/{draft.pk}/").status_code == 404
    staff_client = Client()
    staff_client.force_login(staff)
    response = staff_client.get(url)
    assert response.status_code == 302 and draft.code in response["Location"]


# 5. Second factors.


def test_admin_user_without_a_second_factor_is_sent_to_set_one_up(staff, reviewer, call, cebu_lead):
    proposal = make_proposal(call, cebu_lead.memberships.get().city, cebu_lead)
    for user in (staff, reviewer):
        client = Client()
        response = log_in(client, user.email)
        assert response.status_code == 302
        for url in ("/admin/", "/staff/", proposal.get_absolute_url()):
            response = client.get(url)
            assert (response.status_code, response["Location"]) == (302, reverse("mfa_index"))
        reauthenticate(client)
        assert client.get(reverse("mfa_activate_totp")).status_code == 200


@pytest.mark.django_db(transaction=True)  # allauth signals the new factor after commit
def test_setting_up_totp_lets_the_admin_user_in(client, staff):
    log_in(client, staff.email)
    reauthenticate(client)
    assert client.get(reverse("mfa_activate_totp")).status_code == 200
    secret = client.session["mfa.totp.secret"]
    import time

    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    response = client.post(reverse("mfa_activate_totp"), {"code": code})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=staff, type="totp").exists()
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action="mfa.added", user=staff).exists()


def test_sign_in_asks_for_the_second_factor_then_opens_the_admin(staff):
    give_totp(staff)
    client = Client()
    response = log_in(client, staff.email, next_url="/admin/")
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get("/admin/").status_code == 302  # not signed in yet
    response = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert client.get("/admin/").status_code == 302
    response = client.post(reverse("mfa_authenticate"), {"code": totp_now()})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_session_without_the_accounts_second_factor_is_signed_out(staff):
    give_totp(staff)
    client = Client()
    # Force a session with the password alone (as one from before the rule would be).
    from django.contrib.auth import SESSION_KEY

    client.force_login(staff)
    session = client.session
    session["account_authentication_methods"] = [{"method": "password", "at": 0}]
    session.save()
    assert SESSION_KEY in client.session
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert SESSION_KEY not in client.session


def test_city_officials_need_no_second_factor_but_may_add_one(client, danang_lead):
    log_in(client, danang_lead.email)
    assert client.get(reverse("my_proposals")).status_code == 200
    assert reverse("mfa_index") in client.get(reverse("profile")).content.decode()
    reauthenticate(client)
    assert client.get(reverse("mfa_activate_totp")).status_code == 200


def test_only_a_superuser_resets_a_second_factor_and_it_is_recorded(client, staff, reviewer):
    give_totp(reviewer)
    changelist = reverse("admin:proposals_user_changelist")
    data = {"action": "reset_second_factor", "_selected_action": [reviewer.pk]}
    client.force_login(staff)
    client.post(changelist, data)
    assert Authenticator.objects.filter(user=reviewer).exists()
    root = superuser()
    client.force_login(root)
    client.post(changelist, data)
    assert not Authenticator.objects.filter(user=reviewer).exists()
    event = AuditEvent.objects.get(action="mfa.reset")
    assert (event.actor, event.user) == (root, reviewer)


def test_demo_admin_accounts_have_the_documented_second_factor(reference_data):
    from django.core.management import call_command

    from proposals.management.commands.seed_demo import DEMO_TOTP_SECRET, demo_totp_code

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    for email in ("staff@example.org", "reviewer1@example.org", "reviewer2@example.org"):
        assert Authenticator.objects.filter(user__email=email, type="totp").exists()
    assert not Authenticator.objects.filter(user__email="lead.danang@example.org").exists()
    client = Client()
    log_in(client, "staff@example.org", "smartjamp-demo")
    client.post(reverse("mfa_authenticate"), {"code": demo_totp_code()})
    assert client.get("/admin/").status_code == 200
    assert len(DEMO_TOTP_SECRET) == 32


# 6. Sessions.


def test_admin_sessions_end_after_30_idle_minutes(client, staff, clock):
    start = clock.set(timezone.now())
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    clock.set(start + datetime.timedelta(minutes=29))
    assert client.get("/admin/").status_code == 200
    clock.set(start + datetime.timedelta(minutes=29 + 31))
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_admin_sessions_end_after_12_hours_even_when_active(client, staff, clock):
    start = clock.set(timezone.now())
    client.force_login(staff)
    for minutes in range(20, 12 * 60, 20):
        clock.set(start + datetime.timedelta(minutes=minutes))
        assert client.get("/admin/").status_code == 200, minutes
    clock.set(start + datetime.timedelta(hours=12, minutes=1))
    assert client.get("/admin/").status_code == 302


def test_officials_sessions_last_12_idle_hours(client, danang_lead, clock):
    start = clock.set(timezone.now())
    client.force_login(danang_lead)
    clock.set(start + datetime.timedelta(hours=11, minutes=50))
    assert client.get(reverse("my_proposals")).status_code == 200
    clock.set(start + datetime.timedelta(hours=23, minutes=40))
    assert client.get(reverse("my_proposals")).status_code == 200  # active 11h50 ago
    clock.set(start + datetime.timedelta(hours=36))
    assert client.get(reverse("my_proposals")).status_code == 302


def test_a_draft_posted_after_expiry_is_kept_and_saved_after_signing_in(danang_lead, call, clock):
    proposal = make_proposal(call, danang_lead.memberships.get().city, danang_lead, complete=False)
    start = clock.set(timezone.now())
    client = Client(enforce_csrf_checks=True)
    client.force_login(danang_lead)
    edit = reverse("proposal_edit", args=[proposal.code])
    page = client.get(edit).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    clock.set(start + datetime.timedelta(hours=13))
    data = {
        "csrfmiddlewaretoken": token,
        "base_version": proposal.version,
        "title": "Flood early warning",
        "summary": "Typed just before the session lapsed",
        "partners-TOTAL_FORMS": "0",
        "partners-INITIAL_FORMS": "0",
    }
    # The automatic save is answered 401, and the text stays on the page.
    response = client.post(edit, data, headers={"X-Requested-With": "fetch"})
    assert response.status_code == 401 and response.json()["signed_out"] is True
    # "Save draft" then (the session already lapsed): kept, and sent to sign in.
    response = client.post(edit, data)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_login") + f"?next={edit}"
    proposal.refresh_from_db()
    assert proposal.summary != "Typed just before the session lapsed"
    login_page = client.get(reverse("account_login")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page)[1]
    response = client.post(
        reverse("account_login"),
        {
            "login": danang_lead.email,
            "password": PASSWORD,
            "next": edit,
            "csrfmiddlewaretoken": token,
        },
    )
    assert response["Location"] == edit
    client.get(edit)
    proposal.refresh_from_db()
    assert proposal.summary == "Typed just before the session lapsed"
    # Once only.
    assert "smartjamp_kept_post" not in client.session


def test_kept_text_is_never_given_to_another_person(danang_lead, danang_editor, call, clock):
    proposal = make_proposal(call, danang_lead.memberships.get().city, danang_lead, complete=False)
    start = clock.set(timezone.now())
    client = Client()
    client.force_login(danang_lead)
    edit = reverse("proposal_edit", args=[proposal.code])
    clock.set(start + datetime.timedelta(hours=13))
    client.post(edit, {"base_version": proposal.version, "summary": "The lead's secret note"})
    log_in(client, danang_editor.email)
    client.get(edit)
    proposal.refresh_from_db()
    assert proposal.summary != "The lead's secret note"
    assert "smartjamp_kept_post" not in client.session


def test_signed_in_pages_are_not_stored_anonymous_ones_may_be(client, danang_lead):
    assert "no-store" not in client.get(reverse("call_list")).get("Cache-Control", "")
    client.force_login(danang_lead)
    for url in (reverse("call_list"), reverse("my_proposals"), reverse("profile")):
        assert "no-store" in client.get(url)["Cache-Control"], url


def test_production_cookies_carry_the_host_prefix():
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='smartjamp.settings'; "
        "django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.SESSION_COOKIE_SECURE)"
    )
    env = {"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "smartjamp.example"}
    import os

    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert out.stdout.split() == ["__Host-sessionid", "__Host-csrftoken", "True"], out.stderr


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Hanoi-2027", "at least 12 characters"),
        ("password1234", "too common"),
    ],
)
def test_short_and_breached_passwords_are_refused(client, password, message):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "an.official@danang.gov.vn",
            "password1": password,
            "password2": password,
            "full_name": "Phạm Thu Hà",
            "time_zone": "Asia/Ho_Chi_Minh",
        },
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="an.official@danang.gov.vn").exists()


# 7. Look-alike addresses.


@pytest.mark.parametrize(
    ("existing", "lookalike"),
    [
        ("lead.cebu@example.org", "lead.cebu@examplе.org"),  # Cyrillic е
        ("kim.lee@example.org", "kım.lee@example.org"),  # dotless ı
        ("lead.cebu@example.org", "lead.cebu@ｅｘａｍｐｌｅ.org"),  # full-width
        ("lead.cebu@example.org", "lead.cebu@exarnple.org"),  # rn for m
    ],
)
def test_an_address_confusable_with_an_existing_one_is_refused(client, existing, lookalike):
    UserFactory(email=existing)
    response = client.post(
        reverse("account_signup"),
        {
            "email": lookalike,
            "password1": PASSWORD,
            "password2": PASSWORD,
            "full_name": "Someone",
            "time_zone": "Asia/Manila",
        },
    )
    assert response.status_code == 200
    assert "looks like the address of another account" in response.content.decode()
    assert User.objects.count() == 1


def test_a_different_address_is_accepted(client):
    UserFactory(email="lead.cebu@example.org")
    response = client.post(
        reverse("account_signup"),
        {
            "email": "lead.hue@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "full_name": "Someone",
            "time_zone": "Asia/Ho_Chi_Minh",
        },
    )
    assert response.status_code == 302


def test_a_lookalike_cannot_be_added_as_a_second_address(client, danang_lead):
    UserFactory(email="lead.cebu@example.org")
    log_in(client, danang_lead.email)
    reauthenticate(client)
    response = client.post(
        reverse("account_email"), {"action_add": "", "email": "lead.cebu@examplе.org"}
    )
    assert "looks like the address of another account" in response.content.decode()
    assert not EmailAddress.objects.filter(email="lead.cebu@examplе.org").exists()


def test_staff_group_permissions_are_brought_up_to_date(staff):
    # ensure_role_groups runs after every migrate: an old grant of account.* is taken away.
    from django.contrib.auth.models import Group

    from proposals.roles import ensure_role_groups

    group = Group.objects.get(name=PROGRAMME_STAFF)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="account"))
    ensure_role_groups()
    assert not group.permissions.filter(content_type__app_label="account").exists()


# Found by the security review.


def test_staff_cannot_filter_the_outbox_on_what_only_superusers_read(client, staff, cebu_lead):
    from proposals.models import Notification, NotificationKind

    Notification.objects.create(
        recipient=cebu_lead,
        email=cebu_lead.email,
        kind=NotificationKind.ACCOUNT,
        subject="Password reset",
        body_text="http://testserver/accounts/password/reset/key/6-secret/",
        dedup_key="account:reset:1",
    )
    client.force_login(staff)
    url = reverse("admin:proposals_notification_changelist")
    for lookup in ("body_text__contains", "body_html__contains", "link__startswith"):
        response = client.get(url, {lookup: "/accounts/password/reset/key/6"})
        assert response.status_code == 400, lookup
    assert client.get(url, {"state": "queued"}).status_code == 200
    root = superuser()
    client.force_login(root)
    assert client.get(url, {"body_text__contains": "reset"}).status_code == 200


def test_a_reviewer_downloads_an_old_attachment_under_its_checked_name(
    client, call, cebu, cebu_lead, staff, reviewer
):
    from proposals import services as proposal_services

    from .factories import under_review

    proposal = under_review(make_proposal(call, cebu, cebu_lead), lead=cebu_lead, staff=staff)
    proposal_services.assign_reviewers(
        actor=staff, proposals=[proposal], reviewers=[reviewer], due=call.closes_at.date()
    )
    attachment = proposal.attachments.get()
    attachment.name = "report.pdf.html"  # stored before names were checked
    attachment.save()
    assignment = proposal.assignments.get(reviewer=reviewer)
    proposal_services.declare_conflict(reviewer=reviewer, assignment=assignment, conflict=False)
    client.force_login(reviewer)
    response = client.get(
        reverse(
            "admin:proposals_reviewassignment_attachment", args=[assignment.pk, attachment.code]
        )
    )
    assert response.status_code == 200
    assert 'filename="report-pdf-html.pdf"' in response["Content-Disposition"]


def test_an_address_mixing_scripts_is_refused(client):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "lead.danang@exampӏe.org",  # a Cyrillic palochka for the l
            "password1": PASSWORD,
            "password2": PASSWORD,
            "full_name": "Someone",
            "time_zone": "Asia/Ho_Chi_Minh",
        },
    )
    assert "looks like the address of another account" in response.content.decode()
    assert not User.objects.exists()


def test_an_admin_user_cannot_remove_their_last_second_factor(staff):
    authenticator = give_totp(staff)
    from allauth.mfa.adapter import get_adapter

    assert get_adapter().can_delete_authenticator(authenticator) is False
    second = Authenticator.objects.create(
        user=staff, type=Authenticator.Type.WEBAUTHN, data={"name": "key"}
    )
    assert get_adapter().can_delete_authenticator(authenticator) is True
    second.delete()
    client = Client()
    client.force_login(staff)
    reauthenticate(client)
    client.post(reverse("mfa_deactivate_totp"))
    assert Authenticator.objects.filter(pk=authenticator.pk).exists()


def test_an_official_may_remove_their_second_factor(danang_lead):
    from allauth.mfa.adapter import get_adapter

    assert get_adapter().can_delete_authenticator(give_totp(danang_lead)) is True


def test_profile_edits_and_resent_emails_are_recorded(client, danang_lead, staff):
    from proposals.models import Notification, NotificationKind

    client.force_login(danang_lead)
    client.post(
        reverse("profile"),
        {
            "full_name": "Renamed",
            "position": "Officer",
            "language": "en",
            "time_zone": "Asia/Ho_Chi_Minh",
        },
    )
    event = AuditEvent.objects.get(action="account.profile_changed")
    assert event.user == danang_lead and "full_name" in event.details["fields"]
    failed = Notification.objects.create(
        recipient=danang_lead,
        email=danang_lead.email,
        kind=NotificationKind.ACCOUNT,
        subject="x",
        body_text="x",
        dedup_key="x:1",
        state="failed",
    )
    client.force_login(staff)
    client.post(
        reverse("admin:proposals_notification_changelist"),
        {"action": "resend_selected", "_selected_action": [failed.pk]},
    )
    assert AuditEvent.objects.filter(action="notification.resent", user=danang_lead).exists()
