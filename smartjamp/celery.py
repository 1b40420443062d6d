import os

from celery import Celery

from . import embedded_broker  # noqa: F401  (registers the "embedded+sqlite://" broker)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartjamp.settings")

# The worker's flags in production (deploy/systemd/smartjamp-worker@.service) and in the tests.
WORKER_ARGUMENTS = ["--pool=solo", "--without-mingle", "--without-gossip", "--without-heartbeat"]

app = Celery("smartjamp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
