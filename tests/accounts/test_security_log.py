"""The security audit log: every wired path writes its event, with who, what and from where."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from accounts import audit
from accounts.models import SecurityEvent
from accounts.roles import Role
from accounts.tasks import purge_security_events
from tests.grids.test_orgfile_import import GOOD, HEADER, admin_upload

Kind = SecurityEvent.Kind
PASSWORD = "pw-Secret-123"
BROWSER = "Mozilla/5.0 (test) Chromium"


def events(kind):
    return list(SecurityEvent.objects.filter(kind=kind).order_by("pk"))


@pytest.mark.django_db
class TestLogins:
    def test_admin_login_and_logout_are_recorded_with_address_and_browser(self, people, client):
        user = people[Role.STREET_STAFF]
        response = client.post(
            "/admin/login/?next=/admin/",
            {"username": user.username, "password": PASSWORD},
            REMOTE_ADDR="203.0.113.7",
            HTTP_USER_AGENT=BROWSER,
        )
        assert response.status_code == 302
        (login,) = events(Kind.LOGIN)
        assert (login.actor, login.actor_name, login.ip_address, login.user_agent) == (
            user,
            user.username,
            "203.0.113.7",
            BROWSER,
        )
        assert login.detail == {"via": "web"}

        client.post("/admin/logout/", REMOTE_ADDR="203.0.113.7")
        (logout,) = events(Kind.LOGOUT)
        assert logout.actor == user and logout.ip_address == "203.0.113.7"

    def test_failed_login_keeps_the_name_tried_never_the_password(self, people, client):
        user = people[Role.STREET_STAFF]
        client.post("/admin/login/", {"username": user.username, "password": "Guess-Me-42"}, REMOTE_ADDR="198.51.100.9")
        client.post("/admin/login/", {"username": "nobody-here", "password": "Guess-Me-43"}, REMOTE_ADDR="198.51.100.9")
        first, second = events(Kind.LOGIN_FAILED)
        assert (first.actor, first.actor_name, first.target, first.ip_address) == (
            None,
            user.username,
            user.username,
            "198.51.100.9",
        )
        assert second.actor_name == "nobody-here"
        stored = json.dumps([e.detail for e in (first, second)]) + first.target + second.target
        assert "Guess-Me" not in stored and "*****" not in stored
        assert not events(Kind.LOGIN)

    def test_lockout_is_recorded(self, people, client):
        user = people[Role.STREET_STAFF]
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post("/admin/login/", {"username": user.username, "password": "wrong"}, REMOTE_ADDR="192.0.2.1")
        response = client.post(
            "/admin/login/", {"username": user.username, "password": PASSWORD}, REMOTE_ADDR="192.0.2.1"
        )
        assert response.status_code == 429
        lockouts = events(Kind.LOCKOUT)
        assert lockouts and {e.actor_name for e in lockouts} == {user.username}
        assert lockouts[0].ip_address == "192.0.2.1"
        assert not events(Kind.LOGIN)

    def test_api_token_is_a_login_and_a_wrong_password_a_failure(self, people, client):
        user = people[Role.GRID_WORKER]
        bad = client.post(
            "/api/v1/auth/token/", {"username": user.username, "password": "nope"}, REMOTE_ADDR="192.0.2.8"
        )
        assert bad.status_code == 400
        good = client.post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD})
        assert good.status_code == 200
        (failed,) = events(Kind.LOGIN_FAILED)
        assert failed.actor_name == user.username and failed.detail == {"via": "api"}
        assert failed.ip_address == "192.0.2.8"
        (login,) = events(Kind.LOGIN)
        assert login.actor == user and login.detail == {"via": "api"}


@pytest.mark.django_db
class TestOrganisationImport:
    def test_accepted_import_records_counts_and_file(self, tree, people, client):
        street = people[Role.STREET_STAFF]
        client.force_login(street)
        assert admin_upload(client, GOOD, name="甲街道.csv").status_code == 302
        (event,) = events(Kind.ORG_IMPORT)
        assert event.actor == street and event.target == "甲街道.csv"
        assert event.detail["accepted"] is True
        assert event.detail["created"] == {"area": 2, "department": 1, "party": 1}
        assert event.detail["unchanged"] == 0

    def test_refused_import_is_recorded_though_nothing_was_written(self, tree, people, client):
        street = people[Role.STREET_STAFF]  # street A tries to add a community to street B
        client.force_login(street)
        text = HEADER + "区域,社区,370702002002,乙二社区,370702002,,,,,\n"
        assert admin_upload(client, text).status_code == 400
        (event,) = events(Kind.ORG_IMPORT)
        assert event.actor == street and event.detail["accepted"] is False
        assert event.detail["errors"] == 1 and "370702002002" in event.detail["reason"]

    def test_unreadable_file_is_recorded_as_refused(self, tree, people, client):
        client.force_login(people[Role.STREET_STAFF])
        assert admin_upload(client, "just text", name="org.txt").status_code == 400
        (event,) = events(Kind.ORG_IMPORT)
        assert event.detail["accepted"] is False and event.target == "org.txt"

    def test_a_grid_worker_refused_at_the_door_leaves_no_import_event(self, tree, people, client):
        client.force_login(people[Role.GRID_WORKER])
        assert admin_upload(client, GOOD).status_code == 403
        assert not events(Kind.ORG_IMPORT)


@pytest.mark.django_db
class TestRetention:
    def test_purge_deletes_only_rows_past_the_retention(self, settings):
        settings.SECURITY_LOG_RETENTION_DAYS = 200
        old = audit.record(Kind.LOGIN, username="old")
        kept = audit.record(Kind.LOGIN, username="kept")
        now = timezone.now()
        SecurityEvent.objects.filter(pk=old.pk).update(at=now - dt.timedelta(days=201))
        SecurityEvent.objects.filter(pk=kept.pk).update(at=now - dt.timedelta(days=199))
        assert purge_security_events.apply().get() == 1
        assert list(SecurityEvent.objects.values_list("actor_name", flat=True)) == ["kept"]

    def test_purge_refuses_a_retention_below_180_days_set_at_run_time(self, settings):
        settings.SECURITY_LOG_RETENTION_DAYS = 30
        event = audit.record(Kind.LOGIN, username="x")
        SecurityEvent.objects.filter(pk=event.pk).update(at=timezone.now() - dt.timedelta(days=100))
        with pytest.raises(ImproperlyConfigured):
            audit.purge_expired()
        assert SecurityEvent.objects.filter(pk=event.pk).exists()

    def test_beat_runs_the_purge(self):
        tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
        assert "accounts.tasks.purge_security_events" in tasks

    @pytest.mark.parametrize(("days", "starts"), [("179", False), ("180", True), ("365", True)])
    def test_startup_refuses_a_retention_below_180_days(self, days, starts, tmp_path):
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "SECURITY_LOG_RETENTION_DAYS": days, "VAR_DIR": str(tmp_path)}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        result = subprocess.run(
            [sys.executable, "manage.py", "check"], cwd=root, env=env, capture_output=True, text=True, timeout=120
        )
        assert (result.returncode == 0) is starts, result.stderr[-2000:]
        if not starts:
            assert "SECURITY_LOG_RETENTION_DAYS is 179" in result.stderr and "180" in result.stderr
