"""The portal's benchmark: key pages under load, as ratios to a reference view.

    make bench                                   # SQLite, 20,000 proposals
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/smartjamp_bench make bench

Generates the data into a fresh database, starts gunicorn with production settings (DEBUG off,
2 workers) on loopback, signs the personas in, and loads each page with wrk (16 connections).
Results go to bench/results/<date>.md (<date>-postgresql.md on PostgreSQL) and are printed
as one table.
"""

import argparse
import datetime
import http.cookiejar
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PORT = 8766
BASE = f"http://127.0.0.1:{PORT}"
PASSWORD = "smartjamp-demo"


def env_for(database_url: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smartjamp.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-secret-key-not-for-production-0123456789abcdefghijklmnop",
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "HTTPS": "0",
        "BENCHMARK_VIEWS": "1",
        "STATIC_ROOT": str(VAR / "bench-static"),
        "PRIVATE_MEDIA_ROOT": str(VAR / "bench-private"),
        "CELERY_BROKER_URL": os.environ.get(
            "CELERY_BROKER_URL", f"embedded+sqlite:///{VAR / 'bench-broker.sqlite3'}"
        ),
        "RATE_LIMIT_LOGIN_FAILED": "1000/m/ip",
        "DATABASE_CONN_MAX_AGE": "60",
        "LOG_LEVEL": "WARNING",
    }


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def fresh_database(url: str) -> None:
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    else:
        from bench.notifications import _ensure_database

        _ensure_database(url)


USED_CODES = set()


def fresh_code(email: str) -> str:
    """The demo authenticator's current code, waiting for the next one if this account has
    used it already (allauth accepts a TOTP code once)."""
    from proposals.management.commands.seed_demo import demo_totp_code

    while (email, code := demo_totp_code()) in USED_CODES:
        time.sleep(1)
    USED_CODES.add((email, code))
    return code


def sign_in(email: str) -> str:
    """The session cookie of `email`, signed in through the login form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{BASE}/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "login": email, "password": PASSWORD}
    ).encode()
    response = opener.open(
        urllib.request.Request(
            f"{BASE}/accounts/login/", data=data, headers={"Referer": f"{BASE}/accounts/login/"}
        )
    )
    if "/accounts/2fa/authenticate/" in response.geturl():
        # Admin accounts: the second factor (the demo's authenticator, seed_demo).
        page = response.read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
        url = response.geturl()
        data = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token, "code": fresh_code(email)}
        ).encode()
        opener.open(urllib.request.Request(url, data=data, headers={"Referer": url}))
    cookies = {cookie.name: cookie.value for cookie in jar}
    if "sessionid" not in cookies:
        raise RuntimeError(f"could not sign in as {email}")
    return f"sessionid={cookies['sessionid']}; csrftoken={cookies.get('csrftoken', '')}"


def worker_peak_mb(master: int) -> float:
    peaks = []
    for child in Path("/proc").glob("[0-9]*"):
        try:
            status = (child / "status").read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{master}$", status, re.M):
            peaks.append(int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)[1]) / 1024)
    return max(peaks, default=0.0)


def to_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def wrk(url: str, cookie: str | None, seconds: int) -> dict:
    command = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
        "p50": to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1]),
        "p99": to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1]),
        "errors": int(errors[1]) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--proposals", type=int, default=20000)
    parser.add_argument("--cities", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the last run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    VAR.mkdir(exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR / 'bench.sqlite3'}"
    env = env_for(database_url)
    if not args.reuse:
        fresh_database(database_url)
    manage(env, "migrate", "-v0")
    if not args.reuse:
        manage(env, "seed_demo")
        manage(
            env,
            "generate_load_data",
            "--cities",
            str(args.cities),
            "--proposals",
            str(args.proposals),
        )
    manage(env, "collectstatic", "--noinput", "-v0")

    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from proposals import reports
    from proposals.models import Call, Project, Proposal, ReviewAssignment, User

    open_call = (
        Call.objects.filter(closes_at__gt=django.utils.timezone.now()).order_by("closes_at").first()
    )
    lead = User.objects.get(email="lead.danang@example.org")
    proposal = Proposal.objects.filter(city__memberships__user=lead).exclude(status="draft").first()
    reviewer = User.objects.get(email="reviewer1@example.org")
    assignment = ReviewAssignment.objects.filter(reviewer=reviewer, state="submitted").first()
    published = Project.objects.published().order_by("pk").first()
    pages = [
        ("reference (50-row table from memory)", "/bench/reference/", None, "portal"),
        ("home", "/", None, "portal"),
        ("call list", "/calls/", "lead.danang@example.org", "portal"),
        ("call page", f"/calls/{open_call.code}/", "lead.danang@example.org", "portal"),
        ("My proposals", "/proposals/", "lead.danang@example.org", "portal"),
        ("a proposal page", f"/proposals/{proposal.code}/", "lead.danang@example.org", "portal"),
        ("staff dashboard", "/staff/", "staff@example.org", "portal"),
        ("staff portfolio", "/staff/portfolio/", "staff@example.org", "portal"),
        ("public projects (anonymous)", "/projects/", None, "portal"),
        ("a public project page (anonymous)", f"/projects/{published.code}/", None, "portal"),
        ("admin: proposals (staff)", "/admin/proposals/proposal/", "staff@example.org", "admin"),
        (
            "admin: assignments (staff)",
            "/admin/proposals/reviewassignment/",
            "staff@example.org",
            "admin",
        ),
        (
            "admin: My assignments (reviewer)",
            "/admin/proposals/reviewassignment/",
            "reviewer1@example.org",
            "admin",
        ),
        (
            "admin: a review (reviewer)",
            f"/admin/proposals/reviewassignment/{assignment.pk}/review/",
            "reviewer1@example.org",
            "admin",
        ),
    ]

    # Queries per page, counted in this process with the same settings and data.
    queries = {}
    clients = {}
    for name, path, email, _kind in pages:
        if email not in clients:
            clients[email] = client = Client()
            if email:
                # Through the login, with the second factor of admin accounts, as a person
                # would.
                client.post("/accounts/login/", {"login": email, "password": PASSWORD})
                if "_auth_user_id" not in client.session:
                    client.post("/accounts/2fa/authenticate/", {"code": fresh_code(email)})
        client = clients[email]
        client.get(path)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)
        assert response.status_code == 200, (path, response.status_code)
        queries[name] = len(captured.captured_queries)

    server = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "gunicorn",
            "smartjamp.wsgi",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{PORT}",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{BASE}/bench/reference/")
                break
            except OSError:
                time.sleep(0.2)
        cookies = {email: sign_in(email) for email in {p[2] for p in pages if p[2]}}
        results = []
        # Each page is measured right after a run of the reference, and its ratio is taken to
        # that run: on a shared machine the speed drifts by ±15% over a few minutes, which a
        # single reference run at the start would put into every ratio.
        reference_path = pages[0][1]
        for name, path, email, kind in pages:
            if name == pages[0][0]:
                wrk(BASE + path, None, 2)  # warm up
                measured = wrk(BASE + path, None, args.seconds)
                results.append((name, kind, measured, worker_peak_mb(server.pid), measured))
                continue
            before = wrk(BASE + reference_path, None, max(2, args.seconds // 2))
            wrk(BASE + path, cookies.get(email), 2)  # warm up
            measured = wrk(BASE + path, cookies.get(email), args.seconds)
            results.append((name, kind, measured, worker_peak_mb(server.pid), before))
        # The CSV export of every proposal, through a worker: after the last page's load has
        # drained from the workers' queues (wrk stops sending, the workers do not stop at
        # once), three times, the best run reported (the memory growth is over all three).
        time.sleep(3)
        before = worker_peak_mb(server.pid)
        runs = []
        for _ in range(3):
            request = urllib.request.Request(
                f"{BASE}/staff/exports/proposals.csv",
                headers={"Cookie": cookies["staff@example.org"]},
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request) as response:
                first = response.read(1)
                first_byte = time.perf_counter() - started
                size = len(first) + sum(
                    len(chunk) for chunk in iter(lambda: response.read(65536), b"")
                )
            runs.append((time.perf_counter() - started, first_byte, size))
        csv_seconds, first_byte, size = min(runs)
        csv_growth = worker_peak_mb(server.pid) - before
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)

    rows_count = Proposal.objects.count()
    with CaptureQueriesContext(connection) as csv_queries:
        for _row in reports.proposal_rows(Proposal.objects.all(), reports.COLUMNS):
            pass
    import tempfile

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with tempfile.TemporaryFile() as target:
        reports.write_xlsx(
            target,
            [c.label for c in reports.COLUMNS],
            reports.proposal_rows(Proposal.objects.all(), reports.COLUMNS),
        )
    xlsx_seconds = time.perf_counter() - started
    xlsx_peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024

    lines = [
        "| page | requests/s | reference just before, req/s | ratio to it | p50 ms | p99 ms | SQL queries | worker peak MB | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, kind, m, peak, reference_run in results:
        ratio = m["rps"] / reference_run["rps"]
        target = 0.5 if kind == "portal" else 0.15
        mark = (
            ""
            if name.startswith("reference")
            else (
                " ✓" if ratio >= target and m["p99"] < (250 if kind == "portal" else 500) else " ✗"
            )
        )
        lines.append(
            f"| {name} | {m['rps']:.0f} | {reference_run['rps']:.0f} | {ratio:.0%}{mark} | {m['p50']:.1f} | {m['p99']:.1f} | {queries[name]} | {peak:.0f} | {m['errors']} |"
        )
    lines += [
        "",
        "| export | rows | seconds | rows/s | first byte | SQL queries | memory |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| CSV through gunicorn | {rows_count:,} | {csv_seconds:.2f} | {rows_count / csv_seconds:,.0f} | {first_byte * 1000:.0f} ms | {len(csv_queries)} (rows) + 3 | worker peak +{csv_growth:.1f} MB ({size / 1e6:.1f} MB sent) |",
        f"| Excel (write-only, in a worker process) | {rows_count:,} | {xlsx_seconds:.2f} | {rows_count / xlsx_seconds:,.0f} | — | {len(csv_queries)} | process peak +{xlsx_peak:.1f} MB |",
    ]
    table = "\n".join(lines)
    cache = "Redis cache" if os.environ.get("REDIS_URL") else "database cache"
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{connection.vendor}, {cache}"
    )
    text = (
        f"# Benchmark, {datetime.date.today().isoformat()}\n\nMachine: {machine}. Data: "
        f"{args.cities:,} cities, {rows_count:,} proposals, {Project.objects.count():,} projects. gunicorn, 2 sync workers, DEBUG off; "
        f"wrk, 2 threads, 16 connections, {args.seconds} s per page. Targets: portal pages "
        f"≥ 50% of the reference and p99 < 250 ms; admin ≥ 15% and p99 < 500 ms.\n\n{table}\n"
    )
    print(text)
    # One file per day and database: bench/results/<date>.md (SQLite), <date>-postgresql.md.
    suffix = "" if connection.vendor == "sqlite" else f"-{connection.vendor}"
    out = ROOT / "bench" / "results" / f"{datetime.date.today().isoformat()}{suffix}.md"
    out.write_text(text)
    print(f"Written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
