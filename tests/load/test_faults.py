"""Faults: a worker killed mid-sweep, the broker stopped during intake, the database dropped mid-request.

The broker test starts its own Redis on another loopback port, so the machine's own stays up.
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.roles import Role
from cases.models import Case, Escalation
from cases.services import transition_case
from outbox.models import Notification
from tests.cases.test_escalation_worker import mails_to, wait_for
from tests.conftest import need_service

pytestmark = [pytest.mark.load]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, which the test may stop and start."""
    binary = shutil.which("redis-server")
    need_service("redis-server binary", binary is not None)
    port = free_port()

    def start():
        process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(lambda: _answers(port), timeout=10)
        return process

    state = {"process": start()}

    class Handle:
        url = f"redis://127.0.0.1:{port}/0"

        def stop(self):
            state["process"].terminate()
            state["process"].wait(timeout=10)

        def start(self):
            state["process"] = start()

    yield Handle()
    state["process"].terminate()


def _answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def use_broker(request):
    """Point this process's Celery app at another broker for one test."""
    from kombu import pools as kombu_pools

    from gov_platform.celery import app

    def reset_pools():
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        app.amqp._producer_pool = None
        # kombu keeps the closed pool registered under its URL; later tests would get it back.
        kombu_pools.reset()

    original = (app.conf.broker_url, app.conf.result_backend)

    def use(url):
        reset_pools()
        app.conf.broker_url = url

    yield use
    reset_pools()
    app.conf.broker_url = original[0]


def overdue_cases(make_case, n):
    from tests.cases.test_admin import clone_cases

    template = make_case("assigned")
    clone_cases(template, n - 1)
    now = timezone.now()
    Case.objects.update(
        stage_started_at=now - timedelta(days=6),
        current_deadline=now - timedelta(hours=1),
        warn_at=now - timedelta(days=2),
        final_at=now + timedelta(days=2),
    )


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_sweep_loses_and_doubles_nothing(
    redis_url, make_case, supervisors, celery_worker_process, tmp_path
):
    # Enough cases that a sweep takes seconds, so the kill lands inside it.
    overdue_cases(make_case, 30000)
    outbox = tmp_path / "mail"
    outbox.mkdir()
    env = {"BEAT_TICK_SECONDS": "1", "EMAIL_URL": "filemail://", "EMAIL_FILE_PATH": str(outbox)}
    worker = celery_worker_process(beat=True, env=env)
    # Kill it as soon as it has picked up a sweep, before that sweep can commit.
    assert wait_for(
        lambda: worker.log.exists() and "sweep_deadlines" in worker.log.read_text(), timeout=60, interval=0.05
    )
    worker.signal_all(signal.SIGKILL)  # the worker and its beat, as a crashed machine loses both
    worker.wait(timeout=10)
    recorded_before_restart = Escalation.objects.count()
    assert recorded_before_restart == 0, worker.log.read_text()[-2000:]  # one transaction: nothing half-done

    celery_worker_process(beat=True, env=env)
    address = supervisors["street_a"].email
    assert wait_for(lambda: Notification.objects.filter(to_address=address, status="sent").exists(), timeout=90), (
        recorded_before_restart,
        Escalation.objects.count(),
        list(Notification.objects.values("to_address", "status")),
    )
    time.sleep(3)  # more sweeps run meanwhile
    assert Escalation.objects.filter(level=2).count() == 30000
    assert Notification.objects.filter(to_address=address).count() == 1
    assert mails_to(outbox, address) == 1


@pytest.mark.django_db(transaction=True)
def test_broker_outage_during_intake_loses_nothing(
    own_redis, use_broker, make_case, people, tree, celery_worker_process, tmp_path
):
    from accounts.models import User

    User.objects.filter(pk=people[Role.DEPARTMENT_STAFF].pk).update(email="dept_a@example.gov.cn")
    use_broker(own_redis.url)
    assessed = [make_case("assessed") for _ in range(6)]
    transition_case(actor=people[Role.STREET_STAFF], case=assessed[0], name="assign", department=tree.dept_a)
    own_redis.stop()
    started = time.monotonic()
    for case in assessed[1:]:
        transition_case(actor=people[Role.STREET_STAFF], case=case, name="assign", department=tree.dept_a)
    new_cases = [make_case("reported") for _ in range(5)]
    assert time.monotonic() - started < 60  # publishing fails fast; nothing waits on the broker
    assert len(new_cases) == 5 and Case.objects.filter(status="assigned").count() == 6
    assert Notification.objects.filter(to_address="dept_a@example.gov.cn").count() == 6

    own_redis.start()
    outbox = tmp_path / "mail"
    outbox.mkdir()
    celery_worker_process(
        beat=True,
        env={
            "REDIS_URL": own_redis.url,
            "BEAT_TICK_SECONDS": "1",
            "EMAIL_URL": "filemail://",
            "EMAIL_FILE_PATH": str(outbox),
        },
    )
    # The six assignment mails; the in-app copies and the new-report notices are other rows.
    mails = Notification.objects.filter(to_address="dept_a@example.gov.cn")
    assert wait_for(lambda: mails.filter(status="sent").count() == 6, timeout=90)
    time.sleep(2)
    assert mails.filter(status="sent").count() == 6
    assert mails_to(outbox, "dept_a@example.gov.cn") == 6


@pytest.mark.django_db(transaction=True)
def test_database_dropped_mid_request_is_a_clean_503(postgres, people, tree, categories, client):
    from django.db.models.signals import post_save

    token = Token.objects.create(user=people[Role.GRID_WORKER]).key
    before = Case.objects.count()

    def drop_my_connection(sender, instance, created, **kwargs):
        pid = connection.connection.info.backend_pid
        admin = connection.copy()
        try:
            admin.ensure_connection()
            with admin.connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            admin.close()

    post_save.connect(drop_my_connection, sender=Case, dispatch_uid="drop")
    try:
        response = client.post(
            "/api/v1/cases/",
            {
                "title": "断线",
                "description": "连接中断",
                "grid": tree.grid_a.code,
                "category": categories["dispute"].pk,
            },
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )
    finally:
        post_save.disconnect(dispatch_uid="drop", sender=Case)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    connection.close()
    assert Case.objects.count() == before
    assert not Case.objects.filter(title="断线").exists()
    # The next request works again.
    ok = client.get("/api/v1/cases/", HTTP_AUTHORIZATION=f"Token {token}")
    assert ok.status_code == 200


def test_own_redis_is_not_the_machines(own_redis):
    assert not own_redis.url.startswith("redis://127.0.0.1:6379")
    assert os.environ.get("REDIS_URL", "") != own_redis.url
