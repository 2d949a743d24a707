"""Hotspots (综合研判): same-category cases within 100 m and 90 days, ranked by count and growth, per scope;
on the dashboard and at GET /api/v1/metrics/hotspots/ (answers checked against the OpenAPI schema)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.roles import Role
from cases.hotspots import hotspots
from grids.geometry import METRES_PER_DEGREE
from metrics import selectors
from metrics.kpis import Period
from tests.api_support import isolate_throttling, token_client

from .conftest import make_case

BASE_LAT, BASE_LNG = 36.7100, 119.1000


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    isolate_throttling(monkeypatch)


def north(metres):
    return round(BASE_LAT + metres / METRES_PER_DEGREE, 6)


@pytest.fixture
def places(tree, metric_categories):
    """Street A: four 邻里纠纷 within 30 m lately (one there before), three more 1 km north lately, and a
    lone one 500 m away; two 治安隐患 (too few). Street B: three 邻里纠纷 at its own spot."""
    now = timezone.now()
    dispute, hazard = metric_categories["dispute"], metric_categories["hazard"]
    n = 0

    def case(grid, category, metres, days_ago, lng=BASE_LNG):
        nonlocal n
        n += 1
        return make_case(
            f"H{n}",
            grid=grid,
            category=category,
            status="reported",
            reported=now - timedelta(days=days_ago),
            latitude=north(metres),
            longitude=lng,
        )

    for metres, days in ((0, 2), (10, 5), (20, 30), (30, 60)):
        case(tree.grid_a, dispute, metres, days)
    case(tree.grid_a, dispute, 5, 120)  # the 90 days before
    case(tree.grid_a, dispute, 5, 200)  # older than both periods
    for metres in (1000, 1010, 1020):
        case(tree.grid_a, dispute, metres, 3)
    case(tree.grid_a, dispute, 500, 3)
    case(tree.grid_a, hazard, 0, 1)
    case(tree.grid_a, hazard, 10, 1)
    for metres in (0, 5, 10):
        case(tree.grid_b, dispute, metres, 4, lng=BASE_LNG + 0.05)


def test_clusters_ranked_by_count_then_growth(places, people, tree, metric_categories):
    found = hotspots(user=people["superuser"], area_path=tree.street_a.path)
    assert [(h.rank, h.category.code, h.count, h.previous, h.growth) for h in found] == [
        (1, "M101", 4, 1, 3),
        (2, "M101", 3, 0, 3),
    ]
    first = found[0]
    assert abs(first.latitude - north(15)) < 20 / METRES_PER_DEGREE and first.growth_percent == 300.0
    # A category filter, and a stricter minimum.
    assert hotspots(user=people["superuser"], area_path=tree.street_a.path, category=metric_categories["hazard"]) == []
    assert len(hotspots(user=people["superuser"], area_path=tree.district.path, min_cases=4)) == 1


def test_scope_street_official_sees_their_street_only(places, people, tree):
    street = people[Role.STREET_STAFF]
    mine = hotspots(user=street, area_path=tree.district.path)
    assert {h.count for h in mine} == {4, 3} and len(mine) == 2  # street B's spot is outside their scope
    everything = hotspots(user=people[Role.DISTRICT_STAFF], area_path=tree.district.path)
    assert len(everything) == 3


def test_the_api_answers_in_scope_and_403_for_another_street(places, people, tree):
    client = token_client(people[Role.STREET_STAFF])
    response = client.get("/api/v1/metrics/hotspots/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["area"]["code"] == tree.street_a.code and (body["metres"], body["days"]) == (100, 90)
    assert [(r["rank"], r["count"], r["previous"], r["growth"]) for r in body["results"]] == [
        (1, 4, 1, 3),
        (2, 3, 0, 3),
    ]
    assert client.get("/api/v1/metrics/hotspots/", {"area": tree.street_b.code}).status_code == 403
    assert client.get("/api/v1/metrics/hotspots/", {"category": "999999"}).status_code == 400
    district = token_client(people[Role.DISTRICT_STAFF]).get("/api/v1/metrics/hotspots/").json()
    assert len(district["results"]) == 3


def test_the_dashboard_lists_the_areas_hotspots(places, people, tree, client):
    board = selectors.dashboard(user=people[Role.STREET_STAFF], period=Period.month_to_date())
    assert [h.count for h in board.hotspots] == [4, 3]
    client.force_login(people[Role.STREET_STAFF])
    page = client.get("/admin/").content.decode()
    assert 'id="hotspots"' in page and "邻里纠纷" in page


def test_an_areas_hotspots_are_computed_once_for_everyone_who_reads_it(
    places, people, tree, settings, django_assert_max_num_queries
):
    from django.core.cache import cache

    settings.HOTSPOT_CACHE_SECONDS = 600
    cache.clear()
    street = people[Role.STREET_STAFF]
    first = selectors.area_hotspots(user=street, area=tree.street_a)
    # Seconds at a million cases: the next reader of the area (the district here) takes the list as it is;
    # only their scope is read.
    with django_assert_max_num_queries(2):
        again = selectors.area_hotspots(user=people[Role.DISTRICT_STAFF], area=tree.street_a, limit=1)
    assert [(h.rank, h.count, h.category.pk) for h in again] == [(h.rank, h.count, h.category.pk) for h in first[:1]]
    # Sharing never widens a scope: a street official still cannot read the district's or another street's.
    with pytest.raises(PermissionDenied):
        selectors.area_hotspots(user=street, area=tree.district)
    with pytest.raises(PermissionDenied):
        selectors.area_hotspots(user=street, area=tree.street_b)
    cache.clear()


def test_beat_renews_the_district_and_street_lists_before_anyone_asks(places, people, tree, settings):
    from django.core.cache import cache

    from metrics.tasks import warm_hotspots

    settings.HOTSPOT_CACHE_SECONDS = 600
    cache.clear()
    assert warm_hotspots() == {"areas": 3}  # the district and its two streets
    cached = cache.get(f"hotspots:{tree.street_a.path}:")
    assert [(h.count, h.previous) for h in cached] == [(4, 1), (3, 0)]
    settings.HOTSPOT_CACHE_SECONDS = 0
    assert warm_hotspots() == {"areas": 0}  # without a cache there is nothing to keep warm
    cache.clear()
