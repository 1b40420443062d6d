"""Celery tasks: thin, taking ids, calling the notifications module."""

from celery import shared_task

from . import exports, notifications, reminders, summaries


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def send_notification(self, notification_id: int) -> str:
    outcome, delay = notifications.deliver(notification_id)
    if outcome == notifications.Outcome.RETRY:
        raise self.retry(countdown=delay)
    return outcome


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
def announce_open_calls() -> int:
    return reminders.announce_open_calls()


@shared_task(acks_late=True)
def build_export(job_id: int) -> str:
    return exports.build(job_id)


@shared_task
def purge_exports() -> int:
    return exports.purge()


@shared_task
def build_summaries() -> int:
    return summaries.build()
