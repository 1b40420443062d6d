"""A real Celery worker process, the real Redis and PostgreSQL, and a fake mail server.

Skipped where Redis or PostgreSQL is missing (a bare machine); CI has both and forbids skips.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from proposals import notifications, reminders, services, tasks
from proposals.models import CityMembership, Notification, NotificationState
from smartjamp.celery import app

from .factories import UserFactory, make_city
from .fake_smtp import FakeSMTP

pytestmark = [pytest.mark.worker, pytest.mark.services, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
OUTBOX = {
    "OUTBOX_MAX_ATTEMPTS": "3",
    "OUTBOX_RETRY_BASE_SECONDS": "0.2",
    "OUTBOX_QUEUED_GRACE_SECONDS": "0",
    "OUTBOX_SENDING_TIMEOUT_SECONDS": "3",
}


@pytest.fixture
def services_up(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker process must see the test database")
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        pytest.skip("CELERY_BROKER_URL does not point at Redis")
    for name, value in OUTBOX.items():
        setattr(settings, name, float(value) if "." in value else int(value))
    app.control.purge()
    return True


@pytest.fixture
def smtp():
    with FakeSMTP() as server:
        yield server


@pytest.fixture
def worker(services_up, smtp):
    """Start a worker; `start()` again after a kill. All are stopped at the end."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_TIMEOUT": "60",
        **OUTBOX,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    started = []

    def start():
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "smartjamp",
                "worker",
                "--pool=solo",
                "--loglevel=WARNING",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "-n",
                f"test{len(started)}@%h",
            ],
            cwd=ROOT,
            env=env,
        )
        started.append(process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if app.control.ping(
                destination=[f"test{len(started) - 1}@{os.uname().nodename}"], timeout=0.5
            ):
                return process
        raise RuntimeError("the worker did not start")

    start.processes = started
    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def reset_connections():
    """Make this process's Celery app connect anew to whatever the broker URL now says."""
    app._pool = None
    app.amqp._producer_pool = None


def wait_for(condition, timeout=30.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def state(notification_id):
    return Notification.objects.get(pk=notification_id).state


def an_event(email="lead@example.org"):
    """A city verified: one notification to its lead."""
    from .conftest import in_group

    staff = in_group(UserFactory(email="staff@example.org", is_staff=True), "Programme staff")
    city = make_city("Huế", "VN")
    lead = UserFactory(email=email)
    CityMembership.objects.create(city=city, user=lead, role="lead")
    services.verify_city(actor=staff, city=city)
    return Notification.objects.get(email=email)


@pytest.fixture
def reference(reference_data):
    return reference_data


def test_an_event_is_sent_by_the_worker(worker, smtp, reference):
    worker()
    notification = an_event()
    assert wait_for(lambda: state(notification.pk) == NotificationState.SENT)
    assert smtp.notification_ids() == [notification.pk]


def test_an_event_while_the_broker_is_down_is_sent_after_it_returns(
    worker, smtp, reference, monkeypatch
):
    worker()
    real = os.environ["CELERY_BROKER_URL"]
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    reset_connections()
    notification = an_event()
    assert state(notification.pk) == NotificationState.QUEUED
    time.sleep(1)
    assert smtp.accepted == []
    monkeypatch.setenv("CELERY_BROKER_URL", real)
    reset_connections()
    tasks.sweep_outbox.delay()  # what beat does every minute
    assert wait_for(lambda: state(notification.pk) == NotificationState.SENT)
    assert smtp.notification_ids() == [notification.pk]


def test_an_event_in_a_rolled_back_transaction_notifies_nobody(worker, smtp, reference):
    worker()
    with pytest.raises(RuntimeError), transaction.atomic():
        an_event()
        raise RuntimeError("rolled back")
    time.sleep(2)
    assert (Notification.objects.count(), smtp.accepted) == (0, [])


def test_the_same_task_delivered_twice_sends_one_email(worker, smtp, reference):
    worker()
    notification = an_event()
    tasks.send_notification.delay(notification.pk)
    tasks.send_notification.delay(notification.pk)
    assert wait_for(lambda: state(notification.pk) == NotificationState.SENT)
    time.sleep(2)
    assert smtp.notification_ids() == [notification.pk]


def test_a_worker_killed_mid_task_leaves_the_notification_sent(worker, smtp, reference):
    smtp.mode = "stall"  # the mail server takes its time to accept the message
    first = worker()
    notification = an_event()
    assert smtp.stalled.wait(30)
    assert state(notification.pk) == NotificationState.SENDING
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    smtp.mode = "accept"
    worker()
    time.sleep(3.5)  # OUTBOX_SENDING_TIMEOUT_SECONDS: the row counts as stuck
    tasks.sweep_outbox.delay()
    assert wait_for(lambda: state(notification.pk) == NotificationState.SENT)
    assert smtp.notification_ids() == [notification.pk]
    assert Notification.objects.get(pk=notification.pk).attempts == 2


def test_reminders_run_twice_at_once_send_no_duplicates(worker, smtp, reference, clock):
    import datetime

    from .factories import make_call

    call = make_call()
    for n in range(5):
        city = make_city(f"Thành phố {n}", "VN", verified=True)
        for role in ("lead", "editor"):
            CityMembership.objects.create(
                city=city, user=UserFactory(email=f"{role}{n}@example.org"), role=role
            )
    worker()
    clock.set(call.closes_at - datetime.timedelta(days=6))
    barrier = threading.Barrier(2)
    counts = []

    def beat():
        barrier.wait()
        try:
            counts.append(reminders.deadline_reminders())
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reminders.deadline_reminders()  # and once more, later in the same period
    assert Notification.objects.filter(kind="deadline_reminder").count() == 10
    assert wait_for(lambda: Notification.objects.filter(state=NotificationState.SENT).count() == 10)
    time.sleep(2)
    ids = smtp.notification_ids()
    assert len(ids) == len(set(ids)) == 10


def test_a_mail_server_that_keeps_failing_ends_failed_with_its_error(worker, smtp, reference):
    smtp.mode = "tempfail"
    worker()
    notification = an_event()
    assert wait_for(
        lambda: (
            Notification.objects.get(pk=notification.pk).next_attempt_at is None
            and state(notification.pk) == NotificationState.FAILED
        )
    )
    failed = Notification.objects.get(pk=notification.pk)
    assert failed.attempts == 3
    assert failed.last_error.startswith(
        "SMTPSenderRefused: (451, b'4.3.0 Mailbox temporarily unavailable'"
    )
    assert smtp.attempts == 3 and smtp.accepted == []


def test_a_permanent_refusal_fails_at_once(worker, smtp, reference):
    smtp.mode = "permfail"
    worker()
    notification = an_event()
    assert wait_for(lambda: state(notification.pk) == NotificationState.FAILED)
    time.sleep(1)
    failed = Notification.objects.get(pk=notification.pk)
    assert (failed.attempts, smtp.attempts) == (1, 1)
    assert "550" in failed.last_error


def test_sweeper_alone_finds_nothing_when_all_is_sent(worker, smtp, reference):
    worker()
    notification = an_event()
    assert wait_for(lambda: state(notification.pk) == NotificationState.SENT)
    assert notifications.sweep() == 0
