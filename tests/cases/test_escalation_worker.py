"""The sweep on a real worker and beat schedule (Redis in CI): one escalation, one email, however many runs."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case, Escalation
from cases.tasks import sweep_deadlines
from outbox.models import Notification


def wait_for(condition, timeout=60, interval=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def mails_to(folder, address):
    return sum(path.read_text(errors="replace").count(f"To: {address}") for path in folder.glob("*"))


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_beat_and_two_workers_escalate_and_mail_once(
    redis_url, make_case, supervisors, celery_worker_process, tmp_path
):
    case = make_case("assigned")
    Case.objects.filter(pk=case.pk).update(
        stage_started_at=timezone.now() - timedelta(days=5),
        current_deadline=timezone.now() - timedelta(hours=2),
        warn_at=timezone.now() - timedelta(days=1),
        final_at=timezone.now() + timedelta(days=3),
    )
    outbox = tmp_path / "mail"
    outbox.mkdir()
    env = {"BEAT_TICK_SECONDS": "1", "EMAIL_URL": "filemail://", "EMAIL_FILE_PATH": str(outbox)}
    first = celery_worker_process(beat=True, env=env)
    celery_worker_process(env=env)
    address = supervisors["street_a"].email

    assert wait_for(lambda: Notification.objects.filter(to_address=address, status="sent").exists()), (
        first.log.read_text() if first.log.exists() else "no worker log"
    )
    # More sweeps, from beat and forced on both workers, change nothing.
    for _ in range(6):
        sweep_deadlines.delay(force=True)
    time.sleep(5)
    assert Escalation.objects.filter(case=case, level=2).count() == 1
    assert Notification.objects.filter(to_address=address).count() == 1
    assert mails_to(outbox, address) == 1
    assert mails_to(outbox, supervisors["street_b"].email) == 0
