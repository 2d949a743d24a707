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

    # The page's own five, the safety index's two and the hotspots' three, whatever the number of cases.
    with django_assert_max_num_queries(18):
        response = _data(client)
    assert response.status_code == 200
    features = response.json()["features"]
    grids = [f for f in features if f["properties"].get("tier") == "grid"]
    points = [f for f in features if f["properties"].get("number")]
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


def test_zoomed_out_the_server_counts_cases_per_cell(demo, client, django_assert_max_num_queries):
    """At 1,000,000 cases a view must stay a few thousand features: below the detail zoom cells, never dots."""
    from cases.maps import MAX_CELLS

    client.force_login(User.objects.get(username="admin"))
    with django_assert_max_num_queries(18):
        data = _data(client, zoom="12").json()
    cells = [f for f in data["features"] if "cluster" in f["properties"]]
    assert data["clustered"] and cells and len(cells) <= MAX_CELLS
    assert not any(f["properties"].get("number") for f in data["features"])
    located = Case.objects.filter(status__in=OPEN_STATUSES, latitude__isnull=False)
    assert sum(c["properties"]["cluster"] for c in cells) == located.count()
    # Only the points, for a moving map: no grids, and at the detail zoom only those in view.
    lat, lng = [float(v) for v in located.values_list("latitude", "longitude").first()]
    bbox = f"{lng - 0.001},{lat - 0.001},{lng + 0.001},{lat + 0.001}"
    near = _data(client, zoom="17", grids="0", bbox=bbox).json()["features"]
    assert near and all(f["properties"].get("number") for f in near)
    assert all(abs(f["geometry"]["coordinates"][1] - lat) <= 0.001 for f in near)
    # Zoomed out and moving, the cells count only the cases in view too.
    box = (lng - 0.01, lat - 0.01, lng + 0.01, lat + 0.01)
    moving = _data(client, zoom="14", grids="0", bbox=",".join(str(v) for v in box)).json()
    in_view = located.filter(latitude__range=(box[1], box[3]), longitude__range=(box[0], box[2])).count()
    assert moving["clustered"] and 0 < in_view < located.count()
    assert sum(f["properties"]["cluster"] for f in moving["features"]) == in_view


def test_filters_by_status_and_period(demo, client):
    client.force_login(User.objects.get(username="admin"))
    everything = _data(client, status="all", **{"from": ""}).json()["cases"]
    assert everything == Case.objects.count()
    closed = _data(client, status="closed", **{"from": ""}).json()["cases"]
    assert closed == Case.objects.filter(status="closed").count()
    from django.utils import timezone

    today = timezone.localdate()
    recent = _data(client, status="all", **{"from": (today.replace(day=1)).isoformat()}).json()["cases"]
    assert recent == Case.objects.filter(reported_at__date__gte=today.replace(day=1)).count() <= everything
    # A value that does not parse is no filter, never an error.
    assert _data(client, status="nonsense", zoom="x", bbox="1,2").status_code == 200


def test_history_without_a_period_shows_the_last_days_and_says_so(demo, client, settings):
    from datetime import timedelta

    from django.utils import timezone

    from metrics.kpis import start_of_day

    settings.MAP_HISTORY_DAYS = 90
    client.force_login(User.objects.get(username="admin"))
    long_ago = timezone.now() - timedelta(days=200)
    old_closed = list(Case.objects.filter(status="closed").values_list("pk", flat=True)[:5])
    old_open = list(Case.objects.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True)[:3])
    assert old_closed and old_open
    Case.objects.filter(pk__in=old_closed + old_open).update(reported_at=long_ago)
    since = timezone.localdate() - timedelta(days=90)
    recent = Case.objects.filter(reported_at__gte=start_of_day(since))

    assert _data(client, status="all").json()["cases"] == recent.count() == Case.objects.count() - 8
    assert _data(client, status="closed").json()["cases"] == recent.filter(status="closed").count()
    # Cleared on purpose, or any period given: no window.
    assert _data(client, status="all", **{"from": ""}).json()["cases"] == Case.objects.count()
    assert _data(client, status="all", to=timezone.localdate().isoformat()).json()["cases"] == Case.objects.count()
    # Open work is shown however old it is.
    assert _data(client).json()["cases"] == Case.objects.filter(status__in=OPEN_STATUSES).count()

    page = client.get("/admin/map/", {"status": "all"}).content.decode()
    assert f'name="from" value="{since.isoformat()}"' in page
    assert f"from={since.isoformat()}" in page  # the data the map loads has the same window
    assert "只显示近 90 天报告的案件" in page
    assert "只显示近" not in client.get("/admin/map/").content.decode()
    assert "只显示近" not in client.get("/admin/map/", {"status": "all", "from": ""}).content.decode()
