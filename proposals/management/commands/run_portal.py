import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server with a Celery worker and beat; Ctrl-C (or SIGTERM) stops all."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, addrport: str, **options):
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        commands = [
            [sys.executable, "-m", "celery", "-A", "smartjamp", "worker", "--beat"]
            + ["--concurrency=1", "--loglevel=INFO"],
            [sys.executable, manage, "runserver", addrport],
        ]
        # Our own interpreter and fixed arguments; addrport is the developer's own input.
        processes = [subprocess.Popen(c, cwd=settings.BASE_DIR) for c in commands]  # noqa: S603

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes:
                if process.poll() is None:
                    process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.stdout.write("Stopped the web server, the worker and beat.")
