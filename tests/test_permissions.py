import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from proposals.models import Call, City, Proposal
from proposals.permissions import can_manage_city, get_city_for_user, get_proposal_for_user


@pytest.mark.django_db
def test_get_city_for_user_gives_members_their_city(danang, danang_lead, danang_editor):
    assert get_city_for_user(danang_lead, danang.code) == danang
    assert get_city_for_user(danang_editor, danang.code) == danang


@pytest.mark.django_db
def test_get_city_for_user_hides_other_cities(danang, cebu_lead):
    with pytest.raises(Http404):
        get_city_for_user(cebu_lead, danang.code)


@pytest.mark.django_db
def test_get_city_for_user_hides_every_city_from_anonymous(danang):
    with pytest.raises(Http404):
        get_city_for_user(AnonymousUser(), danang.code)


@pytest.mark.django_db
def test_get_city_for_user_manage_needs_a_lead(danang, danang_lead, danang_editor):
    assert get_city_for_user(danang_lead, danang.code, manage=True) == danang
    with pytest.raises(Http404):
        get_city_for_user(danang_editor, danang.code, manage=True)


@pytest.mark.django_db
def test_get_city_for_user_lets_staff_see_and_manage_any_city(danang, staff):
    assert get_city_for_user(staff, danang.code, manage=True) == danang


@pytest.mark.django_db
def test_get_city_for_user_unknown_code_is_404(danang_lead):
    with pytest.raises(Http404):
        get_city_for_user(danang_lead, "nosuchcode")


@pytest.mark.django_db
def test_can_manage_city(danang, danang_lead, danang_editor, cebu_lead, staff):
    assert [can_manage_city(u, danang) for u in (danang_lead, danang_editor, cebu_lead, staff)] == [
        True,
        False,
        False,
        True,
    ]
    assert can_manage_city(AnonymousUser(), danang) is False


@pytest.mark.django_db
def test_visible_to_lists_only_own_cities(danang, cebu, danang_lead, staff):
    assert list(City.objects.visible_to(danang_lead)) == [danang]
    assert City.objects.visible_to(staff).count() == City.objects.count()


@pytest.mark.django_db
def test_reviewers_are_not_programme_staff(danang, reviewer):
    # Reviewers sign in to the admin (is_staff) but must not reach cities' pages or letters.
    with pytest.raises(Http404):
        get_city_for_user(reviewer, danang.code)
    assert can_manage_city(reviewer, danang) is False


# The proposal gate (get_proposal_for_user): one statement, its row built by hand.


@pytest.fixture
def decided(call, danang, danang_lead, staff):
    from proposals.models import Proposal, Status

    from .factories import make_proposal

    proposal = make_proposal(call, danang, danang_lead)
    Proposal.objects.filter(pk=proposal.pk).update(
        status=Status.APPROVED,
        approved_jpy=12_500_000,
        decided_at=datetime.datetime(2027, 3, 31, 15, 30, tzinfo=datetime.UTC),
        decision_letter="Approved.",
    )
    return Proposal.objects.select_related("call", "city__country").get(pk=proposal.pk)


@pytest.mark.django_db
def test_the_proposal_gate_lets_members_and_programme_staff_in_with_their_role(
    decided, danang_lead, danang_editor, staff
):
    from proposals.models import MemberRole

    assert get_proposal_for_user(danang_lead, decided.code).reader_role == MemberRole.LEAD
    assert get_proposal_for_user(danang_editor, decided.code).reader_role == MemberRole.EDITOR
    assert get_proposal_for_user(danang_editor, decided.code, write=True) == decided
    assert get_proposal_for_user(staff, decided.code).reader_role is None
    with pytest.raises(PermissionDenied):  # staff read; only the city's members write
        get_proposal_for_user(staff, decided.code, write=True)


@pytest.mark.django_db
def test_the_proposal_gate_hides_proposals_from_everybody_else(
    decided, cebu_lead, reviewer, official
):
    for outsider in (cebu_lead, reviewer, official, AnonymousUser()):
        for write in (False, True):
            with pytest.raises(Http404):
                get_proposal_for_user(outsider, decided.code, write=write)
    with pytest.raises(Http404):
        get_proposal_for_user(official, "no-such-code")


@pytest.mark.django_db
def test_the_proposal_gate_reads_the_same_values_as_the_orm(
    decided, danang_lead, django_assert_num_queries
):
    """Every column converted as a query would (aware UTC times, on SQLite too), with the
    call, city and country attached, in one statement."""
    fields = [
        *(("", field.attname) for field in Proposal._meta.concrete_fields),
        *(("call", field.attname) for field in Call._meta.concrete_fields),
        *(("city", field.attname) for field in City._meta.concrete_fields),
    ]
    with django_assert_num_queries(1):
        read = get_proposal_for_user(danang_lead, decided.code)
        for path, name in fields:
            expected = getattr(getattr(decided, path) if path else decided, name)
            assert getattr(getattr(read, path) if path else read, name) == expected, name
        assert read.city.country == decided.city.country
        assert read.city.country.name == decided.city.country.name
    assert read.decided_at.tzinfo is not None
    assert read.decided_at == datetime.datetime(2027, 3, 31, 15, 30, tzinfo=datetime.UTC)
    assert isinstance(read.approved_jpy, int) and read.approved_jpy == 12_500_000


@pytest.mark.django_db
def test_the_proposal_gate_reads_only_the_columns_asked_for(decided, danang_lead):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    only = ("title", "decided_at", "call__title", "city__name")
    with CaptureQueriesContext(connection) as captured:
        read = get_proposal_for_user(danang_lead, decided.code, only=only)
        assert (read.title, read.decided_at, read.call.title, read.city.name) == (
            decided.title,
            decided.decided_at,
            decided.call.title,
            decided.city.name,
        )
        assert (read.code, read.status, read.call_id, read.city_id) == (
            decided.code,
            decided.status,
            decided.call_id,
            decided.city_id,
        )
    assert len(captured) == 1
    assert "summary" not in captured[0]["sql"] and "closes_at" not in captured[0]["sql"]
    assert read.get_deferred_fields() >= {"summary", "requested_jpy"}
    assert read.summary == decided.summary  # a deferred field still loads when asked for


@pytest.mark.django_db
def test_the_proposal_gate_refuses_columns_the_models_do_not_have(decided, danang_lead):
    from django.core.exceptions import FieldDoesNotExist

    for only in (("titel",), ("city__country__name",), ("focus_areas",)):
        with pytest.raises(FieldDoesNotExist):
            get_proposal_for_user(danang_lead, decided.code, only=only)
