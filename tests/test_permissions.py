import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from proposals.models import City
from proposals.permissions import can_manage_city, get_city_for_user


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
