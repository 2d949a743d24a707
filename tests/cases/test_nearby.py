"""Nearby open cases of the same category: what a reporter is offered first (GET /api/v1/cases/nearby/)."""

import pytest
from django.core.cache import cache

from accounts.models import User
from cases.models import Case, Category
from cases.nearby import nearby_open_cases
from cases.services import create_case
from demo.district import seed_demo
from grids.geometry import METRES_PER_DEGREE, to_shape
from tests.api_support import isolate_throttling, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings, tmp_path):
    isolate_throttling(monkeypatch)
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()


@pytest.fixture
def spot():
    """The centre of grid001's grid and cases around it."""
    seed_demo()
    worker = User.objects.get(username="grid001")
    grid = worker.posts.get().area
    centre = to_shape(grid.boundary).centroid
    lat, lng = round(centre.y, 6), round(centre.x, 6)
    manhole = Category.objects.get(code="0403")
    noise = Category.objects.get(code="0501")

    def report(category, north_metres, title):
        return create_case(
            actor=worker,
            title=title,
            description=title,
            category=category,
            grid=grid,
            latitude=f"{lat + north_metres / METRES_PER_DEGREE:.6f}",
            longitude=f"{lng:.6f}",
        )

    cases = {
        "here": report(manhole, 0, "井盖缺失"),
        "40m": report(manhole, 40, "井盖松动"),
        "80m": report(manhole, 80, "井盖破损"),
        "noise": report(noise, 0, "夜间施工噪声"),
        "closed": report(manhole, 10, "井盖已补"),
    }
    Case.objects.filter(pk=cases["closed"].pk).update(status="dismissed")
    return {"lat": lat, "lng": lng, "category": manhole, "cases": cases}


def test_open_cases_of_the_category_within_50_m_nearest_first(spot, django_assert_max_num_queries):
    street = User.objects.get(username="street1")
    with django_assert_max_num_queries(2):
        found = nearby_open_cases(user=street, category=spot["category"], latitude=spot["lat"], longitude=spot["lng"])
    assert [c.pk for c in found] == [spot["cases"]["here"].pk, spot["cases"]["40m"].pk]
    assert [c.distance for c in found] == [0, 40]


def test_the_api_answers_in_scope_and_names_a_bad_parameter(spot):
    params = {"lat": spot["lat"], "lng": spot["lng"], "category": spot["category"].pk}
    mine = token_client(User.objects.get(username="street1")).get("/api/v1/cases/nearby/", params)
    assert mine.status_code == 200
    body = mine.json()
    assert body["metres"] == 50 and body["days"] == 30
    assert [r["number"] for r in body["results"]] == [spot["cases"]["here"].number, spot["cases"]["40m"].number]
    assert set(body["results"][0]) == {
        "id", "number", "title", "category", "status", "status_label", "address", "reported_at", "distance",
    }  # fmt: skip
    # Another street's official sees none of them: the same scope as the case list.
    other = token_client(User.objects.get(username="street2")).get("/api/v1/cases/nearby/", params)
    assert other.status_code == 200 and other.json()["results"] == []
    bad = token_client(User.objects.get(username="street1")).get(
        "/api/v1/cases/nearby/", {"lng": spot["lng"], "category": spot["category"].pk}
    )
    assert bad.status_code == 400 and "lat" in bad.json()
    assert token_client().get("/api/v1/cases/nearby/", params).status_code == 401
