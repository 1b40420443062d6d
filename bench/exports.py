"""Benchmark: the CSV export of N proposals, streamed by the staff view.

    make bench-exports                     # 100,000 proposals on PostgreSQL
    python -m bench.exports --rows 20000

Reports rows per second, the time to the first byte, the number of queries and how much the
process's peak memory grew while the export ran. Uses (and empties) BENCH_DATABASE_URL.
"""

import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup(database_url: str) -> None:
    os.environ.update(
        {"DJANGO_SETTINGS_MODULE": "smartjamp.settings", "DATABASE_URL": database_url}
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def generate(rows: int) -> None:
    from django.core.management import call_command
    from django.utils import timezone

    from proposals.models import (
        Call,
        City,
        Country,
        FocusArea,
        Proposal,
        Sector,
        Stage,
        User,
    )
    from smartjamp.management.commands.generate_load_data import add_tags_and_partners

    call_command("migrate", verbosity=0)
    now = timezone.now()
    call = Call.objects.create(
        title="Benchmark call",
        stage=Stage.FORMATION_SURVEY,
        description="Benchmark",
        opens_at=now - datetime.timedelta(days=60),
        closes_at=now - datetime.timedelta(days=1),
        max_request_jpy=50_000_000,
        envelope_jpy=10**12,
    )
    countries = list(Country.objects.filter(asean_member=True))
    City.objects.bulk_create(
        City(
            country=countries[n % len(countries)],
            name=f"Bench city {n}",
            name_key=f"benchcity{n}",
            time_zone="Asia/Bangkok",
            verification_status="verified",
        )
        for n in range(200)
    )
    cities = list(City.objects.filter(name__startswith="Bench city"))
    User.objects.create_user(
        "bench.staff@example.org", "bench-password", is_staff=True, is_superuser=True
    )
    areas, sectors = list(FocusArea.objects.all()), list(Sector.objects.all())
    statuses = ["submitted", "screening", "under_review", "approved", "rejected"]
    batch = 5000
    for start in range(0, rows, batch):
        created = Proposal.objects.bulk_create(
            Proposal(
                call=call,
                city=cities[n % len(cities)],
                title=f"Proposal n°{n} — Thành phố {n % 97}",
                reference_code=f"SJ-2026-XX-{n:07d}",
                status=statuses[n % len(statuses)],
                submitted_at=now - datetime.timedelta(minutes=n),
                requested_jpy=1_000_000 + n,
                approved_jpy=500_000 if n % 5 == 3 else None,
            )
            for n in range(start, min(start + batch, rows))
        )
        add_tags_and_partners(created, areas, sectors)


def measure() -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from proposals.models import User

    client = Client()
    client.force_login(User.objects.get(email="bench.staff@example.org"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    first_byte = None
    size = 0
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/staff/exports/proposals.csv")
        for chunk in response.streaming_content:
            if first_byte is None:
                first_byte = time.perf_counter() - started
            size += len(chunk)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": elapsed,
        "first_byte": first_byte,
        "bytes": size,
        "queries": len(queries),
        "peak_growth_mb": (after - before) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/smartjamp_bench"
    )
    if args.measure_only:
        setup(database_url)
        result = measure()
        print(repr(result))
        return
    from bench.notifications import _ensure_database

    _ensure_database(database_url)
    setup(database_url)
    started = time.perf_counter()
    generate(args.rows)
    generated = time.perf_counter() - started
    # Measure in a fresh process, so that generating the data does not count in its memory.
    output = (
        subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
            [sys.executable, "-m", "bench.exports", "--rows", str(args.rows), "--measure-only"],
            cwd=ROOT,
            env={**os.environ, "BENCH_DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    result = eval(output, {})  # noqa: S307 - our own repr() of a dict of numbers
    from django.db import connection

    rows = [
        (
            "machine",
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        ),
        ("database", connection.vendor),
        ("proposals", f"{args.rows:,} (generated in {generated:.1f} s)"),
        ("CSV size", f"{result['bytes'] / 1e6:.1f} MB"),
        ("time to first byte", f"{result['first_byte'] * 1000:.0f} ms"),
        ("total time", f"{result['seconds']:.2f} s"),
        ("rows per second", f"{args.rows / result['seconds']:,.0f}"),
        ("queries (session, user, permissions, export)", str(result["queries"])),
        ("peak memory growth of the process", f"{result['peak_growth_mb']:.1f} MB"),
    ]
    table = "| measure | value |\n| --- | --- |\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    print(table)
    out = ROOT / "bench" / "results" / f"exports-{datetime.date.today().isoformat()}.md"
    out.write_text(
        f"# CSV export of proposals\n\nCommand: `python -m bench.exports --rows {args.rows}`\n\n{table}\n"
    )
    print(f"\nWritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
