from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from smartjamp.celery import app as celery_app

from ..forms import ProfileForm


def home(request):
    return render(request, "proposals/home.html")


@require_GET
@never_cache
def healthz(request):
    """Whether the database and the Celery broker answer: 200 when both do, 503 otherwise."""
    database = _database_up()
    broker = _broker_up()
    healthy = database and broker
    return JsonResponse(
        {
            "status": "ok" if healthy else "error",
            "database": "up" if database else "down",
            "broker": "up" if broker else "down",
        },
        status=200 if healthy else 503,
    )


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


@login_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your profile has been saved."))
        return redirect("profile")
    return render(request, "account/profile.html", {"form": form})


def bench_reference(request):
    """The benchmark's yardstick: a 50-row table from memory through the base template, with
    no database work (served only when BENCHMARK_VIEWS is on)."""
    rows = [(n, f"Row {n} · Hàng {n}", n * 1_000, "Lorem ipsum dolor sit amet") for n in range(50)]
    return render(request, "bench_reference.html", {"rows": rows})
