"""A real Celery worker process on the configured broker (Redis in CI) runs a task."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from gov_platform.tasks import ping

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "gov_platform",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.mark.services
def test_worker_runs_a_task_on_the_configured_broker(worker):
    result = ping.delay()
    assert result.get(timeout=60) == "pong"


@pytest.mark.services
def test_ci_uses_the_redis_broker(redis_url):
    assert redis_url == settings.CELERY_BROKER_URL
    assert settings.CELERY_BROKER_URL.startswith("redis://")
