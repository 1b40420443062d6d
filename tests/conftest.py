import os

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import translation

from proposals.models import City, CityMembership, Country, FocusArea, MemberRole, Sector, User
from proposals.reference_data import load_reference_data, load_taxonomies
from proposals.roles import PROGRAMME_STAFF, REVIEWERS, ensure_role_groups

from .factories import UserFactory, make_call, make_city

# In CI every test must run: a skipped service or browser test fails the run instead.
REQUIRE_ALL = os.environ.get("SMARTJAMP_REQUIRE_ALL_TESTS", "") not in {"", "0", "false"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped, but SMARTJAMP_REQUIRE_ALL_TESTS forbids skips: {reason}"


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.SITE_URL = "http://testserver"
    # A request leaves its language active in the thread: each test starts in English.
    translation.activate(settings.LANGUAGE_CODE)
    # A database cache is rolled back with each test; a shared Redis cache must be emptied.
    if "redis" in settings.CACHES["default"]["BACKEND"].lower():
        cache.clear()


@pytest.fixture
def assert_page_queries():
    """Like django_assert_num_queries, without the queries of the shared cache (the dashboard's
    cached fragment, rate limits): a database table on SQLite (SQL queries, and savepoints
    around its writes), Redis in CI (no SQL at all); the session too is read from the cache
    (cached_db). The user is a query of the page's own, on every signed-in page."""
    from contextlib import contextmanager

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    @contextmanager
    def check(expected: int):
        with CaptureQueriesContext(connection) as captured:
            yield captured
        own = [
            q["sql"]
            for q in captured.captured_queries
            if "smartjamp_cache" not in q["sql"] and "SAVEPOINT" not in q["sql"]
        ]
        assert len(own) == expected, f"{len(own)} queries, not {expected}:\n" + "\n".join(own)

    return check


@pytest.fixture
def private_files(tmp_path):
    """Every file stored in private storage during the test."""
    root = tmp_path / "private"

    def listing():
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    return listing


@pytest.fixture
def reference_data(db):
    # Transactional tests (live server) flush the tables that the data migration filled.
    if not Country.objects.exists():
        load_reference_data(Country, City)
        load_taxonomies(FocusArea, Sector)


def in_group(user: User, group: str) -> User:
    ensure_role_groups()
    user.groups.add(Group.objects.get(name=group))
    return user


def member(city: City, email: str, full_name: str, role: str) -> User:
    user = UserFactory(email=email, full_name=full_name)
    CityMembership.objects.create(city=city, user=user, role=role)
    return user


@pytest.fixture
def staff(reference_data) -> User:
    user = UserFactory(email="staff@example.org", full_name="Aiko Tanaka", is_staff=True)
    return in_group(user, PROGRAMME_STAFF)


@pytest.fixture
def reviewer(reference_data) -> User:
    user = UserFactory(email="reviewer1@example.org", full_name="Hiroshi Sato", is_staff=True)
    return in_group(user, REVIEWERS)


@pytest.fixture
def reviewer2(reference_data) -> User:
    user = UserFactory(email="reviewer2@example.org", full_name="Yuki Nakamura", is_staff=True)
    return in_group(user, REVIEWERS)


@pytest.fixture
def danang(reference_data) -> City:
    return make_city("Da Nang", "VN", verified=True)


@pytest.fixture
def cebu(reference_data) -> City:
    return make_city("Cebu City", "PH", verified=True)


@pytest.fixture
def danang_lead(danang) -> User:
    return member(danang, "lead.danang@example.org", "Nguyễn Văn An", MemberRole.LEAD)


@pytest.fixture
def danang_editor(danang) -> User:
    return member(danang, "editor.danang@example.org", "Trần Thị Bình", MemberRole.EDITOR)


@pytest.fixture
def cebu_lead(cebu) -> User:
    return member(cebu, "lead.cebu@example.org", "Maria Santos", MemberRole.LEAD)


@pytest.fixture
def official(reference_data) -> User:
    """A verified official who is not a member of any city yet."""
    return UserFactory(email="official.hue@example.org", full_name="Lê Minh")


@pytest.fixture
def call(reference_data):
    return make_call()


@pytest.fixture
def clock(monkeypatch):
    """The server's clock, frozen where a test sets it."""
    from django.utils import timezone

    class Clock:
        def set(self, when):
            monkeypatch.setattr(timezone, "now", lambda: when)
            return when

    return Clock()


@pytest.fixture(autouse=True)
def _celery_in_process(request):
    """Tasks run in the test's own process unless a test starts a real worker."""
    from proposals import notifications
    from smartjamp.celery import app

    notifications._broker_down_until = 0.0  # a broker failure in one test says nothing of the next
    if request.node.get_closest_marker("worker"):
        yield
        return
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _force_login_with_both_factors(monkeypatch):
    """`client.force_login` stands for a complete sign-in: for an admin user, with the second
    factor that smartjamp.security requires (tests of the sign-in itself use the login form)."""
    from allauth.account.internal.flows.login import (
        _AUTHENTICATION_METHODS_USER_SESSION_KEY,
        AUTHENTICATION_METHODS_SESSION_KEY,
    )
    from django.test import Client

    from smartjamp.security import is_admin_user

    original = Client._login

    def _login(self, user, backend=None):
        original(self, user, backend)
        if is_admin_user(user):
            session = self.session
            session[AUTHENTICATION_METHODS_SESSION_KEY] = [
                {"method": "password", "at": 0},
                {"method": "mfa", "at": 0, "type": "totp"},
            ]
            session[_AUTHENTICATION_METHODS_USER_SESSION_KEY] = str(user.pk)
            session.save()

    monkeypatch.setattr(Client, "_login", _login)


@pytest.fixture
def approve(staff, reviewer2, django_capture_on_commit_callbacks):
    """Take a proposal through review to its approval (and so its project, issue 16)."""
    from proposals import services

    from .factories import review, under_review

    def run(proposal, lead):
        under_review(proposal, lead=lead, staff=staff)
        review(proposal, reviewer2, [4, 4], staff=staff)
        services.shortlist_proposal(actor=staff, proposal=proposal)
        with django_capture_on_commit_callbacks(execute=True):
            return services.approve_proposal(
                actor=staff, proposal=proposal, amount=30_000_000, letter="Selected."
            )

    return run


@pytest.fixture
def project(call, danang, danang_lead, approve):
    """Da Nang's approved proposal, now a project in its formation survey."""
    from .factories import make_proposal

    return approve(make_proposal(call, danang, danang_lead), danang_lead).project


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """Run what the event's commit hands to Celery (tasks run in-process in tests)."""

    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run
