"""A real Celery worker process on the configured broker (Redis in CI) runs a task."""

import pytest
from django.conf import settings

from gov_platform.tasks import ping


@pytest.mark.services
def test_worker_runs_a_task_on_the_configured_broker(celery_worker_process):
    celery_worker_process()
    assert ping.delay().get(timeout=60) == "pong"


@pytest.mark.services
def test_ci_uses_the_redis_broker(redis_url):
    assert redis_url == settings.CELERY_BROKER_URL
    assert settings.CELERY_BROKER_URL.startswith("redis://")
