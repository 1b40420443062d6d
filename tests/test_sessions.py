"""Who is signed in, and with which permissions, never outlives a change (Django's database
sessions and allauth's backend, read on every request)."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from proposals.roles import PROGRAMME_STAFF

from .factories import UserFactory

pytestmark = pytest.mark.django_db


def test_deactivating_a_user_signs_them_out_at_once(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("notifications")).status_code == 200
    user.is_active = False
    user.save()
    response = client.get(reverse("notifications"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_a_password_change_signs_out_the_other_sessions(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("notifications")).status_code == 200
    user.set_password("a-new-and-long-passphrase")
    user.save()
    assert client.get(reverse("notifications")).status_code == 302


def test_a_deleted_user_is_signed_out(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("notifications")).status_code == 200
    user.delete()
    assert client.get(reverse("notifications")).status_code == 302


def test_joining_and_leaving_the_staff_group_changes_access_on_the_next_request(client):
    user = UserFactory(is_staff=True)
    client.force_login(user)
    dashboard = reverse("staff_dashboard")
    assert client.get(dashboard).status_code == 404
    group = Group.objects.get(name=PROGRAMME_STAFF)
    user.groups.add(group)
    assert client.get(dashboard).status_code == 200
    group.user_set.remove(user)  # the reverse side of the same relation
    assert client.get(dashboard).status_code == 404


def test_a_permission_taken_from_the_group_is_gone_on_the_next_request(client):
    user = UserFactory(is_staff=True)
    group = Group.objects.get(name=PROGRAMME_STAFF)
    user.groups.add(group)
    client.force_login(user)
    dashboard = reverse("staff_dashboard")
    assert client.get(dashboard).status_code == 200
    group.permissions.remove(Permission.objects.get(codename="view_proposal"))
    assert client.get(dashboard).status_code == 404
    user.user_permissions.add(Permission.objects.get(codename="view_proposal"))
    assert client.get(dashboard).status_code == 200


def test_signing_out_ends_the_session(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("notifications")).status_code == 200
    stolen = client.cookies["sessionid"].value
    client.post(reverse("account_logout"))
    client.cookies["sessionid"] = stolen
    assert client.get(reverse("notifications")).status_code == 302
