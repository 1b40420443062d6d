import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from proposals.models import User

from ..factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def sign_up(client, email="an.official@danang.gov.vn"):
    return client.post(
        reverse("account_signup"),
        {
            "email": email,
            "password1": PASSWORD,
            "password2": PASSWORD,
            "full_name": "Phạm Thu Hà",
            "position": "Smart city officer",
            "time_zone": "Asia/Ho_Chi_Minh",
        },
    )


def log_in(client, email, password=PASSWORD, next_url=None):
    url = reverse("account_login")
    if next_url is not None:
        url += "?" + "next=" + next_url
    return client.post(url, {"login": email, "password": password, "next": next_url or ""})


def test_signup_verify_email_then_login(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = sign_up(client)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get(email="an.official@danang.gov.vn")
    assert (user.full_name, user.position, user.time_zone) == (
        "Phạm Thu Hà",
        "Smart city officer",
        "Asia/Ho_Chi_Minh",
    )

    # Not verified yet: login leads to the verification page, not into the portal.
    response = log_in(Client(), user.email)
    assert response["Location"] == reverse("account_email_verification_sent")

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["an.official@danang.gov.vn"]
    key_url = re.search(r"http://testserver(/accounts/confirm-email/[^/\s]+/)", message.body)[1]
    assert client.get(key_url).status_code == 200
    response = client.post(key_url)
    assert response.status_code == 302

    fresh = Client()
    response = log_in(fresh, user.email)
    assert response["Location"] == reverse("home")
    assert fresh.get(reverse("my_cities")).status_code == 200


def test_signup_email_does_not_show_the_typed_name(client, django_capture_on_commit_callbacks):
    # A name is typed by the user; it must not reach an email where it could pose as a link.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("account_signup"),
            {
                "email": "x@example.org",
                "password1": PASSWORD,
                "password2": PASSWORD,
                "full_name": "Visit https://evil.example now",
                "time_zone": "Asia/Tokyo",
            },
        )
    assert "evil.example" not in mail.outbox[0].body


def test_signup_with_registered_address_looks_the_same(client):
    UserFactory(email="taken@example.org")
    new = sign_up(Client(), "someone.new@example.org")
    taken = sign_up(Client(), "taken@example.org")
    assert (taken.status_code, taken["Location"]) == (new.status_code, new["Location"])
    assert User.objects.filter(email="taken@example.org").count() == 1


def test_password_reset_does_not_reveal_registration(client, django_capture_on_commit_callbacks):
    UserFactory(email="known@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        known = Client().post(reverse("account_reset_password"), {"email": "known@example.org"})
        unknown = Client().post(reverse("account_reset_password"), {"email": "nobody@example.org"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert [m.to for m in mail.outbox] == [["known@example.org"], ["nobody@example.org"]]


def test_password_reset_then_login_with_the_new_password(
    client, django_capture_on_commit_callbacks
):
    user = UserFactory(email="forgot@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("account_reset_password"), {"email": user.email})
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", mail.outbox[0].body)[
        1
    ]
    response = client.get(link)
    form_url = response["Location"]
    response = client.post(
        form_url, {"password1": "a brand new passphrase", "password2": "a brand new passphrase"}
    )
    assert response.status_code == 302
    assert log_in(Client(), user.email, "a brand new passphrase")["Location"] == reverse("home")


@pytest.mark.parametrize(
    "next_url", ["https://evil.example", "//evil.example", "/\\evil.example", "http:/evil.example"]
)
def test_login_ignores_next_outside_the_site(client, next_url):
    UserFactory(email="lead@example.org")
    response = log_in(client, "lead@example.org", next_url=next_url)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_login_follows_next_inside_the_site(client):
    UserFactory(email="lead@example.org")
    response = log_in(client, "lead@example.org", next_url="/cities/")
    assert response["Location"] == "/cities/"


def test_login_wrong_password_shows_an_error(client):
    UserFactory(email="lead@example.org")
    response = log_in(client, "lead@example.org", "wrong password")
    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in (
        response.content.decode()
    )


def test_login_failures_are_rate_limited(client):
    UserFactory(email="lead@example.org")
    too_many = "Too many failed login attempts. Try again later."
    pages = [log_in(Client(), "lead@example.org", "wrong").content.decode() for _ in range(6)]
    assert [too_many in page for page in pages] == [False] * 5 + [True]
    # Even the right password is refused while the account is locked out.
    response = log_in(Client(), "lead@example.org")
    assert (response.status_code, too_many in response.content.decode()) == (200, True)


def test_post_without_csrf_token_is_refused(danang_lead):
    client = Client(enforce_csrf_checks=True)
    client.force_login(danang_lead)
    response = client.post(reverse("profile"), {"full_name": "Changed", "language": "en"})
    assert response.status_code == 403
    danang_lead.refresh_from_db()
    assert danang_lead.full_name == "Nguyễn Văn An"

    login = Client(enforce_csrf_checks=True).post(
        reverse("account_login"), {"login": danang_lead.email, "password": PASSWORD}
    )
    assert login.status_code == 403


def test_profile_saves_language_and_time_zone(client, danang_lead):
    client.force_login(danang_lead)
    response = client.post(
        reverse("profile"),
        {
            "full_name": "Nguyễn Văn An",
            "position": "Director",
            "language": "vi",
            "time_zone": "Asia/Ho_Chi_Minh",
        },
    )
    assert response["Location"] == reverse("profile")
    danang_lead.refresh_from_db()
    assert (danang_lead.position, danang_lead.language, danang_lead.time_zone) == (
        "Director",
        "vi",
        "Asia/Ho_Chi_Minh",
    )
    page = client.get(reverse("home")).content.decode()
    assert 'lang="vi"' in page
    assert "Thời gian được hiển thị theo Giờ Việt Nam (UTC+7)." in page


def test_profile_refuses_unknown_time_zone(client, danang_lead):
    client.force_login(danang_lead)
    response = client.post(
        reverse("profile"),
        {"full_name": "An", "language": "en", "time_zone": "Mars/Olympus"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["time_zone"] == [
        "Select a valid choice. Mars/Olympus is not one of the available choices."
    ]


def test_profile_needs_login(client):
    response = client.get(reverse("profile"))
    assert response["Location"] == reverse("account_login") + "?next=/accounts/profile/"


def test_signup_offers_the_programme_time_zones(client):
    choices = dict(
        client.get(reverse("account_signup")).context["form"].fields["time_zone"].choices
    )
    assert choices["Asia/Ho_Chi_Minh"] == "Viet Nam time (UTC+7)"
    assert choices["Asia/Makassar"] == "Makassar time (UTC+8)"
    assert choices["Asia/Tokyo"] == "Japan time (JST, UTC+9)"
    assert choices["Asia/Kuching"] == "Kota Kinabalu, Kuching time (UTC+8)"
    assert choices[""] == "My country's time"  # the default: the chosen country's zone
    assert len(choices) == 15
    # Ordered by their offset from UTC, west to east.
    zones = list(choices)[1:]
    assert zones.index("Asia/Yangon") < zones.index("Asia/Bangkok") < zones.index("Asia/Tokyo")


def test_signup_defaults_the_zone_from_the_country_and_keeps_the_language(client):
    from proposals.models import Country

    client.post(
        reverse("account_signup"),
        {
            "email": "somchai@bangkok.go.th",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "full_name": "Somchai",
            "country": "TH",
            "language": "th",
            "time_zone": "",
        },
    )
    user = User.objects.get(email="somchai@bangkok.go.th")
    assert (user.country, user.language, user.time_zone) == (
        Country.objects.get(iso2="TH"),
        "th",
        "Asia/Bangkok",
    )


def test_the_profile_groups_the_zones_with_asean_and_japan_first(client, danang_lead):
    client.force_login(danang_lead)
    choices = client.get(reverse("profile")).context["form"].fields["time_zone"].choices
    (first, ours), (second, others) = choices
    assert (first, second) == ("ASEAN and Japan", "Other zones")
    assert ("Asia/Tokyo", "Japan time (JST, UTC+9)") in ours
    assert ("Asia/Kolkata", "Asia/Kolkata (UTC+5:30)") in others
    assert len(ours) + len(others) > 400
