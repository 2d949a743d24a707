"""Prometheus metrics at /metrics: request latency by view, transitions by step, the sweep, the outbox,
beat's heartbeat, Celery's queue and the roll-ups' lag.

Request latency is kept in the serving process by gov_platform.middleware (set PROMETHEUS_MULTIPROC_DIR for several gunicorn
workers: prometheus_client then merges them). What other processes do — transitions in web and
worker processes, sweeps in the worker — is counted in the shared cache, and the state of the
platform (outbox, heartbeat, roll-ups, queue) is read at scrape time, so one scrape of any web
process sees all of it. With METRICS_TOKEN set, a scrape needs ``Authorization: Bearer <token>``;
without one, only loopback requests are answered, and only where METRICS_OPEN_ON_LOOPBACK (the
embedded demo's default) allows it.
"""

import hmac
import logging
import os
import time

from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_fsm.signals import post_transition
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from cases import steps
from cases.models import Case
from gov_platform.celery import app as celery_app
from gov_platform.health import heartbeat_age

from . import rollups

logger = logging.getLogger(__name__)

TRANSITION_KEY = "metrics:transitions:"
SWEEP_KEY = "metrics:sweep"
SWEEP_RECORDED_KEY = "metrics:sweep-recorded:"
SWEEP_TASK = "cases.tasks.sweep_deadlines"
LEVELS = {1: "warning", 2: "overdue", 3: "district"}


# --- counted across processes in the shared cache ---------------------------------------------
def _count(key: str, by: int = 1) -> None:
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key, by)
    except Exception:  # a counter must never break the step it counts
        logger.warning("Could not count %s in the cache", key, exc_info=True)


@receiver(post_transition, sender=Case)
def _transition_taken(sender, name, **kwargs):
    # Counted once the step is committed: a rolled-back step did not happen.
    transaction.on_commit(lambda: _count(TRANSITION_KEY + name))


_sweep_started: dict[str, float] = {}


@receiver(task_prerun)
def _task_started(task_id=None, task=None, **kwargs):
    if task is not None and task.name == SWEEP_TASK:
        _sweep_started[task_id] = time.monotonic()


@receiver(task_postrun)
def _task_done(task_id=None, task=None, retval=None, **kwargs):
    if task is None or task.name != SWEEP_TASK:
        return
    started = _sweep_started.pop(task_id, None)
    if started is None or not isinstance(retval, dict) or retval.get("skipped") or "recorded" not in retval:
        return
    recorded = {int(level): n for level, n in retval["recorded"].items()}
    record_sweep(seconds=time.monotonic() - started, recorded=recorded)


def record_sweep(*, seconds: float, recorded: dict[int, int]) -> None:
    """Keep the last sweep's duration and count the escalation rows it recorded."""
    try:
        cache.set(SWEEP_KEY, {"at": timezone.now().timestamp(), "seconds": seconds}, timeout=None)
    except Exception:
        logger.warning("Could not keep the sweep's figures in the cache", exc_info=True)
    for level, n in recorded.items():
        if n:
            _count(SWEEP_RECORDED_KEY + LEVELS.get(level, str(level)), n)


# --- read at scrape time ---------------------------------------------------------------
def celery_queue_length() -> int | None:
    """Messages waiting in Celery's default queue on a Redis broker (None for the embedded broker)."""
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return None
    try:
        with celery_app.connection_for_read() as conn:
            return int(conn.default_channel.client.llen(celery_app.conf.task_default_queue))
    except Exception:
        logger.warning("Could not read the Celery queue length", exc_info=True)
        return None


class PlatformCollector:
    def collect(self):
        now = timezone.now()
        backlog = import_string(settings.HEALTH_OUTBOX_BACKLOG)(now)
        yield GaugeMetricFamily(
            "gov_outbox_pending", "Notifications waiting to be delivered.", value=backlog["pending"]
        )
        yield GaugeMetricFamily(
            "gov_outbox_oldest_pending_seconds",
            "Age of the oldest notification waiting (0 when none waits).",
            value=backlog["oldest_pending_seconds"] or 0.0,
        )
        yield GaugeMetricFamily(
            "gov_outbox_failed", "Notifications that failed for good (see the outbox admin).", value=backlog["failed"]
        )
        _last, age = heartbeat_age(now)
        yield GaugeMetricFamily(
            "gov_beat_heartbeat_age_seconds",
            "Seconds since beat's last heartbeat (-1: never recorded).",
            value=-1.0 if age is None else age,
        )
        yield GaugeMetricFamily(
            "gov_rollup_lag_seconds",
            "Age of the oldest roll-up change not yet recomputed.",
            value=rollups.lag_seconds(now),
        )
        yield GaugeMetricFamily(
            "gov_rollup_pending_values",
            "Working times waiting to be merged into the coarse roll-ups' lists (merged after each refresh).",
            value=rollups.pending_values(),
        )
        queued = celery_queue_length()
        if queued is not None:
            yield GaugeMetricFamily(
                "gov_celery_queue_length", "Messages waiting in Celery's default queue.", value=queued
            )
        keys = [TRANSITION_KEY + name for name in steps.STEPS] + [SWEEP_RECORDED_KEY + v for v in LEVELS.values()]
        keys.append(SWEEP_KEY)
        try:
            cached = cache.get_many(keys)
        except Exception:
            cached = {}
        transitions = CounterMetricFamily("gov_transitions", "Steps taken on cases, by step.", labels=["step"])
        for name in steps.STEPS:
            transitions.add_metric([name], cached.get(TRANSITION_KEY + name, 0))
        yield transitions
        recorded = CounterMetricFamily(
            "gov_sweep_escalations_recorded", "Escalation rows the sweep recorded, by level.", labels=["level"]
        )
        for level in LEVELS.values():
            recorded.add_metric([level], cached.get(SWEEP_RECORDED_KEY + level, 0))
        yield recorded
        sweep = cached.get(SWEEP_KEY)
        if sweep:
            yield GaugeMetricFamily(
                "gov_sweep_last_duration_seconds", "How long the last escalation sweep took.", value=sweep["seconds"]
            )
            yield GaugeMetricFamily(
                "gov_sweep_last_run_timestamp_seconds", "When the last escalation sweep ended.", value=sweep["at"]
            )


PLATFORM = CollectorRegistry(auto_describe=False)
PLATFORM.register(PlatformCollector())


def _process_registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


LOOPBACK = {"127.0.0.1", "::1"}


def allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    return settings.METRICS_OPEN_ON_LOOPBACK and request.META.get("REMOTE_ADDR") in LOOPBACK


@never_cache
@require_GET
def metrics_view(request):
    if not allowed(request):
        return HttpResponseForbidden("Forbidden\n", content_type="text/plain")
    body = generate_latest(_process_registry()) + generate_latest(PLATFORM)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
