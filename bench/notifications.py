"""Benchmark: deadline reminders for N cities with M members each, fanned out by the reminder
job and sent by a real Celery worker through Redis to a mail server on loopback.

    make bench-notifications            # 1,000 cities x 3 members, PostgreSQL + Redis
    python -m bench.notifications --cities 200 --members 3 --workers 2

It uses (and empties) the database of BENCH_DATABASE_URL, never the development one.
"""

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", type=int, default=1000)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (prefork)")
    args = parser.parse_args()

    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/smartjamp_bench"
    )
    broker_url = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/13")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "smartjamp.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker_url,
            "OUTBOX_QUEUED_GRACE_SECONDS": "3600",
        }
    )
    _ensure_database(database_url)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from proposals import notifications, reminders
    from proposals.models import Notification, NotificationState
    from smartjamp.celery import app
    from tests.fake_smtp import FakeSMTP

    call_command("migrate", verbosity=0)
    _fill(args.cities, args.members)
    app.control.purge()

    with FakeSMTP() as smtp:
        workers = _start_workers(args.workers, smtp.port)
        try:
            started = time.perf_counter()
            with CaptureQueriesContext(connection) as fan_out_queries:
                count = reminders.deadline_reminders(
                    now=timezone.now() + datetime.timedelta(days=20)
                )
            fanned_out = time.perf_counter() - started
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                done = Notification.objects.filter(state=NotificationState.SENT).count()
                if done >= count:
                    break
                time.sleep(0.2)
            total = time.perf_counter() - started
            failed = Notification.objects.exclude(state=NotificationState.SENT).count()
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(30)
        delivered = len(smtp.accepted)

    # The worker's side, measured on one more notification delivered in this process.
    from django.core import mail

    mail.outbox = []
    probe = Notification.objects.create(
        email="probe@example.org",
        kind="message",
        language="en",
        subject="Probe",
        body_text="Probe",
        dedup_key=f"probe:{time.time()}",
    )
    from django.test import override_settings

    locmem = "django.core.mail.backends.locmem.EmailBackend"
    with (
        override_settings(EMAIL_BACKEND=locmem),
        CaptureQueriesContext(connection) as deliver_queries,
    ):
        notifications.deliver(probe.pk)

    rows = [
        (
            "machine",
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        ),
        ("database / broker", f"{connection.vendor} / Redis"),
        ("cities x members", f"{args.cities} x {args.members}"),
        ("worker processes", str(args.workers)),
        ("notifications created", str(count)),
        ("emails accepted by the mail server", str(delivered)),
        ("not sent", str(failed)),
        ("fan-out time (render + insert + enqueue)", f"{fanned_out:.2f} s"),
        ("fan-out rate", f"{count / fanned_out:.0f} notifications/s"),
        ("fan-out queries per notification", f"{len(fan_out_queries) / max(count, 1):.3f}"),
        ("end to end (job start to last email sent)", f"{total:.2f} s"),
        ("end-to-end rate", f"{count / total:.0f} notifications/s"),
        ("worker queries per notification", str(len(deliver_queries))),
    ]
    table = "| measure | value |\n| --- | --- |\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    print(table)
    out = ROOT / "bench" / "results" / f"notifications-{datetime.date.today().isoformat()}.md"
    out.write_text(
        "# Deadline-reminder fan-out\n\n"
        f"Command: `python -m bench.notifications --cities {args.cities} --members {args.members} "
        f"--workers {args.workers}`\n\n{table}\n"
    )
    print(f"\nWritten to {out.relative_to(ROOT)}")
    if failed or delivered != count:
        sys.exit(1)


def _ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    name = url.rsplit("/", 1)[1]
    server = url.rsplit("/", 1)[0] + "/postgres"
    import psycopg2

    conn = psycopg2.connect(server)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")  # our own database's name
        cursor.execute(f"CREATE DATABASE {name}")
    conn.close()


def _fill(cities: int, members: int) -> None:
    """One open call closing in 10 days, verified cities with leads and editors (bulk)."""
    from django.utils import timezone

    from proposals.models import Call, City, CityMembership, Country, Stage, User

    now = timezone.now()
    call = Call.objects.create(
        title="Benchmark call",
        stage=Stage.FORMATION_SURVEY,
        description="Benchmark",
        opens_at=now - datetime.timedelta(days=5),
        closes_at=now + datetime.timedelta(days=30),
        max_request_jpy=50_000_000,
        envelope_jpy=1_000_000_000,
    )
    countries = list(Country.objects.filter(asean_member=True))
    call.eligible_countries.set(countries)
    City.objects.bulk_create(
        City(
            country=countries[n % len(countries)],
            name=f"Bench city {n}",
            name_key=f"benchcity{n}",
            time_zone=countries[n % len(countries)].time_zone,
            verification_status="verified",
        )
        for n in range(cities)
    )
    users = User.objects.bulk_create(
        User(email=f"member{n}@bench.example", full_name=f"Member {n}", password="!")  # noqa: S106 - unusable
        for n in range(cities * members)
    )
    city_rows = list(City.objects.filter(name__startswith="Bench city").order_by("pk"))
    CityMembership.objects.bulk_create(
        CityMembership(
            city=city_rows[n // members], user=user, role="lead" if n % members == 0 else "editor"
        )
        for n, user in enumerate(users)
    )


def _start_workers(count: int, smtp_port: int) -> list:
    from smartjamp.celery import app

    env = {
        **os.environ,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
    }
    workers = [
        subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "smartjamp",
                "worker",
                "--concurrency=1",
                "--loglevel=WARNING",
                "--without-mingle",
                "--without-gossip",
                "--without-heartbeat",
                "-n",
                f"bench{n}@%h",
            ],
            cwd=ROOT,
            env=env,
        )
        for n in range(count)
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=0.5)) >= count:
            return workers
    raise RuntimeError("workers did not start")


if __name__ == "__main__":
    main()
