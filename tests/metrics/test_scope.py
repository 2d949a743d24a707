"""A street official reads their street's figures and no other street's, on every path:
dashboard, exports, API. The public page is open to all, and holds aggregates only."""

from datetime import date

import pytest

from metrics import services
from tests.api_support import isolate_throttling, token_client

from .conftest import at

MARCH = "from=2026-03-01&to=2026-03-31"


@pytest.fixture(autouse=True)
def _private_throttle_cache(monkeypatch):
    isolate_throttling(monkeypatch)


@pytest.fixture
def recorded(dataset):
    services.snapshot_safety_index(actor=None, month=date(2026, 3, 1), now=at(4, 1, 1))
    return dataset


@pytest.fixture
def street_a(client, people):
    client.force_login(people["street_staff"])
    return client


def test_dashboard_is_the_users_street(recorded, street_a, tree):
    response = street_a.get(f"/admin/?{MARCH}")
    assert response.context["dashboard"].area == tree.street_a
    page = response.content.decode()
    for other in (tree.street_b.name, tree.community_b.name, tree.grid_b.name):
        assert other not in page
    assert response.context["dashboard"].kpis.value("reported") == 7


@pytest.mark.parametrize(
    "path",
    [
        "/admin/?area={code}&" + MARCH,
        "/admin/metrics/exportjob/kpis/?area={code}&" + MARCH,
        "/admin/metrics/exportjob/safety-index/?area={code}&month=2026-03",
    ],
)
def test_another_street_is_refused_in_the_back_office(recorded, street_a, tree, path):
    assert street_a.get(path.format(code=tree.street_b.code)).status_code == 403
    assert street_a.get(path.format(code=tree.grid_b.code)).status_code == 403


def test_another_streets_case_list_is_refused(recorded, street_a, tree):
    response = street_a.post("/admin/metrics/exportjob/cases/", {"area": tree.street_b.code, "from": "2026-03-01"})
    assert response.status_code == 403


def test_the_district_area_is_refused_to_a_street(recorded, street_a, tree):
    assert street_a.get(f"/admin/?area={tree.district.code}").status_code == 403


@pytest.mark.parametrize("endpoint", ["/api/v1/metrics/kpis/", "/api/v1/metrics/safety-index/"])
def test_another_street_is_refused_in_the_api(recorded, people, tree, endpoint):
    client = token_client(people["street_staff"])
    assert client.get(endpoint, {"area": tree.street_b.code}).status_code == 403
    assert client.get(endpoint, {"area": tree.district.code}).status_code == 403
    assert client.get(endpoint, {"area": tree.street_a.code}).status_code == 200


def test_street_leaders_and_departments_read_no_area(recorded, people, tree):
    for role in ("street_leader", "department_staff"):
        client = token_client(people[role])
        assert client.get("/api/v1/metrics/kpis/").status_code == 403
        assert client.get("/api/v1/metrics/kpis/", {"area": tree.grid_a.code}).status_code == 403


def test_safety_snapshots_in_the_admin_are_scoped(recorded, street_a, tree):
    response = street_a.get("/admin/metrics/safetyindexsnapshot/")
    assert response.status_code == 200
    codes = {row.area_code for row in response.context["cl"].result_list}
    assert codes == {tree.street_a.code, tree.community_a.code, tree.grid_a.code}


def test_public_page_needs_no_login_and_shows_aggregates_only(recorded, client, tree):
    from cases.models import Case

    Case.objects.filter(number="C1").update(contact_name="王先生", contact_phone="13900001111", address="金湖路8号")
    response = client.get("/public/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'lang="zh-Hans"' in page and 'name="viewport"' in page
    assert tree.street_a.name in page and tree.street_b.name in page and tree.community_b.name in page
    for private in ("王先生", "13900001111", "金湖路8号", "楼道堆放杂物", "C1"):
        assert private not in page
    disclosure = response.context["disclosure"]
    streets = {row.code: row for row in disclosure.streets}
    assert set(streets) == {tree.street_a.code, tree.street_b.code}
    assert response.headers.get("Cache-Control", "").startswith("max-age=")
