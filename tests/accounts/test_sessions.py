"""Idle admin sessions are logged out after SESSION_IDLE_TIMEOUT_MINUTES (clock moved in the test)."""

import pytest

from accounts import sessions
from accounts.roles import Role


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        now = 1_800_000_000.0

        def move(self, minutes):
            self.now += minutes * 60

    clock = Clock()
    monkeypatch.setattr(sessions, "now", lambda: clock.now)
    return clock


@pytest.mark.django_db
def test_an_idle_session_is_logged_out(people, client, clock, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 30
    client.force_login(people[Role.COMMUNITY_STAFF])
    assert client.get("/admin/").status_code == 200
    clock.move(29)
    assert client.get("/admin/").status_code == 200  # activity keeps it alive ...
    clock.move(29)
    assert client.get("/admin/").status_code == 200  # ... counted from the last request
    clock.move(31)
    response = client.get("/admin/cases/case/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_the_timeout_is_a_setting(people, client, clock, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 5
    client.force_login(people[Role.DISTRICT_STAFF])
    assert client.get("/admin/").status_code == 200
    clock.move(6)
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_the_session_is_not_written_on_every_request(people, client, clock):
    client.force_login(people[Role.COMMUNITY_STAFF])
    client.get("/admin/")
    first = client.session[sessions.LAST_ACTIVITY_KEY]
    clock.move(0.5)
    client.get("/admin/")
    assert client.session[sessions.LAST_ACTIVITY_KEY] == first
    clock.move(1)
    client.get("/admin/")
    assert client.session[sessions.LAST_ACTIVITY_KEY] == clock.now


@pytest.mark.django_db
def test_expired_sessions_are_purged_by_beat(settings):
    from datetime import timedelta

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from accounts.tasks import purge_expired_sessions

    now = timezone.now()
    Session.objects.create(session_key="old" * 10, session_data="", expire_date=now - timedelta(minutes=1))
    Session.objects.create(session_key="live" * 8, session_data="", expire_date=now + timedelta(hours=1))
    purge_expired_sessions()
    assert list(Session.objects.values_list("session_key", flat=True)) == ["live" * 8]
    assert settings.CELERY_BEAT_SCHEDULE["purge-expired-sessions"]["task"] == "accounts.tasks.purge_expired_sessions"
