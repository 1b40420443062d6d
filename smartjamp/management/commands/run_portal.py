import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from smartjamp.celery import WORKER_ARGUMENTS

# Addresses that mean "every interface": a link needs one the browser can reach.
EVERY_INTERFACE = {"", "0", "0.0.0.0", "[::]"}  # noqa: S104 (runserver's own spellings)
STOP_SECONDS = 15  # a warm shutdown finishes the email being sent


def split_addrport(addrport: str) -> tuple[str, str]:
    """(host, port) of runserver's "port", "host:port" or "[v6]:port"."""
    host, _colon, port = addrport.rpartition(":")
    return host or "127.0.0.1", port


def site_url_for(addrport: str, environ=os.environ) -> str:
    """The address links in emails point to: SITE_URL when it is set (a proxy, another name),
    otherwise the portal being started, so `make run PORT=8101` sends links to port 8101."""
    if environ.get("SITE_URL"):
        return environ["SITE_URL"]
    host, port = split_addrport(addrport)
    if host in EVERY_INTERFACE:
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def shown(path: Path) -> str:
    """A path as the developer typed `make run` from the checkout: relative where it can be."""
    try:
        return f"{path.relative_to(settings.BASE_DIR)}/"
    except ValueError:
        return f"{path}/"


def accounts_table() -> str:
    """The demo accounts as seed_demo made them: role, email, password, second factor."""
    from proposals.management.commands.seed_demo import DEMO_TOTP_SECRET, demo_accounts

    rows = [("role", "email", "password", "second factor"), *demo_accounts()]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  "
        + "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=False))
        + "  "
        + row[3]
        for row in rows
    ]
    return "\n".join(
        [
            "Demo accounts:",
            *(line.rstrip() for line in lines),
            f"  The authenticator's secret is {DEMO_TOTP_SECRET}; "
            "`.venv/bin/python manage.py demo_totp` prints its current code.",
        ]
    )


class Command(BaseCommand):
    help = (
        "Run the web server with a Celery worker and beat; a worker that dies is started "
        "again (as systemd does in production); Ctrl-C (or SIGTERM) stops all. Their output "
        "goes to VAR_DIR/log/; links in emails follow the address unless SITE_URL is set."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Migrate and load the demo data first, and list the demo accounts.",
        )

    def handle(self, *args, addrport: str, demo: bool, **options):
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        site_url = site_url_for(addrport)
        # Every process gets the same address for links: the emails seed_demo writes, the
        # web server's and the worker's alike.
        env = {**os.environ, "SITE_URL": site_url, "PYTHONUNBUFFERED": "1"}
        log_dir = Path(settings.VAR_DIR) / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout.write(
            "Starting the portal: "
            + ("the database and demo data, " if demo else "")
            + "the web server, the worker and beat…"
        )
        if demo:
            self.prepare_demo(manage, env)
        # The worker runs with the flags of production (smartjamp.celery.WORKER_ARGUMENTS),
        # with beat embedded: the demo has exactly one.
        commands = {
            "worker": [
                *(sys.executable, "-m", "celery", "-A", "smartjamp", "worker", "--beat"),
                *WORKER_ARGUMENTS,
                "--loglevel=INFO",
            ],
            "web": [sys.executable, manage, "runserver", addrport],
        }
        logs = {name: open(log_dir / f"{name}.log", "w") for name in commands}  # noqa: SIM115

        def start(name: str) -> subprocess.Popen:
            # Output to the log files, not the terminal: Celery's banner and the routine lines
            # would bury the address. Each in its own process group, so that Ctrl-C reaches
            # only this supervisor, which stops them one by one (no double signal, no
            # runserver child left behind).
            return subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
                commands[name],
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logs[name],
                stderr=subprocess.STDOUT,
                process_group=0,
            )

        def interrupt(signum, frame):
            raise KeyboardInterrupt

        # SIGHUP too: the terminal closing reaches this process group only.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, interrupt)
        processes = {}
        failure = ""
        try:
            processes = {name: start(name) for name in commands}
            failure = self.wait_until_serving(processes["web"], addrport, logs["web"].name)
            if not failure:
                self.banner(addrport, site_url, log_dir, demo)
            while not failure and processes["web"].poll() is None:
                if processes["worker"].poll() is not None:
                    self.stderr.write(
                        "The worker stopped; starting it again. "
                        f"Its log: {shown(log_dir)}worker.log"
                    )
                    # What is left of its group (the beat it embedded) goes with it: one beat.
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(processes["worker"].pid, signal.SIGKILL)
                    time.sleep(2)
                    processes["worker"] = start("worker")
                time.sleep(0.5)
            if not failure:
                failure = f"The web server stopped; its log: {shown(log_dir)}web.log"
        except KeyboardInterrupt:
            pass
        finally:
            self.stop(processes.values())
            for log in logs.values():
                log.close()
        if failure:
            raise CommandError(failure)
        self.stdout.write("Stopped the web server, the worker and beat.")

    def prepare_demo(self, manage: str, env: dict) -> None:
        for step in (["migrate", "--noinput", "-v0"], ["seed_demo", "-v0"]):
            done = subprocess.run(  # noqa: S603 (our interpreter, fixed arguments)
                [sys.executable, manage, *step],
                cwd=settings.BASE_DIR,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                self.stderr.write(done.stdout + done.stderr)
                raise CommandError(f"`manage.py {' '.join(step)}` failed.")

    @staticmethod
    def wait_until_serving(web: subprocess.Popen, addrport: str, log_name: str) -> str:
        """Wait until the web server is bound (runserver says so once it is: a connection
        could reach another server on a taken port); what went wrong, if it did not."""
        log = Path(log_name)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if "Starting development server at" in log.read_text(errors="replace"):
                return ""
            if web.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-5:]
                return "The web server did not start:\n" + "\n".join(tail)
            time.sleep(0.2)
        return f"The web server did not answer on {addrport}; see {log_name}."

    def banner(self, addrport: str, site_url: str, log_dir: Path, demo: bool) -> None:
        host, port = split_addrport(addrport)
        address = f"http://{'127.0.0.1' if host in EVERY_INTERFACE else host}:{port}/"
        lines = [accounts_table()] if demo else []
        if settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
            lines.append(f"Emails: {shown(Path(settings.EMAIL_FILE_PATH))} (links to {site_url})")
        lines.append(f"Logs: {shown(log_dir)}web.log, worker.log")
        lines.append(self.style.SUCCESS(f"Portal on {address}") + "  ·  Ctrl-C stops everything")
        self.stdout.write("\n".join(lines))

    @staticmethod
    def stop(processes) -> None:
        """SIGTERM to each (a warm shutdown), then SIGKILL to what is left of their process
        groups (runserver's reloaded child) after STOP_SECONDS, or at once on a second Ctrl-C."""
        processes = list(processes)
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        try:
            for process in processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(deadline - time.monotonic(), 0))
        except KeyboardInterrupt:
            pass
        for process in processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
