"""GET /api/v1/metrics/kpis/ and /api/v1/metrics/safety-index/: figures, bad parameters, missing months."""

from datetime import date

import pytest

from metrics import services
from tests.api_support import isolate_throttling, token_client

from .conftest import at

KPIS = "/api/v1/metrics/kpis/"
SAFETY = "/api/v1/metrics/safety-index/"


@pytest.fixture(autouse=True)
def _private_throttle_cache(monkeypatch):
    isolate_throttling(monkeypatch)


def test_kpis_of_the_district(dataset, people, tree):
    response = token_client(people["district_staff"]).get(KPIS, {"from": "2026-03-01", "to": "2026-03-31"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["area"]["code"] == tree.district.code
    assert body["period"] == {"from": "2026-03-01", "to": "2026-03-31"}
    assert body["previous_period"] == {"from": "2026-01-29", "to": "2026-02-28"}
    on_time = body["figures"]["on_time_rate"]
    assert on_time == {
        "label": "On-time handling rate",
        "unit": "percent",
        "value": 80.0,
        "previous": 50.0,
        "change": 30.0,
        "change_unit": "points",
        "numerator": 4.0,
        "denominator": 5,
    }
    assert body["figures"]["p90_hours_to_handle"]["value"] == 38.4
    assert body["figures"]["reported"]["change"] == 300.0
    assert [c["area"]["code"] for c in body["children"]] == [tree.street_a.code, tree.street_b.code]
    assert body["children"][0]["figures"]["reported"]["value"] == 7
    assert [(d["rank"], d["department"]["code"]) for d in body["departments"]] == [(1, "GA"), (2, "ZD-A")]


def test_kpis_default_to_the_users_area_this_month(dataset, people, tree):
    body = token_client(people["community_staff"]).get(KPIS).json()
    assert body["area"]["code"] == tree.community_a.code
    assert body["period"]["from"].endswith("-01")


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "2026-03-31", "to": "2026-03-01"}, "from"),
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2000-01-01", "to": "2026-01-01"}, "to"),
        ({"area": "999999"}, "area"),
    ],
)
def test_bad_parameters_answer_400_with_the_parameter(dataset, people, params, field):
    response = token_client(people["district_staff"]).get(KPIS, params)
    assert response.status_code == 400
    assert field in response.json()


def test_anonymous_is_refused(dataset):
    assert token_client().get(KPIS).status_code == 401


def test_safety_index(dataset, people, tree):
    services.snapshot_safety_index(actor=None, month=date(2026, 2, 1), now=at(3, 1, 1))
    services.snapshot_safety_index(actor=None, month=date(2026, 3, 1), now=at(4, 1, 1))
    client = token_client(people["district_staff"])
    body = client.get(SAFETY, {"month": "2026-03"}).json()
    assert body["month"] == "2026-03"
    assert body["area"] == {
        "code": tree.district.code,
        "name": tree.district.name,
        "tier": "district",
        "population": 0,
        "score": 97.22,
        "colour": "green",
        "rank": 1,
        "change": -2.06,
    }
    assert [(c["code"], c["score"], c["rank"]) for c in body["children"]] == [
        (tree.street_b.code, 98.5, 1),
        (tree.street_a.code, 96.2, 2),
    ]
    latest = client.get(SAFETY, {"area": tree.grid_a.code}).json()
    assert (latest["month"], latest["area"]["score"], latest["children"]) == ("2026-03", 96.2, [])
    assert client.get(SAFETY, {"month": "2025-03"}).status_code == 404
    assert client.get(SAFETY, {"month": "2026-3"}).json().keys() == {"month"}
