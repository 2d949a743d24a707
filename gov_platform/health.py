"""Liveness of the parts a request depends on, for load balancers and operators."""

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
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


@never_cache
@require_GET
def healthz(request):
    checks = {"database": database_ok(), "broker": broker_ok()}
    body = {name: ("ok" if ok else f"down: {reason}") for name, (ok, reason) in checks.items()}
    try:
        body["beat_last_heartbeat"] = cache.get(HEARTBEAT_KEY)
    except Exception:  # the cache is informational here, never a reason for 503
        body["beat_last_heartbeat"] = None
    down = [name for name, (ok, _) in checks.items() if not ok]
    body["status"] = "ok" if not down else "down: " + ", ".join(down)
    return JsonResponse(body, status=503 if down else 200, json_dumps_params={"ensure_ascii": False})
