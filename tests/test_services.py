import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import connection

from proposals import services
from proposals.models import (
    AscnStatus,
    City,
    CityKind,
    CityMembership,
    Country,
    JoinRequest,
    JoinRequestStatus,
    MemberRole,
    VerificationStatus,
)

from .factories import UserFactory, pdf_bytes


def register(user, name, country="VN", **extra):
    return services.register_city(
        user=user,
        country=Country.objects.get(iso2=country),
        name=name,
        kind=extra.pop("kind", CityKind.CITY),
        letter=ContentFile(pdf_bytes(name)),
        letter_name="letter.pdf",
        **extra,
    )


@pytest.mark.django_db
def test_register_city_claims_the_ascn_reference_row(official, private_files):
    reference = City.objects.get(country_id="VN", name="Hanoi")

    city = register(official, "Hà Nội", region="Red River Delta", population=8_000_000)

    assert city.pk == reference.pk
    assert (city.name, city.ascn_status, city.verification_status) == (
        "Hanoi",
        AscnStatus.PILOT,
        VerificationStatus.PENDING,
    )
    assert city.time_zone == "Asia/Ho_Chi_Minh"
    assert list(city.memberships.values_list("user__email", "role")) == [
        (official.email, MemberRole.LEAD)
    ]
    assert private_files() == [city.authorisation_letter.name]
    assert city.authorisation_letter.name.startswith("letters/")
    assert "letter" not in city.authorisation_letter.name.removeprefix("letters/")


@pytest.mark.django_db
def test_register_city_outside_the_network_creates_it(official):
    city = register(official, "Huế", kind=CityKind.CITY, time_zone="Asia/Bangkok")

    assert (city.name, city.name_key, city.ascn_status) == ("Huế", "hue", AscnStatus.NONE)
    assert city.time_zone == "Asia/Bangkok"


@pytest.mark.django_db
def test_register_city_national_body(official):
    city = register(official, "Ministry of Construction", kind=CityKind.NATIONAL)
    assert city.kind == CityKind.NATIONAL


@pytest.mark.django_db
def test_register_city_twice_raises_duplicate_and_stores_nothing(danang, official, private_files):
    before = private_files()
    with pytest.raises(services.DuplicateCity) as raised:
        register(official, "Đà Nẵng")
    assert raised.value.city == danang
    assert private_files() == before
    assert not CityMembership.objects.filter(user=official).exists()


@pytest.mark.django_db(transaction=True)
def test_register_city_racing_officials_get_one_city(reference_data):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to test")
    first = UserFactory(email="first@example.org")
    second = UserFactory(email="second@example.org")
    results = []
    barrier = threading.Barrier(2)

    def attempt(user):
        barrier.wait()
        try:
            results.append(register(user, "Cần Thơ"))
        except services.DuplicateCity as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(u,)) for u in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(type(r).__name__ for r in results) == ["City", "DuplicateCity"]
    assert City.objects.filter(name_key="cantho").count() == 1
    assert CityMembership.objects.filter(city__name_key="cantho").count() == 1


@pytest.mark.django_db
def test_request_to_join_twice_keeps_one_pending_request(danang, official):
    first = services.request_to_join(user=official, city=danang, message="Hi")
    second = services.request_to_join(user=official, city=danang, message="Again")
    assert first == second
    assert JoinRequest.objects.filter(user=official).count() == 1


@pytest.mark.django_db
def test_request_to_join_refused_for_a_member(danang, danang_editor):
    with pytest.raises(ValidationError):
        services.request_to_join(user=danang_editor, city=danang)


@pytest.mark.django_db
def test_decide_join_request_approved_makes_an_editor(danang, danang_lead, official):
    join_request = services.request_to_join(user=official, city=danang)

    services.decide_join_request(actor=danang_lead, join_request=join_request, approve=True)

    join_request.refresh_from_db()
    assert (join_request.status, join_request.decided_by) == (
        JoinRequestStatus.APPROVED,
        danang_lead,
    )
    assert CityMembership.objects.get(city=danang, user=official).role == MemberRole.EDITOR


@pytest.mark.django_db
def test_decide_join_request_by_editor_or_other_city_is_refused(
    danang, danang_editor, cebu_lead, official
):
    join_request = services.request_to_join(user=official, city=danang)
    for outsider in (danang_editor, cebu_lead):
        with pytest.raises(PermissionDenied):
            services.decide_join_request(actor=outsider, join_request=join_request, approve=True)
    assert not CityMembership.objects.filter(user=official).exists()


@pytest.mark.django_db
def test_decide_join_request_twice_is_refused(danang, danang_lead, official):
    join_request = services.request_to_join(user=official, city=danang)
    services.decide_join_request(actor=danang_lead, join_request=join_request, approve=False)
    with pytest.raises(ValidationError):
        services.decide_join_request(actor=danang_lead, join_request=join_request, approve=True)
    assert not CityMembership.objects.filter(user=official).exists()


@pytest.mark.django_db
def test_verify_and_reject_city_are_staff_only(danang, danang_lead, staff):
    with pytest.raises(PermissionDenied):
        services.verify_city(actor=danang_lead, city=danang)

    city = services.reject_city(actor=staff, city=danang, reason="The letter is unsigned.")
    assert (city.verification_status, city.rejection_reason, city.decided_by) == (
        VerificationStatus.REJECTED,
        "The letter is unsigned.",
        staff,
    )
    city = services.verify_city(actor=staff, city=danang)
    assert (city.verification_status, city.rejection_reason) == (VerificationStatus.VERIFIED, "")


@pytest.mark.django_db
def test_reject_city_needs_a_reason(danang, staff):
    with pytest.raises(ValidationError):
        services.reject_city(actor=staff, city=danang, reason="   ")
    danang.refresh_from_db()
    assert danang.verification_status == VerificationStatus.VERIFIED


@pytest.mark.django_db
def test_city_keeps_at_least_one_lead(danang, danang_lead, danang_editor):
    lead_membership = CityMembership.objects.get(user=danang_lead)
    with pytest.raises(ValidationError):
        services.change_member_role(actor=danang_lead, membership=lead_membership, role="editor")
    with pytest.raises(ValidationError):
        services.remove_member(actor=danang_lead, membership=lead_membership)

    editor_membership = CityMembership.objects.get(user=danang_editor)
    services.change_member_role(actor=danang_lead, membership=editor_membership, role="lead")
    services.remove_member(actor=danang_lead, membership=lead_membership)

    assert list(danang.memberships.values_list("user__email", "role")) == [
        (danang_editor.email, MemberRole.LEAD)
    ]


@pytest.mark.django_db
def test_editor_cannot_manage_members_but_may_leave(danang, danang_lead, danang_editor):
    lead_membership = CityMembership.objects.get(user=danang_lead)
    with pytest.raises(PermissionDenied):
        services.remove_member(actor=danang_editor, membership=lead_membership)
    services.remove_member(
        actor=danang_editor, membership=CityMembership.objects.get(user=danang_editor)
    )
    assert list(danang.memberships.values_list("user__email", flat=True)) == [danang_lead.email]


@pytest.mark.django_db
def test_city_rejection_without_reason_is_refused_by_the_database(danang):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        City.objects.filter(pk=danang.pk).update(
            verification_status="rejected", rejection_reason=""
        )
