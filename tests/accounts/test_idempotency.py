"""Idempotency-Key on the API's POSTs: a retry gets the first answer, nothing is done twice."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from accounts import idempotency
from accounts.models import IdempotencyKey
from accounts.roles import Role
from accounts.tasks import purge_idempotency_keys
from cases import services
from cases.models import Case, Category, DeadlineUnit
from tests.api_support import isolate_throttling, token_client

pytestmark = pytest.mark.django_db
TIMEOUT = 20


@pytest.fixture(autouse=True)
def _private_throttle_cache(monkeypatch):
    isolate_throttling(monkeypatch)


@pytest.fixture
def leaf(tree):
    group = Category.objects.create(code="01", name="矛盾纠纷调解")
    return Category.objects.create(
        code="0101",
        name="邻里纠纷",
        parent=group,
        default_tier="community",
        assess_limit=1,
        assess_unit=DeadlineUnit.WORKDAYS,
        handle_limit=5,
        handle_unit=DeadlineUnit.WORKDAYS,
        verify_limit=2,
        verify_unit=DeadlineUnit.WORKDAYS,
    )


def report(tree, leaf, **fields):
    return {
        "title": "楼道堆放杂物",
        "description": "三楼楼道堆放纸箱",
        "category": leaf.pk,
        "grid": tree.grid_a.code,
        **fields,
    }


def post(client, url, body, key):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_retried_create_answers_the_first_response_and_files_one_case(people, tree, leaf):
    client = token_client(people[Role.GRID_WORKER])
    first = post(client, "/api/v1/cases/", report(tree, leaf), "k-1")
    assert first.status_code == 201
    again = post(client, "/api/v1/cases/", report(tree, leaf), "k-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Case.objects.count() == 1
    # Without a key, or with another, it is a new request.
    assert post(client, "/api/v1/cases/", report(tree, leaf), "k-2").status_code == 201
    assert client.post("/api/v1/cases/", report(tree, leaf), format="json").status_code == 201
    assert Case.objects.count() == 3


def test_the_same_key_with_a_changed_body_is_422_and_does_nothing(people, tree, leaf):
    client = token_client(people[Role.GRID_WORKER])
    assert post(client, "/api/v1/cases/", report(tree, leaf), "k-1").status_code == 201
    changed = post(client, "/api/v1/cases/", report(tree, leaf, title="另一件事"), "k-1")
    assert changed.status_code == 422 and "Idempotency-Key" in changed.json()["detail"]
    assert Case.objects.count() == 1


def test_the_same_body_with_keys_in_another_order_is_the_same_request(people, tree, leaf):
    client = token_client(people[Role.GRID_WORKER])
    body = report(tree, leaf)
    assert post(client, "/api/v1/cases/", body, "k-1").status_code == 201
    reordered = dict(reversed(list(body.items())))
    assert post(client, "/api/v1/cases/", reordered, "k-1").status_code == 201
    assert Case.objects.count() == 1


def test_different_clients_with_the_same_key_are_independent(people, tree, leaf, make_user):
    other = make_user(Role.GRID_WORKER, area=tree.grid_a, username="grid_a2")
    mine = post(token_client(people[Role.GRID_WORKER]), "/api/v1/cases/", report(tree, leaf), "shared")
    theirs = post(token_client(other), "/api/v1/cases/", report(tree, leaf), "shared")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert Case.objects.count() == 2


def test_a_refused_request_keeps_no_answer_so_the_corrected_retry_may_use_the_key(people, tree, leaf):
    client = token_client(people[Role.GRID_WORKER])
    bad = post(client, "/api/v1/cases/", report(tree, leaf, description=""), "k-1")
    assert bad.status_code == 400
    assert not IdempotencyKey.objects.exists()
    assert post(client, "/api/v1/cases/", report(tree, leaf), "k-1").status_code == 201


def test_a_retried_step_replays_its_answer_instead_of_a_conflict(people, tree, leaf):
    case = services.create_case(
        actor=people[Role.GRID_WORKER], title="t", description="d", category=leaf, grid=tree.grid_a
    )
    client = token_client(people[Role.COMMUNITY_STAFF])
    url = f"/api/v1/cases/{case.pk}/transitions/assess/"
    first = post(client, url, {"comment": "属实"}, "step-1")
    assert first.status_code == 200 and first.json()["status"] == "assessed"
    again = post(client, url, {"comment": "属实"}, "step-1")
    assert again.status_code == 200 and again.json() == first.json()
    # The key is bound to its case: the same key on another case's step is another request.
    other = services.create_case(
        actor=people[Role.GRID_WORKER], title="t", description="d", category=leaf, grid=tree.grid_a
    )
    moved = post(client, f"/api/v1/cases/{other.pk}/transitions/assess/", {"comment": "属实"}, "step-1")
    assert moved.status_code == 422
    other.refresh_from_db()
    assert other.status == "reported"


@pytest.mark.parametrize("key", ["", "x" * 256, "键"])
def test_a_bad_key_is_400_naming_the_header(people, tree, leaf, key):
    response = post(token_client(people[Role.GRID_WORKER]), "/api/v1/cases/", report(tree, leaf), key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()
    assert not Case.objects.exists()


def test_after_the_window_the_key_is_new_and_beat_deletes_old_rows(people, tree, leaf):
    client = token_client(people[Role.GRID_WORKER])
    assert post(client, "/api/v1/cases/", report(tree, leaf), "k-1").status_code == 201
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert post(client, "/api/v1/cases/", report(tree, leaf), "k-1").status_code == 201
    assert Case.objects.count() == 2
    assert IdempotencyKey.objects.count() == 1
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert purge_idempotency_keys() == 1
    assert not IdempotencyKey.objects.exists()


def test_the_key_stays_with_its_client_a_stranger_cannot_read_its_answer(people, tree, leaf):
    """A stranger guessing another client's key gets their own (new) request handled, never the first answer."""
    first = post(token_client(people[Role.GRID_WORKER]), "/api/v1/cases/", report(tree, leaf), "guessable")
    stranger = token_client(people[Role.STREET_LEADER])
    response = post(stranger, "/api/v1/cases/", report(tree, leaf), "guessable")
    assert response.get("Idempotent-Replayed") is None
    assert response.json() != first.json()


def test_a_system_retrying_an_intake_call_with_its_key(tree, leaf):
    from cases import external
    from cases.models import ExternalSystem, Source

    system = ExternalSystem(name="12345 市民热线", code="hotline", sources=[Source.HOTLINE])
    key = external.register_system(actor=None, system=system, areas=[tree.district], categories=[leaf.parent])
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION=f"System {key}")
    body = {"external_id": "c-1", "category": "0101", "description": "噪音扰民", "grid": tree.grid_a.code}
    assert post(client, "/api/v1/intake/", body, "i-1").status_code == 201
    replay = post(client, "/api/v1/intake/", body, "i-1")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert post(client, "/api/v1/intake/", {**body, "external_id": "c-2"}, "i-1").status_code == 422
    assert Case.objects.count() == 1
    assert IdempotencyKey.objects.get().user == system.service_user


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_identical_requests_racing_on_postgresql_file_one_case(postgres, people, tree, leaf, monkeypatch):
    """The second insert of the key waits on the unique index for the first transaction, then replays its answer."""
    create = services.create_case

    def slow_create(**kwargs):
        case = create(**kwargs)
        time.sleep(0.5)  # the twin arrives while this transaction still holds the key
        return case

    monkeypatch.setattr(services, "create_case", slow_create)
    worker = people[Role.GRID_WORKER]
    body = report(tree, leaf)
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    results = [None, None]

    def run(index):
        try:
            client = token_client(worker)
            barrier.wait()
            response = post(client, "/api/v1/cases/", body, "race-1")
            results[index] = (response.status_code, response.json(), response.get("Idempotent-Replayed"))
        except Exception as exc:  # noqa: BLE001 - reported below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    assert all(isinstance(r, tuple) for r in results), results
    assert [r[0] for r in results] == [201, 201]
    assert results[0][1] == results[1][1]
    assert sorted(str(r[2]) for r in results) == ["None", "true"]
    assert Case.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
    assert idempotency.purge_expired() == 0


def test_every_post_of_the_api_but_the_login_takes_an_idempotency_key():
    from tests.openapi_contract import generate_schema

    schema = generate_schema()
    posts = [path for path, operations in schema["paths"].items() if "post" in operations]
    missing = [
        path
        for path in posts
        if path != "/api/v1/auth/token/"
        and not any(p["name"] == "Idempotency-Key" for p in schema["paths"][path]["post"].get("parameters", []))
    ]
    assert len(posts) > 5 and missing == []
