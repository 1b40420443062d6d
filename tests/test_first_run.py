"""The first run (issue 18, item 10): `make run PORT=8101` sends links to port 8101, starts
quietly with the address and the demo accounts last, stops cleanly on Ctrl-C or SIGTERM
leaving no process behind, and the demo data is coherent (each proposal its own texts, each
file named for what it is)."""

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from smartjamp.management.commands.run_portal import accounts_table, site_url_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("addrport", "environ", "expected"),
    [
        ("127.0.0.1:8101", {}, "http://127.0.0.1:8101"),
        ("8101", {}, "http://127.0.0.1:8101"),
        ("0.0.0.0:8101", {}, "http://127.0.0.1:8101"),  # every interface: this machine
        ("localhost:8101", {"SITE_URL": ""}, "http://localhost:8101"),  # empty: not set
        ("[::1]:8101", {}, "http://[::1]:8101"),
        ("127.0.0.1:8101", {"SITE_URL": "https://demo.example"}, "https://demo.example"),
    ],
)
def test_links_in_emails_follow_the_port_unless_site_url_is_set(addrport, environ, expected):
    assert site_url_for(addrport, environ) == expected


def test_make_run_hands_host_and_port_to_the_supervisor():
    recipe = subprocess.run(
        ["make", "-n", "run", "PORT=8101"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "manage.py run_portal --demo 127.0.0.1:8101" in recipe
    assert "8000" not in recipe


def test_the_banner_lists_every_demo_account_with_its_password_and_second_factor():
    from proposals.management.commands.seed_demo import ACCOUNTS, DEMO_PASSWORD

    table = accounts_table().splitlines()
    assert table[1].split() == ["role", "email", "password", "second", "factor"]
    assert len(table) == 2 + len(ACCOUNTS) + 1
    for role, email, _name, _position, _zone, is_staff, _group in ACCOUNTS:
        (line,) = [line for line in table[2:-1] if f" {email} " in line]
        assert line.strip().startswith(role) and DEMO_PASSWORD in line
        assert ("authenticator app" in line) is is_staff
    assert "SMARTJAMPDEMOTOTPSECRETXYZ234567" in table[-1] and "demo_totp" in table[-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def portal_env(var_dir: Path) -> dict:
    env = {**os.environ, "VAR_DIR": str(var_dir), "DEBUG": "1"}
    # The embedded defaults of `make run`, and no SITE_URL: it must follow the port.
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "SITE_URL", "EMAIL_BACKEND"):
        env.pop(name, None)
    return env


def start_portal(arguments: list[str], env: dict) -> subprocess.Popen:
    # In a session of its own, as a terminal's foreground job is, with Ctrl-C's default
    # action (a job started in the background inherits SIGINT ignored).
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_portal", *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def read_until(stream, marker: str, deadline: float) -> str:
    seen = ""
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen += line
        if marker in line:
            break
    return seen


def process_groups() -> dict[int, tuple[int, str]]:
    """pid: (process group, state) of every process on the machine."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        table[int(stat.parent.name)] = (int(fields[2]), fields[0])
    return table


def living(groups: set[int]) -> list[int]:
    return [
        pid for pid, (group, state) in process_groups().items() if group in groups and state != "Z"
    ]


def test_make_run_starts_quietly_sends_links_to_its_port_and_stops_cleanly(tmp_path):
    port = free_port()
    portal = start_portal(["--demo", f"127.0.0.1:{port}"], portal_env(tmp_path))
    groups: set[int] = set()
    try:
        deadline = time.monotonic() + 180  # generous: the suite may share the machine
        out = read_until(portal.stdout, "Portal on", deadline)
        assert f"Portal on http://127.0.0.1:{port}/" in out, out
        # The web server, the worker and beat each in a process group of their own.
        groups = {pid for pid, (group, _state) in process_groups().items() if group == pid}
        groups &= {
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-P", str(portal.pid)], capture_output=True, text=True
            ).stdout.split()
        }
        assert len(groups) == 2
        # Quiet: no Celery banner nor routine log line, the address and accounts last.
        assert "celery@" not in out and "[tasks]" not in out and "INFO" not in out
        lines = out.strip().splitlines()
        assert len(lines) <= 15
        assert "Portal on" in lines[-1] and "Ctrl-C" in lines[-1]
        assert "lead.danang@example.org" in out and "smartjamp-demo" in out
        assert f"links to http://127.0.0.1:{port}" in out
        # The emails the demo queued point to this port (none to 8000).
        mail = tmp_path / "mail"
        while time.monotonic() < deadline and len(list(mail.glob("*"))) < 5:
            time.sleep(0.5)
        bodies = [path.read_text(errors="replace") for path in mail.glob("*")]
        assert len(bodies) >= 5
        assert all(":8000" not in body for body in bodies)
        assert all(f"http://127.0.0.1:{port}/" in body for body in bodies)
    finally:
        os.killpg(portal.pid, signal.SIGINT)  # Ctrl-C: the terminal's foreground group
        out, err = portal.communicate(timeout=60)
    assert portal.returncode == 0, err
    assert "Stopped the web server, the worker and beat." in out
    assert err == "", err
    logs = {path.name: path.read_text() for path in (tmp_path / "log").glob("*.log")}
    assert set(logs) == {"web.log", "worker.log"}
    for name, log in logs.items():
        assert "ERROR" not in log and "Traceback" not in log, (name, log[-2000:])
    assert "celery@" in logs["worker.log"]  # the banner went there, not to the terminal
    assert living(groups) == []


def test_sigterm_stops_everything_without_an_error(tmp_path):
    env = portal_env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    port = free_port()
    portal = start_portal([f"127.0.0.1:{port}"], env)
    try:
        out = read_until(portal.stdout, "Portal on", time.monotonic() + 120)
        assert "Portal on" in out and "Demo accounts" not in out  # no --demo, no accounts
        children = subprocess.run(
            ["pgrep", "-P", str(portal.pid)], capture_output=True, text=True
        ).stdout.split()
        groups = {int(pid) for pid in children}
        time.sleep(2)  # the worker connected and beat started
    finally:
        portal.send_signal(signal.SIGTERM)
        out, err = portal.communicate(timeout=60)
    assert portal.returncode == 0 and err == "", err
    for path in (tmp_path / "log").glob("*.log"):
        assert "ERROR" not in path.read_text(), path.name
    assert living(groups) == []


def test_a_dead_worker_is_started_again_without_its_former_beat(tmp_path):
    env = portal_env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    portal = start_portal([f"127.0.0.1:{free_port()}"], env)

    def worker() -> int | None:
        for pid in subprocess.run(
            ["pgrep", "-P", str(portal.pid), "-f", "celery"], capture_output=True, text=True
        ).stdout.split():
            return int(pid)
        return None

    try:
        deadline = time.monotonic() + 120
        read_until(portal.stdout, "Portal on", deadline)
        first = worker()
        while time.monotonic() < deadline and len(living({first})) < 2:
            time.sleep(0.2)  # the worker and the beat it embeds
        assert len(living({first})) == 2
        os.kill(first, signal.SIGKILL)
        while time.monotonic() < deadline and worker() in (None, first):
            time.sleep(0.2)
        assert worker() not in (None, first)
        assert living({first}) == []  # its beat went with it: never two beats
    finally:
        portal.send_signal(signal.SIGTERM)
        _out, err = portal.communicate(timeout=60)
    assert "The worker stopped; starting it again." in err


def test_a_web_server_that_cannot_start_is_reported_and_stops_the_worker(tmp_path):
    env = portal_env(tmp_path)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        portal = start_portal([f"127.0.0.1:{port}"], env)
        out, err = portal.communicate(timeout=120)
    assert portal.returncode == 1
    assert "Portal on" not in out
    assert "The web server did not start" in err and "already in use" in err


@pytest.mark.django_db
def test_each_demo_proposal_has_its_own_texts_and_files_named_for_what_they_are(
    reference_data, private_files
):
    from proposals.management.commands.seed_demo import REVIEW_ROUND
    from proposals.models import Attachment, Call, DeliverableVersion, Proposal

    call_command("seed_demo", stdout=io.StringIO())
    assert Call.objects.filter(title=REVIEW_ROUND).count() == 1
    proposals = Proposal.objects.select_related("city")
    texts = {(p.summary, p.problem, p.solution) for p in proposals}
    assert len(texts) == proposals.count() == 9
    night_market = proposals.get(title="Night market lighting")
    assert night_market.city.name == "Da Nang"
    written = " ".join(
        [night_market.summary, night_market.problem, night_market.solution, night_market.outcomes]
    ).lower()
    assert "light" in written and "fare" not in written and "bus" not in written
    assert not [
        title for title in Call.objects.values_list("title", flat=True) if "review" in title
    ]
    names = {(kind, name) for kind, name in Attachment.objects.values_list("kind", "name")}
    assert names == {
        ("concept_note", "concept-note.pdf"),
        ("map", "map.pdf"),
        ("budget", "budget.pdf"),
    }
    assert Attachment.objects.filter(kind="concept_note").count() == 8  # all but the draft
    assert set(DeliverableVersion.objects.values_list("name", flat=True)) == {
        "inception-report.pdf",
        "interim-report.pdf",
        "draft-final-report.pdf",
        "final-report.pdf",
    }


@pytest.mark.django_db
def test_a_round_seeded_under_its_former_title_is_renamed_not_seeded_twice(
    reference_data, private_files
):
    from proposals.management.commands.seed_demo import FORMER_REVIEW_ROUND, REVIEW_ROUND
    from proposals.models import Call

    call_command("seed_demo", stdout=io.StringIO())
    Call.objects.filter(title=REVIEW_ROUND).update(title=FORMER_REVIEW_ROUND)
    calls = Call.objects.count()
    quiet = io.StringIO()
    call_command("seed_demo", stdout=quiet, verbosity=0)
    assert Call.objects.count() == calls
    assert not Call.objects.filter(title=FORMER_REVIEW_ROUND).exists()
    assert quiet.getvalue() == ""  # -v0, as `make run` calls it
