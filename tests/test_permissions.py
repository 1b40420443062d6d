import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from proposals.models import City, CityMembership, MemberRole
from proposals.permissions import (
    can_manage_city,
    get_city_for_user,
    get_proposal_for_user,
    is_city_lead,
    is_programme_staff,
)


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


# The proposal gate (get_proposal_for_user).


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


def places(proposal) -> tuple[bool, bool]:
    return (proposal.reader_is_member, proposal.reader_is_lead)


@pytest.mark.django_db
def test_the_proposal_gate_lets_members_and_programme_staff_in_with_their_place(
    decided, danang_lead, danang_editor, staff
):
    assert places(get_proposal_for_user(danang_lead, decided.code)) == (True, True)
    assert places(get_proposal_for_user(danang_editor, decided.code)) == (True, False)
    assert get_proposal_for_user(danang_editor, decided.code, write=True) == decided
    assert places(get_proposal_for_user(staff, decided.code)) == (False, False)
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
def test_the_proposal_gate_reads_a_lead_of_another_city_as_an_outsider(
    decided, danang_editor, cebu
):
    """A lead elsewhere who edits here is an editor here, not a lead."""
    CityMembership.objects.create(city=cebu, user=danang_editor, role=MemberRole.LEAD)
    assert places(get_proposal_for_user(danang_editor, decided.code)) == (True, False)


@pytest.mark.django_db
def test_the_proposal_gate_reads_the_proposal_its_call_city_and_country_in_one_query(
    decided, danang_lead, django_assert_num_queries
):
    with django_assert_num_queries(1):
        read = get_proposal_for_user(danang_lead, decided.code)
        assert (read.title, read.call.title, read.city.name, read.city.country.name) == (
            decided.title,
            decided.call.title,
            decided.city.name,
            decided.city.country.name,
        )
    assert read.decided_at == datetime.datetime(2027, 3, 31, 15, 30, tzinfo=datetime.UTC)


# Who is who: one rule each.


@pytest.mark.django_db
def test_is_city_lead_is_a_lead_of_that_city_only(
    danang, cebu, danang_lead, danang_editor, cebu_lead, staff
):
    assert [is_city_lead(u, danang) for u in (danang_lead, danang_editor, cebu_lead, staff)] == [
        True,
        False,
        False,
        False,
    ]
    assert is_city_lead(danang_lead, danang.pk) is True  # a city or its id
    assert is_city_lead(danang_lead, cebu) is False
    assert is_city_lead(AnonymousUser(), danang) is False


@pytest.mark.django_db
def test_only_a_lead_takes_the_leads_transitions(call, danang, danang_lead, danang_editor):
    from django_fsm import has_transition_perm

    from .factories import make_proposal

    proposal = make_proposal(call, danang, danang_lead)
    assert [has_transition_perm(proposal.submit, u) for u in (danang_lead, danang_editor)] == [
        True,
        False,
    ]
    assert [has_transition_perm(proposal.withdraw, u) for u in (danang_lead, danang_editor)] == [
        True,
        False,
    ]


@pytest.mark.django_db
def test_is_programme_staff_is_active_staff_who_read_every_proposal(staff, reviewer, danang_lead):
    from .factories import UserFactory

    superuser = UserFactory(email="root@example.org", is_staff=True, is_superuser=True)
    assert [is_programme_staff(u) for u in (staff, superuser, reviewer, danang_lead)] == [
        True,
        True,
        False,
        False,
    ]
    assert is_programme_staff(AnonymousUser()) is False
    staff.is_active = False
    assert is_programme_staff(staff) is False
