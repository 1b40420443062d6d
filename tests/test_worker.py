"""A real Celery worker process, the real Redis and PostgreSQL, and a fake mail server.

Skipped where Redis or PostgreSQL is missing (a bare machine); CI has both and forbids skips.
"""

import collections
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

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
    "OUTBOX_DATA_TIMEOUT_SECONDS": "2",
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


WORKER_APP = "outbox-test-worker"  # the worker's PostgreSQL application_name


def worker_environment(smtp, **overrides):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
            f"?application_name={WORKER_APP}"
        ),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "EMAIL_TIMEOUT": "60",
        **OUTBOX,
        **overrides,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def worker_command(name):
    """The worker as production runs it (deploy/systemd/smartjamp-worker@.service)."""
    from smartjamp.celery import WORKER_ARGUMENTS

    return [sys.executable, "-m", "celery", "-A", "smartjamp", "worker", *WORKER_ARGUMENTS] + [
        "--loglevel=WARNING",
        "-n",
        f"{name}@%h",
    ]


def wait_for_worker(name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(destination=[f"{name}@{os.uname().nodename}"], timeout=0.5):
            return True
    return False


@pytest.fixture
def worker(services_up, smtp):
    """Start a worker; `start()` again after a kill. All are stopped at the end."""
    started = []

    def start(**env):
        process = subprocess.Popen(
            worker_command(f"test{len(started)}"), cwd=ROOT, env=worker_environment(smtp, **env)
        )
        started.append(process)
        if not wait_for_worker(f"test{len(started) - 1}"):
            raise RuntimeError("the worker did not start")
        return process

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


@pytest.fixture
def beat(services_up):
    """The sweeper, as beat runs it but every 0.3 s: `beat.start()` once the scene is set."""
    stop = threading.Event()
    threads = []

    def run():
        try:
            while not stop.wait(0.3):
                notifications.sweep()
        finally:
            connection.close()

    def start():
        threads.append(threading.Thread(target=run, daemon=True))
        threads[-1].start()

    beat.start = start
    yield beat
    stop.set()
    for thread in threads:
        thread.join(10)


def emails_per_key(smtp, notification_ids):
    """{dedup key: emails the mail server accepted} for these notifications."""
    keys = dict(Notification.objects.filter(pk__in=notification_ids).values_list("pk", "dedup_key"))
    counts = collections.Counter(keys[pk] for pk in smtp.notification_ids() if pk in keys)
    return {key: counts[key] for key in keys.values()}


def lost_and_doubled(counts):
    return (
        sorted(key for key, n in counts.items() if n == 0),
        sorted(key for key, n in counts.items() if n > 1),
    )


def queue_many(count, prefix="backlog"):
    """`count` notifications written and handed to Celery, as a fan-out does."""
    ids = []
    for n in range(count):
        row = Notification.objects.create(
            email=f"{prefix}{n}@example.org",
            kind="message",
            language="en",
            subject=f"Message {n}",
            body_text="Body",
            dedup_key=f"{prefix}:{n}",
        )
        ids.append(row.pk)
    for pk in ids:
        notifications.enqueue(pk)
    return ids


def terminate_worker_connections():
    """What a database failover or an idle-connection killer does to the worker's session."""
    import psycopg2

    db = connection.settings_dict
    with (
        psycopg2.connect(
            dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"]
        ) as admin,
        admin.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [WORKER_APP],
        )


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
    for n in range(20):  # enough work that the two runs overlap
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
    # Each run hands Celery only the rows it created itself.
    assert sorted(counts) == [0, 40]
    assert reminders.deadline_reminders() == 0  # and once more, later in the same period
    assert Notification.objects.filter(kind="deadline_reminder").count() == 40
    assert wait_for(lambda: Notification.objects.filter(state=NotificationState.SENT).count() == 40)
    time.sleep(2)
    ids = smtp.notification_ids()
    assert len(ids) == len(set(ids)) == 40


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


# The outbox under faults (issue 14, items 11-16), counting emails per de-duplication key.


def test_a_backlog_through_a_mail_server_outage_is_sent_once_each_never_early(
    worker, smtp, beat, settings
):
    """Four attempts 0.5, 1 and 2 s apart at least outlast a 2.5 s outage: none may fail."""
    settings.OUTBOX_MAX_ATTEMPTS = 4
    worker(OUTBOX_MAX_ATTEMPTS="4", OUTBOX_RETRY_BASE_SECONDS="0.5")
    smtp.tempfail_until = time.monotonic() + 2.5
    ids = queue_many(40)
    beat.start()
    assert wait_for(
        lambda: (
            Notification.objects.filter(pk__in=ids, state=NotificationState.SENT).count()
            + Notification.objects.filter(
                pk__in=ids, state=NotificationState.FAILED, next_attempt_at=None
            ).count()
            == len(ids)
        ),
        timeout=40,
    )
    time.sleep(1)
    counts = emails_per_key(smtp, ids)
    assert lost_and_doubled(counts) == ([], [])
    early = []
    for address, times in smtp.attempts_by_address().items():
        for attempt, (before, after) in enumerate(zip(times, times[1:], strict=False), start=1):
            if after - before < 0.5 * 2 ** (attempt - 1) - 0.05:
                early.append((address, attempt, round(after - before, 2)))
    assert early == []


def test_a_dropped_database_connection_after_the_server_accepted_sends_once(
    worker, smtp, beat, reference
):
    worker()
    smtp.on_accept = terminate_worker_connections
    ids = queue_many(5)
    beat.start()
    assert wait_for(
        lambda: Notification.objects.filter(pk__in=ids, state=NotificationState.SENT).count() == 5,
        timeout=20,
    )
    time.sleep(4)  # past OUTBOX_SENDING_TIMEOUT_SECONDS: a row left in sending would go again
    assert lost_and_doubled(emails_per_key(smtp, ids)) == ([], [])


def test_a_slow_reply_to_the_end_of_data_sends_once(worker, smtp, beat, reference):
    worker(EMAIL_TIMEOUT="1")
    smtp.reply_delay = 1.5  # later than EMAIL_TIMEOUT, within OUTBOX_DATA_TIMEOUT_SECONDS
    slow = queue_many(1, prefix="slow")
    assert wait_for(lambda: state(slow[0]) == NotificationState.SENT, timeout=15)
    smtp.reply_delay = 4  # no reply within the wait: the outcome is unknown
    silent = queue_many(1, prefix="silent")
    assert wait_for(lambda: state(silent[0]) == "unknown", timeout=15)
    beat.start()
    time.sleep(4)  # neither a retry nor the sweeper sends it again
    assert state(silent[0]) == "unknown"
    assert lost_and_doubled(emails_per_key(smtp, slow + silent)) == ([], [])


def test_a_worker_killed_while_quit_is_answered_sends_once(worker, smtp, beat, reference):
    smtp.quit_delay = 10
    first = worker()
    ids = queue_many(1)
    assert smtp.quitting.wait(15)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    smtp.quit_delay = 0
    worker()
    beat.start()
    time.sleep(4)  # past OUTBOX_SENDING_TIMEOUT_SECONDS
    assert state(ids[0]) == NotificationState.SENT
    assert lost_and_doubled(emails_per_key(smtp, ids)) == ([], [])


def test_the_production_units_restart_always_and_run_the_tested_worker_flags():
    from smartjamp.celery import WORKER_ARGUMENTS

    units = {path.name: path.read_text() for path in (ROOT / "deploy" / "systemd").glob("*")}
    assert sorted(units) == [
        "smartjamp-beat.service",
        "smartjamp-web.service",
        "smartjamp-worker@.service",
    ]
    for text in units.values():
        lines = text.splitlines()
        assert "Restart=always" in lines and "StartLimitIntervalSec=0" in lines
    (start,) = [
        line
        for line in units["smartjamp-worker@.service"].splitlines()
        if line.startswith("ExecStart=")
    ]
    arguments = shlex.split(start.removeprefix("ExecStart="))
    assert arguments[1:4] == ["-A", "smartjamp", "worker"]
    assert arguments[4 : 4 + len(WORKER_ARGUMENTS)] == WORKER_ARGUMENTS


class BrokerLink:
    """The network between a worker and Redis, which the test can cut and mend."""

    def __init__(self, port):
        self.target = port
        self.up = True
        self.pairs = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            if not self.up:
                client.close()  # the broker is unreachable
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def cut(self):
        self.up = False
        for pair in self.pairs:
            for end in pair:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
        self.pairs = []

    def mend(self):
        self.up = True

    def close(self):
        self.closed = True
        self.cut()
        self.listener.close()


@pytest.fixture
def supervised(services_up, smtp):
    """A worker as systemd runs it (Restart=always, RestartSec), its broker behind a BrokerLink."""
    broker = urlsplit(os.environ["CELERY_BROKER_URL"])
    link = BrokerLink(broker.port or 6379)
    env = worker_environment(
        smtp, CELERY_BROKER_URL=f"redis://127.0.0.1:{link.port}{broker.path or '/0'}"
    )
    stop = threading.Event()
    runs = []

    def supervise():
        while not stop.is_set():
            process = subprocess.Popen(worker_command("supervised"), cwd=ROOT, env=env)
            runs.append(process)
            while process.poll() is None and not stop.is_set():
                time.sleep(0.1)
            if process.poll() is None:
                process.terminate()
                process.wait(10)
            stop.wait(1)  # RestartSec

    thread = threading.Thread(target=supervise, daemon=True)
    thread.start()
    assert wait_for_worker("supervised")
    yield link, runs
    stop.set()
    thread.join(20)
    link.close()


def test_a_supervised_worker_outlives_a_broker_outage_and_its_own_death(supervised, smtp, beat):
    link, runs = supervised
    first = queue_many(1, prefix="before")
    assert wait_for(lambda: state(first[0]) == NotificationState.SENT, timeout=15)
    link.cut()
    during = queue_many(1, prefix="during")  # the portal still reaches the broker
    time.sleep(3)
    link.mend()
    assert wait_for(lambda: state(during[0]) == NotificationState.SENT, timeout=30)
    runs[-1].send_signal(signal.SIGKILL)  # the worker's main process dies
    # A task in flight when it died comes back through the sweeper, as beat runs it.
    beat.start()
    after = queue_many(1, prefix="after")
    assert wait_for(lambda: state(after[0]) == NotificationState.SENT, timeout=30)
    assert len(runs) >= 2
    assert lost_and_doubled(emails_per_key(smtp, first + during + after)) == ([], [])
