"""The officials' case map: only the user's areas and cases, no personal data, 403 for another street."""

import pytest

from accounts.models import User
from cases.models import OPEN_STATUSES, Case
from demo.bulk import seed_bulk
from demo.district import seed_demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    seed_demo()
    seed_bulk(cases=300, months=2)


def _data(client, **params):
    return client.get("/admin/map/data.geojson", params)


def test_a_street_official_sees_their_street_only(demo, client, django_assert_max_num_queries):
    client.force_login(User.objects.get(username="street1"))
    page = client.get("/admin/map/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "城关街道" in html and "南关街道" not in html
    assert '<script src="/static/grids/map.js" defer>' in html

    with django_assert_max_num_queries(12):
        response = _data(client)
    assert response.status_code == 200
    features = response.json()["features"]
    grids = [f for f in features if f["properties"].get("tier") == "grid"]
    points = [f for f in features if f["geometry"]["type"] == "Point"]
    assert grids and all(f["properties"]["code"].startswith("370702001") for f in grids)
    open_here = Case.objects.filter(status__in=OPEN_STATUSES, area_path__startswith="370702/370702001/")
    assert sum(f["properties"]["open"] for f in grids) == open_here.count() == response.json()["cases"]
    assert len(points) == open_here.filter(latitude__isnull=False).count() > 0
    # Nothing personal: the case's number, category, status and clock, and its admin link.
    assert {k for p in points for k in p["properties"]} == {"number", "category", "status", "clock", "url"}
    assert not any("contact" in str(p) or "王先生" in str(p) for p in points)

    assert _data(client, area="370702002").status_code == 403
    assert client.get("/admin/map/", {"area": "370702002"}).status_code == 403
    assert _data(client, area="370702001001").status_code == 200  # a community of their street


def test_a_grid_worker_sees_their_grid_and_a_category_filter_narrows(demo, client):
    worker = User.objects.get(username="grid001")
    client.force_login(worker)
    grid = worker.posts.get().area
    data = _data(client).json()
    assert [f["properties"]["code"] for f in data["features"] if f["properties"].get("tier") == "grid"] == [grid.code]
    assert _data(client, area="370702").status_code == 403
    some = Case.objects.filter(status__in=OPEN_STATUSES).values_list("category", flat=True).first()
    client.force_login(User.objects.get(username="admin"))
    narrowed = _data(client, category=some).json()
    assert narrowed["cases"] == Case.objects.filter(status__in=OPEN_STATUSES, category=some).count()


def test_the_map_needs_a_staff_login(demo, client):
    assert _data(client).status_code == 302
