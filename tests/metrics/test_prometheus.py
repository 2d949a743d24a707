"""/metrics for Prometheus: who may scrape it, and that each figure moves when the platform does."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from cases.models import Category
from cases.services import create_case, transition_case
from cases.tasks import sweep_deadlines
from gov_platform.tasks import heartbeat
from metrics import prometheus, rollups
from outbox.models import Notification, NotificationStatus


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_OPEN_ON_LOOPBACK = True
    cache.clear()
    yield
    cache.clear()


def value(body: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", body, re.MULTILINE)
    assert match, f"{name}{labels} not in the scrape"
    return float(match[1])


def scrape(client, **extra):
    return client.get("/metrics", **extra)


@pytest.mark.django_db
def test_loopback_scrapes_without_a_token_on_the_embedded_demo(client):
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert value(body, "gov_outbox_pending") == 0
    assert value(body, "gov_beat_heartbeat_age_seconds") == -1
    assert value(body, "gov_rollup_lag_seconds") == 0


@pytest.mark.django_db
def test_others_are_refused_without_a_token(client, settings):
    assert scrape(client, REMOTE_ADDR="10.1.2.3").status_code == 403
    # Production (a Redis broker): not even loopback without the token, since a proxy would be loopback too.
    settings.METRICS_OPEN_ON_LOOPBACK = False
    assert scrape(client).status_code == 403


@pytest.mark.django_db
def test_the_token_protects_it_in_production(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    assert scrape(client).status_code == 403  # loopback no longer enough
    assert scrape(client, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert scrape(client, HTTP_AUTHORIZATION="s3cret-token").status_code == 403
    response = scrape(client, REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    assert "gov_outbox_pending" in response.content.decode()
    assert client.post("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 405


@pytest.mark.django_db
def test_request_latency_is_by_view_name(client):
    client.get("/healthz/")
    body = scrape(client).content.decode()
    assert value(body, "gov_request_duration_seconds_count", '{method="GET",view="healthz"}') >= 1


def test_transitions_count_by_step_once_committed(tree, people, client, django_capture_on_commit_callbacks):
    group = Category.objects.create(code="P1", name="城市管理")
    litter = Category.objects.create(code="P101", name="乱堆乱放", parent=group)
    root = people["superuser"]
    case = create_case(actor=root, title="杂物", description="楼道杂物", category=litter, grid=tree.grid_a)
    with django_capture_on_commit_callbacks(execute=True):
        transition_case(actor=root, case=case, name="assess")
    body = scrape(client).content.decode()
    assert value(body, "gov_transitions_total", '{step="assess"}') == 1
    assert value(body, "gov_transitions_total", '{step="assign"}') == 0
    # The new case's bucket waits for the refresh: the lag shows it, the refresh clears it.
    assert value(body, "gov_rollup_lag_seconds") >= 0
    rollups.refresh()
    assert value(scrape(client).content.decode(), "gov_rollup_lag_seconds") == 0


@pytest.mark.django_db
def test_rollup_lag_is_the_oldest_waiting_change(client):
    from metrics.models import DirtyBucket

    DirtyBucket.objects.create(
        day=timezone.localdate(), area_path="x/", marked_at=timezone.now() - timedelta(minutes=5)
    )
    assert 299 < value(scrape(client).content.decode(), "gov_rollup_lag_seconds") < 400


@pytest.mark.django_db
def test_sweep_duration_and_rows_recorded(client):
    sweep_deadlines.apply(kwargs={"force": True})
    body = scrape(client).content.decode()
    assert value(body, "gov_sweep_last_duration_seconds") >= 0
    assert value(body, "gov_sweep_escalations_recorded_total", '{level="overdue"}') == 0
    prometheus.record_sweep(seconds=0.25, recorded={1: 3, 2: 2, 3: 0})
    prometheus.record_sweep(seconds=0.5, recorded={1: 1, 2: 0, 3: 0})
    body = scrape(client).content.decode()
    assert value(body, "gov_sweep_last_duration_seconds") == 0.5
    assert value(body, "gov_sweep_escalations_recorded_total", '{level="warning"}') == 4
    assert value(body, "gov_sweep_escalations_recorded_total", '{level="overdue"}') == 2


@pytest.mark.django_db
def test_outbox_backlog_oldest_pending_and_failed(client):
    now = timezone.now()
    Notification.objects.create(kind="case_assigned", to_address="a@example.com", created_at=now - timedelta(hours=2))
    Notification.objects.create(kind="case_assigned", to_address="b@example.com", created_at=now - timedelta(minutes=1))
    Notification.objects.create(kind="case_assigned", to_address="c@example.com", status=NotificationStatus.FAILED)
    Notification.objects.create(kind="case_assigned", to_address="d@example.com", status=NotificationStatus.SENT)
    body = scrape(client).content.decode()
    assert value(body, "gov_outbox_pending") == 2
    assert value(body, "gov_outbox_failed") == 1
    assert 7190 < value(body, "gov_outbox_oldest_pending_seconds") < 7300


@pytest.mark.django_db
def test_heartbeat_age(client):
    heartbeat()
    assert 0 <= value(scrape(client).content.decode(), "gov_beat_heartbeat_age_seconds") < 60


def test_pending_values_are_the_working_times_waiting_for_a_merge(db, client):
    """``gov_rollup_pending_values``: what the refreshes left beside the coarse lists, back to 0 once merged."""
    from metrics.models import CoarseRollup

    assert value(scrape(client).content.decode(), "gov_rollup_pending_values") == 0
    CoarseRollup.objects.create(
        month=timezone.localdate().replace(day=1), area_path="x/", pending_gained=[5, 9], pending_lost=[7], pending=3
    )
    assert value(scrape(client).content.decode(), "gov_rollup_pending_values") == 3
    CoarseRollup.objects.update(pending_gained=[], pending_lost=[], pending=0)
    assert value(scrape(client).content.decode(), "gov_rollup_pending_values") == 0
