import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from proposals.models import (
    City,
    CityInvitation,
    CityMembership,
    JoinRequest,
    MemberRole,
    VerificationStatus,
)

from ..factories import UserFactory, make_city, pdf_bytes

pytestmark = pytest.mark.django_db


def letter(name="letter.pdf", content=None):
    return SimpleUploadedFile(name, pdf_bytes() if content is None else content, "application/pdf")


def registration(name="Huế", country="VN", **extra):
    data = {
        "country": country,
        "kind": "city",
        "name": name,
        "region": "Thừa Thiên Huế",
        "population": "1200000",
        "time_zone": "",
        "authorisation_letter": letter(),
    }
    data.update(extra)
    return data


def test_register_city_makes_the_official_its_lead(client, official, private_files):
    client.force_login(official)
    assert client.get(reverse("register_city")).status_code == 200

    response = client.post(reverse("register_city"), registration())

    city = City.objects.get(name="Huế")
    assert response["Location"] == reverse("city_detail", args=[city.code])
    assert (city.country_id, city.region, city.population, city.time_zone) == (
        "VN",
        "Thừa Thiên Huế",
        1_200_000,
        "Asia/Ho_Chi_Minh",
    )
    assert city.verification_status == VerificationStatus.PENDING
    assert list(city.memberships.values_list("user", "role")) == [(official.pk, MemberRole.LEAD)]
    assert private_files() == [city.authorisation_letter.name]

    page = client.get(response["Location"]).content.decode()
    assert "Pending verification" in page
    assert "Programme staff are checking the authorisation letter." in page


@pytest.mark.parametrize("spelling", ["Da Nang", "Đà Nẵng", "da  nang"])
def test_register_city_twice_offers_to_join(
    client, danang, danang_lead, official, spelling, private_files
):
    before = private_files()
    client.force_login(official)

    response = client.post(reverse("register_city"), registration(name=spelling))

    assert response.status_code == 200
    assert response.context["duplicate"] == danang
    page = response.content.decode()
    assert "Da Nang (Viet Nam) is registered already" in page
    assert f'action="{reverse("city_join", args=[danang.code])}"' in page
    assert City.objects.filter(country_id="VN", name_key="danang").count() == 1
    assert not CityMembership.objects.filter(user=official).exists()
    assert private_files() == before
    # The offer names the city, but shows nothing of its members.
    assert danang_lead.email not in page


def test_join_request_approved_by_the_lead(client, danang, danang_lead, official):
    client.force_login(official)
    response = client.post(reverse("city_join", args=[danang.code]), {"message": "I work at DOST."})
    assert response["Location"] == reverse("my_cities")
    assert "Your request to join Da Nang" in client.get(reverse("my_cities")).content.decode()
    # Still not a member: the city page stays closed.
    assert client.get(reverse("city_detail", args=[danang.code])).status_code == 404

    lead = client.__class__()
    lead.force_login(danang_lead)
    page = lead.get(reverse("city_detail", args=[danang.code])).content.decode()
    assert "I work at DOST." in page
    join_request = JoinRequest.objects.get(user=official)
    response = lead.post(
        reverse("city_answer_request", args=[danang.code]),
        {"request": join_request.pk, "action": "approve"},
    )
    assert response["Location"] == reverse("city_detail", args=[danang.code])

    assert CityMembership.objects.get(city=danang, user=official).role == MemberRole.EDITOR
    assert client.get(reverse("city_detail", args=[danang.code])).status_code == 200


def test_join_request_declined(client, danang, danang_lead, official):
    join_request = JoinRequest.objects.create(city=danang, user=official)
    client.force_login(danang_lead)
    client.post(
        reverse("city_answer_request", args=[danang.code]),
        {"request": join_request.pk, "action": "decline"},
    )
    join_request.refresh_from_db()
    assert join_request.status == "declined"
    assert not CityMembership.objects.filter(user=official).exists()


def test_join_request_cannot_be_answered_by_an_editor_or_another_city(
    client, danang, danang_editor, cebu_lead, official
):
    join_request = JoinRequest.objects.create(city=danang, user=official)
    for outsider in (danang_editor, cebu_lead):
        client.force_login(outsider)
        response = client.post(
            reverse("city_answer_request", args=[danang.code]),
            {"request": join_request.pk, "action": "approve"},
        )
        assert response.status_code == 404
    join_request.refresh_from_db()
    assert join_request.status == "pending"


def test_join_request_for_an_unclaimed_city_is_404(client, official, reference_data):
    unclaimed = City.objects.get(name="Hanoi")
    client.force_login(official)
    response = client.post(reverse("city_join", args=[unclaimed.code]), {"message": ""})
    assert response.status_code == 404


def test_city_page_and_letter_are_404_for_non_members(client, danang, danang_lead, cebu_lead):
    client.force_login(cebu_lead)
    assert client.get(reverse("city_detail", args=[danang.code])).status_code == 404
    assert client.get(reverse("city_letter", args=[danang.code])).status_code == 404


def test_city_page_and_letter_need_login(client, danang):
    for name in ("city_detail", "city_letter"):
        response = client.get(reverse(name, args=[danang.code]))
        assert response["Location"].startswith(reverse("account_login") + "?next=")


def test_city_letter_is_served_to_members_as_an_attachment(client, danang, danang_editor):
    client.force_login(danang_editor)
    response = client.get(reverse("city_letter", args=[danang.code]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="letter.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF-")


def test_city_page_lists_members_for_members(client, danang, danang_lead, danang_editor):
    client.force_login(danang_editor)
    page = client.get(reverse("city_detail", args=[danang.code])).content.decode()
    assert danang_lead.email in page and danang_editor.email in page
    assert "Make lead" not in page  # editors do not manage members


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            letter("letter.pdf", b"<!DOCTYPE html><html><body>not a letter</body></html>"),
            "This file is not a PDF document (its content was checked, not its name).",
        ),
        (
            letter("big.pdf", pdf_bytes(size=12 * 1024 * 1024)),
            "The file is 12.0\xa0MB; at most 10.0\xa0MB is accepted.",
        ),
        (
            letter("../../etc/passwd.pdf", b"root:x:0:0:root:/root:/bin/bash\n"),
            "This file is not a PDF document (its content was checked, not its name).",
        ),
        (letter("empty.pdf", b""), "The submitted file is empty."),
    ],
    ids=["html-named-pdf", "12-MB-pdf", "path-traversal-name", "empty"],
)
def test_register_city_refuses_wrong_files(client, official, private_files, upload, message):
    client.force_login(official)
    response = client.post(reverse("register_city"), registration(authorisation_letter=upload))
    assert response.status_code == 200
    assert response.context["form"].errors == {"authorisation_letter": [message]}
    assert message.replace("\xa0", "&nbsp;") in response.content.decode() or message in (
        response.content.decode()
    )
    assert not City.objects.filter(name="Huế").exists()
    assert private_files() == []


def test_register_city_stores_a_random_name_for_a_traversal_name(client, official, private_files):
    client.force_login(official)
    client.post(
        reverse("register_city"),
        registration(authorisation_letter=letter("../../etc/passwd.pdf")),
    )
    city = City.objects.get(name="Huế")
    assert city.letter_name == "passwd.pdf"
    assert private_files() == [city.authorisation_letter.name]
    assert "passwd" not in city.authorisation_letter.name


def test_register_city_ignores_fields_an_official_may_not_set(client, official):
    client.force_login(official)
    client.post(
        reverse("register_city"),
        registration(verification_status="verified", code="chosen", ascn_status="pilot"),
    )
    city = City.objects.get(name="Huế")
    assert (city.verification_status, city.ascn_status) == ("pending", "")
    assert city.code != "chosen"


def test_register_city_only_in_asean_countries(client, official):
    client.force_login(official)
    response = client.post(reverse("register_city"), registration(country="JP"))
    assert response.context["form"].errors["country"] == [
        "Select a valid choice. That choice is not one of the available choices."
    ]


def test_lead_makes_editor_lead_and_removes_member(client, danang, danang_lead, danang_editor):
    client.force_login(danang_lead)
    editor = CityMembership.objects.get(user=danang_editor)
    url = reverse("city_manage_member", args=[danang.code])
    client.post(url, {"membership": editor.pk, "action": "lead"})
    editor.refresh_from_db()
    assert editor.role == MemberRole.LEAD
    client.post(url, {"membership": editor.pk, "action": "remove"})
    assert list(danang.memberships.values_list("user", flat=True)) == [danang_lead.pk]


def test_last_lead_cannot_step_down(client, danang, danang_lead):
    client.force_login(danang_lead)
    own = CityMembership.objects.get(user=danang_lead)
    response = client.post(
        reverse("city_manage_member", args=[danang.code]),
        {"membership": own.pk, "action": "editor"},
        follow=True,
    )
    assert "A city must keep at least one lead." in response.content.decode()
    own.refresh_from_db()
    assert own.role == MemberRole.LEAD


def test_manage_member_of_another_city_is_404(client, danang, cebu, danang_lead, cebu_lead):
    client.force_login(danang_lead)
    cebu_membership = CityMembership.objects.get(user=cebu_lead)
    for code in (danang.code, cebu.code):
        response = client.post(
            reverse("city_manage_member", args=[code]),
            {"membership": cebu_membership.pk, "action": "remove"},
        )
        assert response.status_code == 404
    assert CityMembership.objects.filter(pk=cebu_membership.pk).exists()


def test_manage_member_with_a_bad_id_is_404(client, danang, danang_lead):
    client.force_login(danang_lead)
    response = client.post(
        reverse("city_manage_member", args=[danang.code]), {"membership": "x", "action": "remove"}
    )
    assert response.status_code == 404


def test_my_cities_shows_own_cities_only(client, danang, cebu, danang_lead):
    client.force_login(danang_lead)
    response = client.get(reverse("my_cities"))
    assert [m.city for m in response.context["memberships"]] == [danang]
    assert "Cebu" not in response.content.decode()


def test_my_cities_query_count_does_not_grow(
    assert_page_queries, client, django_assert_num_queries, official
):
    client.force_login(official)
    cities = [make_city(name, "TH", verified=True) for name in ("Bangkok", "Phuket", "Rayong")]
    CityMembership.objects.create(city=cities[0], user=official, role=MemberRole.LEAD)
    JoinRequest.objects.create(city=cities[1], user=official)
    client.get(reverse("my_cities"))
    # The user and three of the page's own (the session is cached): memberships, join requests
    # and, since issue 18, the ASEAN countries of the "find my city" form's country choice, one
    # query however many cities or requests there are.
    with assert_page_queries(4):
        client.get(reverse("my_cities"))
    for city in cities[1:]:
        CityMembership.objects.create(city=city, user=official, role=MemberRole.EDITOR)
    JoinRequest.objects.create(city=make_city("Chiang Mai", "TH"), user=official)
    with assert_page_queries(4):
        client.get(reverse("my_cities"))


def test_city_page_query_count_does_not_grow(
    assert_page_queries, client, django_assert_num_queries, danang, danang_lead
):
    client.force_login(danang_lead)
    url = reverse("city_detail", args=[danang.code])
    client.get(url)
    # The user and five of the page's own (session cached): the city, whether the reader leads
    # it, its members, its join requests and, since issue 18, the lead's pending invitations:
    # one query, with who sent each, however many there are.
    with assert_page_queries(6) as one:
        client.get(url)
    for n in range(4):
        user = UserFactory()
        CityMembership.objects.create(city=danang, user=user)
        JoinRequest.objects.create(city=danang, user=UserFactory(email=f"asking{n}@example.org"))
        CityInvitation.objects.create(
            city=danang,
            email=f"invited{n}@example.org",
            token_hash=f"{n:064x}",
            invited_by=danang_lead,
            expires_at=timezone.now() + datetime.timedelta(days=7),
        )
    with django_assert_num_queries(len(one.captured_queries)):
        page = client.get(url).content.decode()
    assert all(f"invited{n}@example.org" in page for n in range(4))


def test_register_city_offers_to_join_even_with_a_wrong_letter(client, danang, official):
    client.force_login(official)
    response = client.post(
        reverse("register_city"),
        registration(name="Da Nang", authorisation_letter=letter("x.pdf", b"<html></html>")),
    )
    assert response.context["duplicate"] == danang
    assert "Da Nang (Viet Nam) is registered already" in response.content.decode()


def test_register_city_refuses_a_file_past_the_hard_limit(
    client, official, settings, private_files
):
    settings.UPLOAD_HARD_LIMIT_BYTES = 64 * 1024
    client.force_login(official)
    big = letter("huge.pdf", pdf_bytes(size=200 * 1024))
    response = client.post(reverse("register_city"), registration(authorisation_letter=big))
    assert response.context["form"].errors["authorisation_letter"] == [
        "The file is larger than 64.0\xa0KB and was not accepted."
    ]
    assert private_files() == []
    assert not City.objects.filter(name="Huế").exists()


def test_leaving_a_city_returns_to_my_cities(client, danang, danang_lead, danang_editor):
    client.force_login(danang_editor)
    membership = CityMembership.objects.get(user=danang_editor)
    response = client.post(
        reverse("city_manage_member", args=[danang.code]),
        {"membership": membership.pk, "action": "remove"},
    )
    assert response["Location"] == reverse("my_cities")
    assert not CityMembership.objects.filter(user=danang_editor).exists()
