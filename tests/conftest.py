"""Shared fixtures: a small organisation tree, users per role, and service gates."""

import contextlib
import os
import signal

import pytest
from django.db import connection

from accounts.models import Post, User
from accounts.roles import Role
from accounts.services import save_post
from grids.models import Area, Department, Tier

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def need_service(name: str, available: bool, why: str = "") -> None:
    """Skip a test whose server is missing, or fail it when CI requires the server."""
    if available:
        return
    message = f"{name} is not available{': ' + why if why else ''}"
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {message}")
    pytest.skip(message)


@pytest.fixture
def postgres(db):
    need_service("PostgreSQL", connection.vendor == "postgresql", "set DATABASE_URL to a PostgreSQL database")


@pytest.fixture
def redis_url():
    url = os.environ.get("REDIS_URL", "")
    if url:
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        except redis.RedisError as exc:
            need_service("Redis", False, str(exc))
    need_service("Redis", bool(url), "set REDIS_URL")
    return url


@pytest.fixture(autouse=True)
def _fresh_locator():
    """Each test builds its own grids: a point → grid index built in an earlier test's (rolled back)
    database must not answer for this one. In production a boundary change is committed and bumps the
    shared version; a test's rollback bumps nothing, and SQLite hands out the same ids again."""
    from grids import locator

    locator._current.update(key=None, locator=None)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Each test builds its own cases: a hotspot list kept from another test's database would be wrong.
    settings.HOTSPOT_CACHE_SECONDS = 0
    settings.FIGURES_CACHE_SECONDS = 0
    settings.TODO_CACHE_SECONDS = 0
    settings.NAV_CACHE_SECONDS = 0  # the sidebar kept per worker: tests that want it set it


@pytest.fixture(autouse=True)
def _api_answers_match_the_schema(monkeypatch):
    """Every /api/v1/ response a test client receives (APIClient or Django's) must match the OpenAPI schema."""
    from django.test.client import Client

    from tests.openapi_contract import check_response

    send = Client.request

    def request(self, **request):
        response = send(self, **request)
        check_response(request, response)
        return response

    monkeypatch.setattr(Client, "request", request)


def pass_code_step(client, user):
    """Mark ``client``'s logged-in session as past the two-factor code step, the way django_otp.login
    does after a right code: the session names a confirmed device of the user (created if need be)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.twofactor import TOTP_DEVICE_NAME

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


@pytest.fixture(autouse=True)
def _force_login_passes_the_code_step(monkeypatch):
    """``client.force_login(user)`` gives a fully logged-in session also for users whose role requires
    two-factor login (district staff, superusers): it passes the code step with pass_code_step.
    Tests of the login itself go through the login form, or remove DEVICE_ID_SESSION_KEY after this."""
    from django.test.client import Client

    from accounts.twofactor import otp_required

    force_login = Client.force_login

    def force_login_past_code_step(self, user, backend=None):
        force_login(self, user, backend)
        if otp_required(user):
            pass_code_step(self, user)

    monkeypatch.setattr(Client, "force_login", force_login_past_code_step)


class Tree:
    """District 370702 with two streets, each with a community, a grid and a building."""

    def __init__(self):
        self.district = Area.objects.create(tier=Tier.DISTRICT, code="370702", name="示范区")
        self.street_a = Area.objects.create(tier=Tier.STREET, code="370702001", name="甲街道", parent=self.district)
        self.street_b = Area.objects.create(tier=Tier.STREET, code="370702002", name="乙街道", parent=self.district)
        self.community_a = Area.objects.create(
            tier=Tier.COMMUNITY, code="370702001001", name="甲一社区", parent=self.street_a, population=5000
        )
        self.community_b = Area.objects.create(
            tier=Tier.COMMUNITY, code="370702002001", name="乙一社区", parent=self.street_b, population=4000
        )
        self.grid_a = Area.objects.create(
            tier=Tier.GRID, code="370702001001001", name="甲一网格", parent=self.community_a, population=2500
        )
        self.grid_b = Area.objects.create(
            tier=Tier.GRID, code="370702002001001", name="乙一网格", parent=self.community_b, population=2000
        )
        self.building_a = Area.objects.create(
            tier=Tier.BUILDING, code="370702001001001001", name="甲一楼院", parent=self.grid_a
        )
        self.dept_district = Department.objects.create(name="区公安分局", code="GA", area=self.district)
        self.dept_a = Department.objects.create(name="甲街道执法中队", code="ZD-A", area=self.street_a)
        self.dept_b = Department.objects.create(name="乙街道执法中队", code="ZD-B", area=self.street_b)


@pytest.fixture
def tree(db):
    return Tree()


@pytest.fixture
def make_user(db):
    counter = {"n": 0}

    def make(role=None, *, area=None, department=None, supervisor=False, username=None, superuser=False):
        counter["n"] += 1
        user = User.objects.create_user(
            username=username or f"u{counter['n']}",
            password="pw-Secret-123",
            real_name=f"用户{counter['n']}",
            is_superuser=superuser,
            is_staff=superuser,
        )
        if role:
            save_post(
                actor=None,
                post=Post(user=user, role=role, area=area, department=department, is_supervisor=supervisor),
            )
        return User.objects.get(pk=user.pk)

    return make


@pytest.fixture
def role_groups(db):
    """The role groups as the migrations made them: a live-server test flushes the tables after it,
    the migrations' rows with them, and a later live-server test needs them back before its people."""
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import ROLE_PERMISSIONS, grant_group_permissions

    grant_group_permissions(Group, Permission, ROLE_PERMISSIONS)


@pytest.fixture
def people(tree, make_user):
    """One user per role, placed in street A's branch of the tree."""
    return {
        "superuser": make_user(superuser=True, username="root"),
        Role.DISTRICT_STAFF: make_user(Role.DISTRICT_STAFF, area=tree.district, username="district"),
        Role.STREET_STAFF: make_user(Role.STREET_STAFF, area=tree.street_a, username="street_a"),
        Role.COMMUNITY_STAFF: make_user(Role.COMMUNITY_STAFF, area=tree.community_a, username="community_a"),
        Role.GRID_WORKER: make_user(Role.GRID_WORKER, area=tree.grid_a, username="grid_a"),
        Role.STREET_LEADER: make_user(Role.STREET_LEADER, area=tree.building_a, username="leader_a"),
        Role.DEPARTMENT_STAFF: make_user(Role.DEPARTMENT_STAFF, department=tree.dept_a, username="dept_a"),
    }


@pytest.fixture
def broker_down():
    """Point the Celery app at a port where nothing listens, then restore it with fresh connection pools."""
    from kombu import pools as kombu_pools

    from gov_platform.celery import app

    def reset_pools():
        # Celery caches connection and producer pools built from the URL of their time.
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        app.amqp._producer_pool = None
        # kombu's registry keeps the closed pool under its URL and would hand it back
        # ("Acquire on closed pool") to the next test on the original broker.
        kombu_pools.reset()

    original = app.conf.broker_url
    reset_pools()
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    yield
    reset_pools()
    app.conf.broker_url = original


def _test_database_url():
    """DATABASE_URL of the database this test run uses, for processes the tests start."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{settings_dict.get('HOST') or '127.0.0.1'}:{settings_dict.get('PORT') or 5432}/{settings_dict['NAME']}"


@pytest.fixture
def celery_worker_process(tmp_path):
    """Start a real Celery worker (optionally with beat) on the configured broker and the test database."""
    import subprocess
    import sys
    from pathlib import Path

    from gov_platform.celery import app

    app.control.purge()  # nothing left over from earlier tests runs in this worker
    processes = []

    def start(*, beat=False, env=None):
        log = tmp_path / f"worker{len(processes)}.log"
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "gov_platform",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            f"--logfile={log}",
        ]
        if beat:
            command += ["--beat", f"--schedule={tmp_path / 'beat-schedule'}"]
        full_env = {**os.environ, "DATABASE_URL": _test_database_url(), **(env or {})}
        # A session of its own: with --beat the worker forks beat as a child, and a signal to the worker alone
        # (a test's SIGKILL) left that child running ticks against the test database after the run.
        process = subprocess.Popen(
            command,
            cwd=Path(__file__).resolve().parents[1],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        process.log = log
        process.signal_all = lambda sig, pid=process.pid: _signal_group(pid, sig)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.signal_all(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.signal_all(signal.SIGKILL)
    for process in processes:
        process.signal_all(signal.SIGKILL)  # whatever of the group outlived its worker (beat)


def _signal_group(pid: int, sig) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    """The calendar, the workflow and metrics settings, the categories and grids reports name and the dashboards'
    names of departments and categories are kept per process (cases.memo); each test's database starts clean,
    so must they."""
    from cases.calendar import forget_calendar
    from cases.models import forget_workflow_settings
    from cases.reference import forget_references
    from metrics import names
    from metrics.models import forget_metrics_settings

    kept = (forget_calendar, forget_workflow_settings, forget_metrics_settings, forget_references, names.forget)
    for forget in kept:
        forget()
    yield
    for forget in kept:
        forget()
