"""The signed-in user and their permissions come from the cache, and never outlive a change."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from proposals.roles import PROGRAMME_STAFF

from .factories import UserFactory

pytestmark = pytest.mark.django_db


def _tables(captured) -> str:
    return " ".join(q["sql"] for q in captured.captured_queries)


def test_a_signed_in_page_reads_neither_session_nor_user_through_the_orm(client):
    user = UserFactory()
    client.force_login(user)
    client.get(reverse("notifications"))  # fills the cache
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("notifications"))
    assert response.status_code == 200
    sql = _tables(captured)
    assert '"proposals_user"."password"' not in sql
    assert "django_session" not in sql


def test_user_and_permissions_each_come_with_their_version_in_one_round_trip(monkeypatch):
    from proposals.auth import PortalBackend
    from proposals.cache import cache

    user = UserFactory(is_staff=True)
    Group.objects.get(name=PROGRAMME_STAFF).user_set.add(user)
    backend = PortalBackend()
    backend.get_user(user.pk)  # fills the cache
    backend.get_all_permissions(backend.get_user(user.pk))
    calls = []
    for name in ("get", "get_many", "get_or_set", "set"):
        original = getattr(cache, name)
        monkeypatch.setattr(
            cache,
            name,
            lambda *args, _name=name, _original=original: calls.append(_name) or _original(*args),
        )
    cached = backend.get_user(user.pk)
    assert calls == ["get_many"]
    assert "proposals.view_proposal" in backend.get_all_permissions(cached)
    assert calls == ["get_many", "get_many"]


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


def test_signing_out_ends_the_cached_session(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("notifications")).status_code == 200
    stolen = client.cookies["sessionid"].value
    client.post(reverse("account_logout"))
    client.cookies["sessionid"] = stolen
    assert client.get(reverse("notifications")).status_code == 302


def test_signed_in_pages_work_while_the_cache_is_unreachable(client, settings, caplog):
    user = UserFactory()
    settings.CACHES = {
        "default": {
            "BACKEND": "proposals.cache_backend.PortalRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
        }
    }
    client.force_login(user)
    response = client.get(reverse("notifications"))
    assert response.status_code == 200
    assert user.email in response.content.decode() or user.get_short_name() in (
        response.content.decode()
    )
    assert "going on without the cache" in caplog.text
    # Signing out must also delete the cached copy: while that cannot be done it fails
    # visibly; the session is gone from the database all the same.
    client.raise_request_exception = False
    assert client.post(reverse("account_logout")).status_code == 500
    assert client.get(reverse("notifications")).status_code == 302


def test_a_cached_session_lives_ten_minutes_at_most(client):
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX

    from proposals.sessions import SESSION_CACHE_SECONDS, SessionStore

    store = SessionStore()
    store["x"] = 1
    store.save()
    calls = []

    class Spy:
        def set(self, key, value, timeout=None):
            calls.append(timeout)

    store._cache._cache = Spy()
    store.save()
    assert calls == [SESSION_CACHE_SECONDS]
    assert KEY_PREFIX in store.cache_key


def test_a_row_read_before_a_change_committed_is_not_served_after_it(client):
    """The race: a request reads the user's row, a deactivation commits (and forgets the
    user), then the request stores the row it read. Nobody after it is served that row."""
    from unittest import mock

    from allauth.account.auth_backends import AuthenticationBackend

    from proposals.auth import PortalBackend

    user = UserFactory()
    client.force_login(user)
    stale = type(user).objects.get(pk=user.pk)

    def read_then_the_change_commits(self, user_id):
        user.is_active = False
        user.save()
        return stale

    with mock.patch.object(AuthenticationBackend, "get_user", read_then_the_change_commits):
        assert PortalBackend().get_user(user.pk) is not None  # that one request, as before
    assert client.get(reverse("notifications")).status_code == 302


def test_redis_backend_reuses_one_client_per_pool():
    """One redis-py client per connection pool, not one per operation (cache_backend.py)."""
    from proposals.cache_backend import PortalRedisCache

    backend = PortalRedisCache("redis://127.0.0.1:9/0", {"OPTIONS": {"socket_timeout": 1}})
    first = backend._cache.get_client(write=True)
    assert backend._cache.get_client(write=False) is first  # one server: one pool
    assert first.connection_pool is backend._cache._get_connection_pool(True)


def test_an_unreachable_cache_is_left_alone_for_a_few_seconds(monkeypatch):
    """While Redis cannot be reached each attempt waits for its timeout: after one failure the
    cache is not tried again for RETRY_AFTER_SECONDS (reads miss, writes are dropped)."""
    from proposals import cache as shared

    attempts = []

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                attempts.append(name)
                raise ConnectionError("unreachable")

            return fail

    forgiving = shared.ForgivingCache(Down())
    clock = [1000.0]
    monkeypatch.setattr(shared.time, "monotonic", lambda: clock[0])
    assert forgiving.get("a") is None
    assert forgiving.get_many(["a", "b"]) == {}
    forgiving.set("a", 1)
    assert forgiving.incr("a") is None
    assert forgiving.get_or_set("v", lambda: 7) == 7
    assert attempts == ["get"]
    clock[0] += shared.RETRY_AFTER_SECONDS
    forgiving.get("a")
    assert attempts == ["get", "get"]
    assert shared._state["lost_writes"]  # the dropped set and incr


def test_the_database_cache_keeps_more_than_djangos_300_entries(settings):
    """On SQLite the shared cache is a table: culling it every few page views (Django's
    default of 300 entries) would throw sessions, users and page parts away."""
    from django.core.cache.backends.db import DatabaseCache

    config = settings.DATABASE_CACHE
    backend = DatabaseCache(config["LOCATION"], config)
    assert backend._max_entries == 20000
    if "DatabaseCache" in settings.CACHES["default"]["BACKEND"]:
        assert settings.CACHES["default"] == config
