import os
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command

from proposals.models import City, CityMembership, User

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_accounts_once(reference_data, capsys):
    call_command("seed_demo")
    counts = (User.objects.count(), CityMembership.objects.count(), EmailAddress.objects.count())
    call_command("seed_demo")
    assert (User.objects.count(), CityMembership.objects.count(), EmailAddress.objects.count()) == (
        counts
    )
    assert counts == (7, 3, 7)
    assert "0 new objects" in capsys.readouterr().out.splitlines()[-1]
    # Da Nang's approved proposal is a project in its survey: kick-off held, inception report
    # accepted, interim report due; one of Cebu City's is in the promotion of investment.
    from proposals.fiscal import jst_today
    from proposals.models import Project

    danang_project, cebu_project = Project.objects.order_by("proposal__city__name").reverse()
    assert danang_project.proposal.city.name == "Da Nang"
    assert [u.email for u in danang_project.consultants.all()] == ["consultant@example.org"]
    assert (danang_project.stage, danang_project.kickoff.place) == (
        "formation_survey",
        "Da Nang City People's Committee",
    )
    assert danang_project.deliverables.get(kind="inception").state == "accepted"
    interim = danang_project.deliverables.get(kind="interim")
    assert interim.state == "planned" and interim.due_on > jst_today()
    assert cebu_project.stage == "investment"
    assert set(Project.objects.published()) == {danang_project, cebu_project}
    assert sorted(cebu_project.financing_tracks.values_list("kind", "status")) == [
        ("jica_loan", "referred"),
        ("join_equity", "under_appraisal"),
    ]
    # Three desk requests, one of them overdue.
    from proposals.models import DeskRequest
    from proposals.services.desk import is_overdue

    requests = DeskRequest.objects.all()
    assert sorted(r.state for r in requests) == ["answered", "open", "open"]
    assert [r.city.name for r in requests if is_overdue(r)] == ["Cebu City"]

    lead = User.objects.get(email="lead.danang@example.org")
    assert lead.check_password("smartjamp-demo")
    danang = City.objects.get(name="Da Nang")
    assert danang.verification_status == "verified"
    assert sorted(danang.memberships.values_list("user__email", "role")) == [
        ("editor.danang@example.org", "editor"),
        ("lead.danang@example.org", "lead"),
    ]
    assert City.objects.get(name="Cebu City").memberships.get().user.email == (
        "lead.cebu@example.org"
    )
    staff = User.objects.get(email="staff@example.org")
    assert staff.has_perm("proposals.verify_city")
    reviewer = User.objects.get(email="reviewer1@example.org")
    assert (reviewer.is_staff, reviewer.has_perm("proposals.view_city")) == (True, False)


def test_check_deploy_with_production_settings_is_clean(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "0",
        "SECRET_KEY": "a-long-random-production-secret-" + "x" * 40,
        "ALLOWED_HOSTS": "smartjamp.example",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (
        0,
        "System check identified no issues (0 silenced).",
    ), result.stderr


def test_settings_refuse_to_start_without_a_secret_in_production():
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": "", "ALLOWED_HOSTS": "smartjamp.example"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "The environment variable SECRET_KEY is required." in result.stderr


def test_settings_refuse_debug_with_public_hosts():
    env = {**os.environ, "DEBUG": "1", "ALLOWED_HOSTS": "smartjamp.example"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "DEBUG is on but ALLOWED_HOSTS names public hosts: set DEBUG=0." in result.stderr


@pytest.mark.django_db
def test_generate_load_data_fills_every_status_and_retires_cached_pages(
    reference_data, client, private_files, capsys
):
    from django.urls import reverse

    from proposals.models import Attachment, Country, Proposal, Review, Status

    call_command("seed_demo")
    before = client.get(reverse("call_list")).content  # cached from here on
    public_before = client.get(reverse("public_projects")).content
    call_command(
        "generate_load_data", cities=12, proposals=120, reviews_per_proposal=2, reviewers=4
    )
    assert Proposal.objects.filter(city__registered_at__isnull=False).count() >= 120
    assert set(Proposal.objects.values_list("status", flat=True)) == set(Status.values)
    assert Review.objects.exists() and Attachment.objects.exists()
    # Every approved proposal is a project, with its plan of four deliverables (issue 16).
    from proposals.models import Deliverable, Project

    approved = Proposal.objects.filter(status=Status.APPROVED)
    assert Project.objects.count() == approved.count() > 0
    assert Deliverable.objects.count() == 4 * approved.count()
    # Projects are spread over the stages, with financing tracks and desk requests.
    from proposals.models import DeskRequest, FinancingTrack

    assert {"formation_survey", "investment"} <= set(
        Project.objects.values_list("stage", flat=True)
    )
    assert FinancingTrack.objects.exists() and Project.objects.filter(published=True).exists()
    assert client.get(reverse("public_projects")).content != public_before  # not the cached one
    assert set(DeskRequest.objects.values_list("state", flat=True)) == {
        "open",
        "answered",
        "closed",
    }
    # Each review's stored weighted score is that of its generated scores.
    from proposals.scoring import refresh_weighted_scores

    assert not Review.objects.filter(weighted_score__isnull=True).exists()
    assert refresh_weighted_scores(Review.objects.all()) == 0
    # Proposals of calls of both ways of combining reviews.
    methods = set(Proposal.objects.values_list("call__score_aggregation", flat=True))
    assert methods == {"mean", "median"}
    countries = Country.objects.filter(asean_member=True).count()
    assert Proposal.objects.values("city__country").distinct().count() == countries
    assert any(not name.isascii() for name in City.objects.values_list("name", flat=True))
    # Bulk inserts send no signal: the command retires the cached pages itself.
    assert client.get(reverse("call_list")).content != before
    assert "Generated 12 cities" in capsys.readouterr().out


def test_make_run_starts_a_dead_worker_again(tmp_path):
    """`make run`'s supervisor (run_portal) starts the worker again when it dies, with the
    production worker flags, and stops everything on SIGTERM."""
    import signal
    import socket
    import time
    import urllib.request

    from smartjamp.celery import WORKER_ARGUMENTS

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "VAR_DIR": str(tmp_path), "DEBUG": "1"}
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"):
        env.pop(name, None)  # the embedded defaults of `make run`
    (tmp_path / "mail").mkdir()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    portal = subprocess.Popen(
        [sys.executable, "manage.py", "run_portal", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )

    def workers() -> list[int]:
        children = subprocess.run(
            ["pgrep", "-P", str(portal.pid), "-f", "celery"], capture_output=True, text=True
        ).stdout.split()
        return [int(pid) for pid in children]

    try:
        deadline = time.monotonic() + 120  # generous: the suite may share the machine
        while len(workers()) != 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        first = workers()
        assert len(first) == 1
        command = Path(f"/proc/{first[0]}/cmdline").read_text().split("\0")
        assert set(WORKER_ARGUMENTS) <= set(command)
        os.kill(first[0], signal.SIGKILL)
        restarted = []
        while time.monotonic() < deadline:
            restarted = workers()
            if restarted and restarted != first:
                break
            time.sleep(0.2)
        assert restarted and restarted != first
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)  # noqa: S310
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the web server did not answer")
    finally:
        portal.send_signal(signal.SIGTERM)
        _out, err = portal.communicate(timeout=30)
    assert "The worker stopped; starting it again." in err
