import os

import pytest

# Celery reads CELERY_BROKER_URL from the environment before its own configuration, so the
# tests point the broker elsewhere through the environment.
from django.urls import reverse

from smartjamp.celery import app as celery_app

IDLE = {"outbox": "ok", "outbox_age": None}  # no email waiting


@pytest.mark.django_db
def test_healthz_reports_database_and_embedded_broker_up(client, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", f"embedded+sqlite:///{tmp_path / 'broker.db'}")
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up", "broker": "up", **IDLE}
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down(client, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "up", "broker": "down", **IDLE}


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_down(client, monkeypatch):
    from smartjamp import views

    def broken_cursor(*args, **kwargs):
        raise views.connection.OperationalError("database is gone")

    monkeypatch.setattr(views.connection, "cursor", broken_cursor)
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["database"] == "down"


@pytest.mark.services
@pytest.mark.django_db
def test_healthz_reports_redis_broker_up(client, monkeypatch):
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("CELERY_BROKER_URL does not point at Redis")
    assert celery_app.conf.broker_url == url
    response = client.get(reverse("healthz"))
    assert response.json() == {"status": "ok", "database": "up", "broker": "up", **IDLE}


@pytest.mark.django_db
def test_healthz_reports_the_age_of_the_oldest_email_waiting(client, settings, clock, monkeypatch):
    """No worker taking tasks shows as an email waiting longer than OUTBOX_STALE_SECONDS."""
    import datetime

    from django.utils import timezone

    from proposals.models import Notification
    from smartjamp import views

    monkeypatch.setattr(views, "_broker_up", lambda: True)
    settings.OUTBOX_STALE_SECONDS = 600
    now = timezone.now()
    clock.set(now - datetime.timedelta(seconds=300))
    Notification.objects.create(
        email="a@example.org",
        kind="message",
        language="en",
        subject="S",
        body_text="B",
        dedup_key="waiting",
    )
    Notification.objects.create(
        email="b@example.org",
        kind="message",
        language="en",
        subject="S",
        body_text="B",
        dedup_key="retry-later",
        state="failed",
        next_attempt_at=now + datetime.timedelta(hours=1),
    )
    clock.set(now)
    response = client.get(reverse("healthz"))
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ok", "database": "up", "broker": "up", "outbox": "ok", "outbox_age": 300},
    )
    clock.set(now + datetime.timedelta(seconds=301))
    response = client.get(reverse("healthz"))
    assert (response.status_code, response.json()) == (
        503,
        {"status": "error", "database": "up", "broker": "up", "outbox": "stale", "outbox_age": 601},
    )
