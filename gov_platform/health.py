"""Liveness of the parts a request depends on, for load balancers and operators.

503 when the database or broker is down, and also when the periodic work stopped: the beat
heartbeat is older than HEALTH_BEAT_MAX_AGE_SECONDS (an escalation ladder that silently stopped
is the worst failure this platform can have), or the outbox's oldest pending notification is
older than HEALTH_OUTBOX_MAX_AGE_SECONDS (delivery stopped). The outbox's figures come from
the function HEALTH_OUTBOX_BACKLOG names, so this module imports no app."""

from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .celery import app as celery_app
from .tasks import HEARTBEAT_KEY


def database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the reason is reported
        return False, str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return True, ""


def broker_ok() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:
        return False, str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return True, ""


def heartbeat_age(now=None) -> tuple[str | None, float | None]:
    """The last beat heartbeat as recorded and its age in seconds (None, None: never recorded or unreadable)."""
    try:
        last = cache.get(HEARTBEAT_KEY)
    except Exception:  # an unreadable cache is reported by the broker/cache checks, not here
        return None, None
    if not last:
        return None, None
    try:
        moment = datetime.fromisoformat(last)
    except (TypeError, ValueError):
        return last, None
    return last, max(((now or timezone.now()) - moment).total_seconds(), 0.0)


def beat_ok(now=None) -> tuple[bool, str, str | None]:
    last, age = heartbeat_age(now)
    # Never recorded: a fresh installation before its first tick, not a stopped beat.
    if age is not None and age > settings.HEALTH_BEAT_MAX_AGE_SECONDS:
        return False, f"last heartbeat {age:.0f} s ago", last
    return True, "", last


def outbox_ok(now=None) -> tuple[bool, str, dict]:
    figures = import_string(settings.HEALTH_OUTBOX_BACKLOG)(now)
    oldest = figures["oldest_pending_seconds"]
    if oldest is not None and oldest > settings.HEALTH_OUTBOX_MAX_AGE_SECONDS:
        return False, f"oldest pending notification {oldest:.0f} s old", figures
    return True, "", figures


@never_cache
@require_GET
def healthz(request):
    now = timezone.now()
    checks = {"database": database_ok(), "broker": broker_ok()}
    beat, beat_reason, last = beat_ok(now)
    checks["beat"] = (beat, beat_reason)
    if checks["database"][0]:
        outbox, outbox_reason, figures = outbox_ok(now)
        checks["outbox"] = (outbox, outbox_reason)
    else:
        figures = {}
    body = {name: ("ok" if ok else f"down: {reason}") for name, (ok, reason) in checks.items()}
    body["beat_last_heartbeat"] = last
    body["outbox_pending"] = figures.get("pending")
    down = [name for name, (ok, _) in checks.items() if not ok]
    body["status"] = "ok" if not down else "down: " + ", ".join(down)
    return JsonResponse(body, status=503 if down else 200, json_dumps_params={"ensure_ascii": False})
