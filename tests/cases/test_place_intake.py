"""Every way in finds the grid with the one locator: the API's latitude/longitude and the resident form."""

import pytest
from django.core.cache import cache

from accounts.models import User
from cases.models import Case, Category
from demo.district import seed_demo
from grids.geometry import to_shape
from grids.models import Area, Tier
from tests.api_support import isolate_throttling, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings, tmp_path):
    isolate_throttling(monkeypatch)
    settings.MEDIA_ROOT = tmp_path / "media"
    # The residents' limits and duplicate guard count on the shared cache: each test starts from zero.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def demo():
    seed_demo()


def _report(**place):
    return {
        "title": "井盖缺失",
        "description": "人行道井盖缺失，已有行人险些跌倒",
        "category": Category.objects.get(code="0403").pk,
        **place,
    }


def test_api_case_at_a_point_lands_in_the_grid_holding_it(demo):
    worker = User.objects.get(username="grid001")
    grid = worker.posts.get().area
    centre = to_shape(grid.boundary).centroid
    response = token_client(worker).post(
        "/api/v1/cases/", _report(latitude=f"{centre.y:.6f}", longitude=f"{centre.x:.6f}"), format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["grid"]["code"] == grid.code
    assert Case.objects.get().grid == grid


def test_api_refuses_a_point_outside_the_district_naming_the_field(demo):
    worker = User.objects.get(username="grid001")
    client = token_client(worker)
    outside = client.post("/api/v1/cases/", _report(latitude="36.500000", longitude="119.100000"), format="json")
    assert outside.status_code == 400
    assert "latitude" in outside.json()
    neither = client.post("/api/v1/cases/", _report(), format="json")
    assert neither.status_code == 400 and "grid" in neither.json()
    half = client.post("/api/v1/cases/", _report(latitude="36.700000"), format="json")
    assert half.status_code == 400 and "longitude" in half.json()
    assert not Case.objects.exists()


def test_api_point_in_another_street_is_refused_for_a_grid_worker(demo):
    """The locator finds the grid; whether the reporter may file there is still the service's (scope) decision."""
    worker = User.objects.get(username="grid001")
    far = Area.objects.filter(tier=Tier.GRID, code__startswith="370702006").first()
    centre = to_shape(far.boundary).centroid
    response = token_client(worker).post(
        "/api/v1/cases/", _report(latitude=f"{centre.y:.6f}", longitude=f"{centre.x:.6f}"), format="json"
    )
    assert response.status_code in (400, 403)
    assert not Case.objects.exists()


def test_resident_form_locates_the_map_point_and_offers_only_public_categories(demo, client):
    page = client.get("/report/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "井盖缺失" not in html or "市政设施损坏" in html
    for hidden in ("严重精神障碍患者", "刑满释放人员", "矫正对象", "吸毒人员帮教", "邪教"):
        assert hidden not in html
    grid = Area.objects.filter(tier=Tier.GRID).order_by("path")[5]
    centre = to_shape(grid.boundary).centroid
    response = client.post(
        "/report/",
        {
            "category": Category.objects.get(code="0404").pk,
            "description": "楼下空地堆放装修垃圾多日未清运",
            "latitude": f"{centre.y:.6f}",
            "longitude": f"{centre.x:.6f}",
            "address": "",
        },
    )
    assert response.status_code in (200, 302), response.content.decode()[:500]
    assert Case.objects.get().grid == grid


def test_resident_form_refuses_an_official_only_category(demo, client):
    grid = Area.objects.filter(tier=Tier.GRID).first()
    client.post(
        "/report/",
        {
            "category": Category.objects.get(code="0801").pk,
            "description": "有一名社区矫正对象失联",
            "grid": grid.pk,
        },
    )
    assert not Case.objects.exists()


def test_resident_point_near_a_grid_edge_asks_which_grid(demo, client):
    grid = Area.objects.filter(tier=Tier.GRID).order_by("path").first()
    neighbour = Area.objects.filter(parent=grid.parent, tier=Tier.GRID).exclude(pk=grid.pk).get()
    west, south, east, north = to_shape(grid.boundary).bounds
    shared_x = east if to_shape(neighbour.boundary).bounds[0] == east else west
    data = {
        "category": Category.objects.get(code="0404").pk,
        "description": "路口两个网格交界处堆放建筑垃圾",
        "latitude": f"{(south + north) / 2:.6f}",
        "longitude": f"{shared_x - 0.00005:.6f}" if shared_x == east else f"{shared_x + 0.00005:.6f}",
    }
    asked = client.post("/report/", data)
    assert asked.status_code == 400
    html = asked.content.decode()
    assert grid.name in html and neighbour.name in html
    assert html.count("<option") - html.count('<option value="">') < 40  # only the two grids to choose from
    assert not Case.objects.exists()
    assert client.post("/report/", {**data, "grid": neighbour.pk}).status_code == 302
    assert Case.objects.get().grid == neighbour


def test_the_report_map_serves_names_and_polygons_only(demo, client):
    response = client.get("/report/map.geojson")
    assert response.status_code == 200 and response["Content-Type"] == "application/geo+json"
    features = response.json()["features"]
    assert len(features) == 6 + 400
    assert {key for f in features for key in f["properties"]} == {"code", "name", "tier", "label"}


def test_admin_add_form_takes_a_map_point_instead_of_the_grid(demo, client):
    worker = User.objects.get(username="grid001")
    grid = worker.posts.get().area
    client.force_login(worker)
    centre = to_shape(grid.boundary).centroid
    form = {
        "title": "井盖缺失",
        "description": "人行道井盖缺失",
        "category": Category.objects.get(code="0403").pk,
        "address": "",
        "source": "grid_patrol",
        "priority": "normal",
    }
    far = to_shape(Area.objects.filter(tier=Tier.GRID, code__startswith="370702006").first().boundary).centroid
    refused = client.post("/admin/cases/case/add/", {**form, "latitude": f"{far.y:.6f}", "longitude": f"{far.x:.6f}"})
    assert refused.status_code == 200 and not Case.objects.exists()
    assert "latitude" in refused.context["adminform"].form.errors
    assert client.post("/admin/cases/case/add/", form).status_code == 200  # neither grid nor point
    added = client.post(
        "/admin/cases/case/add/", {**form, "latitude": f"{centre.y:.6f}", "longitude": f"{centre.x:.6f}"}
    )
    assert added.status_code == 302, added.context["adminform"].form.errors
    assert Case.objects.get().grid == grid
