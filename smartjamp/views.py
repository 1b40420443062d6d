"""The operators' pages: the health check, and the benchmark's reference page."""

from django.conf import settings
from django.db import connection
from django.db.models import Min, Q
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from proposals.models import Notification, NotificationState
from smartjamp.celery import app as celery_app


@require_GET
@never_cache
def healthz(request):
    """Whether the database and the Celery broker answer and the workers keep up: 200 when all
    do, 503 otherwise. `outbox_age` is the age in seconds of the oldest email waiting to be
    sent (queued, or a retry that is due), or null; past OUTBOX_STALE_SECONDS the outbox is
    "stale": no worker has taken a task for a while, or far too few keep up."""
    database = _database_up()
    broker = _broker_up()
    age = _outbox_age() if database else None
    stale = age is not None and age > settings.OUTBOX_STALE_SECONDS
    healthy = database and broker and not stale
    return JsonResponse(
        {
            "status": "ok" if healthy else "error",
            "database": "up" if database else "down",
            "broker": "up" if broker else "down",
            "outbox": "stale" if stale else "ok" if database else "unknown",
            "outbox_age": age,
        },
        status=200 if healthy else 503,
    )


def _outbox_age() -> int | None:
    now = timezone.now()
    oldest = Notification.objects.waiting(now).aggregate(
        # A queued row's next_attempt_at is the sweeper's, so its wait counts from its creation.
        queued=Min("created_at", filter=Q(state=NotificationState.QUEUED)),
        retry=Min("next_attempt_at", filter=Q(state=NotificationState.FAILED)),
    )
    waiting = [moment for moment in oldest.values() if moment is not None]
    return int((now - min(waiting)).total_seconds()) if waiting else None


def _database_up() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _broker_up() -> bool:
    timeout = settings.HEALTHZ_BROKER_TIMEOUT
    try:
        with celery_app.connection_for_write(connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            return True
    except Exception:
        return False


def bench_reference(request):
    """The benchmark's yardstick: a 50-row table from memory through the base template, with
    no database work (served only when BENCHMARK_VIEWS is on)."""
    rows = [(n, f"Row {n} · Hàng {n}", n * 1_000, "Lorem ipsum dolor sit amet") for n in range(50)]
    return render(request, "bench_reference.html", {"rows": rows})
