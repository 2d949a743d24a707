import pytest


@pytest.mark.django_db
def test_healthz_reports_both_parts_up(client):
    response = client.get("/healthz/")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok" and body["broker"] == "ok" and body["status"] == "ok"


@pytest.mark.django_db
def test_healthz_names_the_broker_when_it_is_down(client, broker_down):
    response = client.get("/healthz/")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("down")
    assert body["status"] == "down: broker"


@pytest.fixture
def clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield cache
    cache.clear()


@pytest.mark.django_db
def test_healthz_turns_503_when_beat_stopped(client, clean_cache, settings):
    from datetime import timedelta

    from django.utils import timezone

    from gov_platform.tasks import HEARTBEAT_KEY, heartbeat

    # Never recorded: a fresh installation before beat's first tick is not down.
    assert client.get("/healthz/").status_code == 200
    heartbeat()
    assert client.get("/healthz/").json()["beat"] == "ok"
    stale = timezone.localtime() - timedelta(seconds=settings.HEALTH_BEAT_MAX_AGE_SECONDS + 30)
    clean_cache.set(HEARTBEAT_KEY, stale.isoformat(), timeout=None)
    response = client.get("/healthz/")
    assert response.status_code == 503
    body = response.json()
    assert body["beat"].startswith("down: last heartbeat") and body["status"] == "down: beat"


@pytest.mark.django_db
def test_healthz_turns_503_when_the_outbox_stalls(client, clean_cache, settings):
    from datetime import timedelta

    from django.utils import timezone

    from outbox.models import Notification, NotificationStatus

    limit = timedelta(seconds=settings.HEALTH_OUTBOX_MAX_AGE_SECONDS)
    row = Notification.objects.create(
        kind="case_assigned", to_address="a@example.com", created_at=timezone.now() - limit + timedelta(minutes=1)
    )
    assert client.get("/healthz/").status_code == 200
    Notification.objects.filter(pk=row.pk).update(created_at=timezone.now() - limit - timedelta(minutes=1))
    response = client.get("/healthz/")
    assert response.status_code == 503
    assert response.json()["outbox"].startswith("down: oldest pending notification")
    assert response.json()["outbox_pending"] == 1
    # Delivered, it no longer holds the platform down; a failed row is an alert of its own (/metrics), not a 503.
    Notification.objects.filter(pk=row.pk).update(status=NotificationStatus.FAILED)
    assert client.get("/healthz/").status_code == 200
