import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from smartjamp.celery import WORKER_ARGUMENTS


class Command(BaseCommand):
    help = (
        "Run the web server with a Celery worker and beat; a worker that dies is started "
        "again (as systemd does in production); Ctrl-C (or SIGTERM) stops all."
    )

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options):
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        # The worker runs with the flags of production (smartjamp.celery.WORKER_ARGUMENTS),
        # with beat embedded: the demo has exactly one.
        worker = [sys.executable, "-m", "celery", "-A", "smartjamp", "worker", "--beat"]
        worker += [*WORKER_ARGUMENTS, "--loglevel=INFO"]
        web = [sys.executable, manage, "runserver", addrport]
        # Our own interpreter and fixed arguments; addrport is the developer's own input.
        processes = {
            "worker": subprocess.Popen(worker, cwd=settings.BASE_DIR),  # noqa: S603
            "web": subprocess.Popen(web, cwd=settings.BASE_DIR),  # noqa: S603
        }

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            while processes["web"].poll() is None:
                if processes["worker"].poll() is not None:
                    self.stderr.write("The worker stopped; starting it again.")
                    time.sleep(2)
                    processes["worker"] = subprocess.Popen(worker, cwd=settings.BASE_DIR)  # noqa: S603
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            for process in processes.values():
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.stdout.write("Stopped the web server, the worker and beat.")
