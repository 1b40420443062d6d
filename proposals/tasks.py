"""Celery's scheduled and background tasks: thin, taking ids, calling the module that does the
work. The outbox's task (`send_notification`) and the export's (`build_export`) live with
the work they do, and are named here too."""

from celery import shared_task

from . import exports, notifications, reminders
from .exports import build_export  # noqa: F401  (so that `tasks` names every task)
from .notifications import send_notification  # noqa: F401


@shared_task
def sweep_outbox() -> int:
    return notifications.sweep()


@shared_task
def send_deadline_reminders() -> int:
    return reminders.deadline_reminders()


@shared_task
def send_review_reminders() -> int:
    return reminders.review_reminders()


@shared_task
def send_deliverable_reminders() -> int:
    return reminders.deliverable_reminders()


@shared_task
def send_desk_overdue() -> int:
    return reminders.desk_overdue()


@shared_task
def announce_open_calls() -> int:
    return reminders.announce_open_calls()


@shared_task
def purge_exports() -> int:
    return exports.purge()
