import os

from celery import Celery

from . import embedded_broker  # noqa: F401  (registers the "embedded+sqlite://" broker)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartjamp.settings")

app = Celery("smartjamp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
