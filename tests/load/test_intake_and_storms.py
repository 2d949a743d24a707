"""Bounded load over a real HTTP server on loopback: concurrent intake and transition storms."""

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django_fsm_log.models import StateLog
from rest_framework.authtoken.models import Token

from accounts.roles import Role
from cases.models import Case

pytestmark = [pytest.mark.load, pytest.mark.django_db(transaction=True)]


def post(url, token, payload):
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback test server
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_200_concurrent_reports_none_lost_none_duplicated(live_server, people, tree, categories, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    token = Token.objects.create(user=people[Role.GRID_WORKER]).key
    payload = {
        "title": "并发上报",
        "description": "压测",
        "category": categories["dispute"].pk,
        "grid": tree.grid_a.code,
    }
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(
            pool.map(
                lambda i: post(f"{live_server.url}/api/v1/cases/", token, {**payload, "title": f"并发上报{i}"}),
                range(200),
            )
        )
    assert [status for status, _ in results].count(201) == 200, {s for s, _ in results}
    numbers = [body["number"] for _, body in results]
    assert len(set(numbers)) == 200
    assert Case.objects.filter(title__startswith="并发上报").count() == 200
    assert set(Case.objects.values_list("number", flat=True)) == set(numbers)
    assert StateLog.objects.filter(transition="report").count() == 200


def test_transition_storm_one_winner_per_case(live_server, people, make_case, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    cases = [make_case("reported") for _ in range(50)]
    tokens = [
        Token.objects.create(user=people[role]).key
        for role in (Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.DISTRICT_STAFF)
    ]
    tokens.append(Token.objects.create(user=people["superuser"]).key)
    jobs = []
    for case in cases:
        for i, token in enumerate(tokens):
            # Half try to assess, half to dismiss: every pair competes for the same "reported" state.
            if i % 2:
                jobs.append((case.pk, token, "dismiss", {"reason": "not_real", "comment": "不属实"}))
            else:
                jobs.append((case.pk, token, "assess", {"comment": "属实"}))
    barrier = threading.Barrier(len(tokens))

    def run(job):
        pk, token, name, body = job
        return pk, post(f"{live_server.url}/api/v1/cases/{pk}/transitions/{name}/", token, body)[0]

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        results = []
        for start in range(0, len(jobs), len(tokens)):
            barrier.reset()
            results += list(pool.map(run, jobs[start : start + len(tokens)]))
    by_case = {}
    for pk, status in results:
        by_case.setdefault(pk, []).append(status)
    for pk, statuses in by_case.items():
        assert statuses.count(200) == 1, (pk, statuses)
        assert statuses.count(409) == len(tokens) - 1, (pk, statuses)
    for case in cases:
        case.refresh_from_db()
        assert case.status in ("assessed", "dismissed")
        assert StateLog.objects.filter(object_id=case.pk).exclude(transition="report").count() == 1
