"""Joint inspections in the API: scope like the admin pages, plan, report found (on the spot too), 400/403/404."""

import datetime as dt
import io

import pytest
from django.utils import timezone
from PIL import Image

from accounts.roles import Role
from cases.inspections import plan_inspection
from cases.models import Case, JointInspection, Source, Status
from tests.api_support import isolate_throttling, token_client


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings, tmp_path):
    isolate_throttling(monkeypatch)
    settings.MEDIA_ROOT = tmp_path / "media"


def png(name="p.png"):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = name
    return buffer


@pytest.fixture
def inspection(people, tree):
    return plan_inspection(
        actor=people[Role.STREET_STAFF],
        title="甲街道餐饮油烟联合巡查",
        area=tree.street_a,
        date=timezone.localdate() + dt.timedelta(days=1),
        leader=people[Role.STREET_STAFF],
        departments=[tree.dept_a],
    )


def test_list_and_detail_follow_scope(inspection, people, tree, make_user, categories):
    for who in (Role.DISTRICT_STAFF, Role.STREET_STAFF, Role.DEPARTMENT_STAFF):
        listed = token_client(people[who]).get("/api/v1/inspections/").json()
        assert [row["id"] for row in listed] == [inspection.pk], who
    street_b = make_user(Role.STREET_STAFF, area=tree.street_b)
    client = token_client(street_b)
    assert client.get("/api/v1/inspections/").json() == []
    assert client.get(f"/api/v1/inspections/{inspection.pk}/").status_code == 404
    response = client.post(
        f"/api/v1/inspections/{inspection.pk}/cases/",
        {"title": "x", "description": "x", "category": categories["dispute"].pk, "grid": tree.grid_a.code},
        format="json",
    )
    assert response.status_code == 404 and not Case.objects.exists()
    detail = token_client(people[Role.STREET_STAFF]).get(f"/api/v1/inspections/{inspection.pk}/").json()
    assert detail["area"] == tree.street_a.code and detail["cases"] == [] and detail["found"] == 0


def test_plan_through_the_api(people, tree):
    client = token_client(people[Role.STREET_STAFF])
    body = {
        "title": "联合执法",
        "area": tree.street_a.code,
        "date": (timezone.localdate() - dt.timedelta(days=1)).isoformat(),
        "leader": people[Role.STREET_STAFF].pk,
        "departments": [tree.dept_a.pk],
    }
    response = client.post("/api/v1/inspections/", body, format="json")
    assert response.status_code == 400 and "date" in response.json()
    body["date"] = (timezone.localdate() + dt.timedelta(days=3)).isoformat()
    body["departments"] = [tree.dept_b.pk]  # serves street B
    response = client.post("/api/v1/inspections/", body, format="json")
    assert response.status_code == 400 and "departments" in response.json()
    assert not JointInspection.objects.exists()
    # A community does not plan a street's inspection: 403, nothing saved.
    body["departments"] = [tree.dept_a.pk]
    response = token_client(people[Role.COMMUNITY_STAFF]).post("/api/v1/inspections/", body, format="json")
    assert response.status_code == 403 and not JointInspection.objects.exists()
    response = client.post("/api/v1/inspections/", body, format="json")
    assert response.status_code == 201, response.content
    assert (
        response.json()["title"] == "联合执法" and JointInspection.objects.get().planned_by == people[Role.STREET_STAFF]
    )


def test_report_found_and_handle_on_the_spot(inspection, people, tree, categories, make_user):
    dept = token_client(people[Role.DEPARTMENT_STAFF])
    url = f"/api/v1/inspections/{inspection.pk}/cases/"
    response = dept.post(
        url,
        {
            "title": "油烟直排",
            "description": "烧烤店无净化设施",
            "category": categories["dispute"].pk,
            "grid": tree.grid_a.code,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    found = Case.objects.get(pk=response.json()["id"])
    assert (found.source, found.inspection_id, found.status) == (
        Source.JOINT_INSPECTION,
        inspection.pk,
        Status.REPORTED,
    )
    # On the spot without the after-photo: 400 naming it, nothing saved.
    before = Case.objects.count()
    response = dept.post(
        url,
        {
            "title": "占道经营",
            "description": "水果摊占道",
            "category": categories["dispute"].pk,
            "grid": tree.grid_a.code,
            "on_the_spot": True,
            "result": "当场劝离",
        },
        format="json",
    )
    assert response.status_code == 400 and "after_photos" in response.json()
    assert Case.objects.count() == before
    response = dept.post(
        url,
        {
            "title": "占道经营",
            "description": "水果摊占道",
            "category": categories["dispute"].pk,
            "grid": tree.grid_a.code,
            "on_the_spot": "true",
            "result": "当场劝离",
            "after_photos": [png()],
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    spot = Case.objects.get(pk=response.json()["id"])
    assert spot.status == Status.HANDLED and spot.handling_department == tree.dept_a
    # Outside the inspected street: 400 naming the grid.
    response = dept.post(
        url,
        {"title": "x", "description": "x", "category": categories["dispute"].pk, "grid": tree.grid_b.code},
        format="json",
    )
    assert response.status_code == 400 and "grid" in response.json()
    # Someone who sees the inspection but does not take part: 403.
    community = token_client(people[Role.COMMUNITY_STAFF])
    response = community.post(
        url,
        {"title": "x", "description": "x", "category": categories["dispute"].pk, "grid": tree.grid_a.code},
        format="json",
    )
    assert response.status_code == 403
    detail = token_client(people[Role.STREET_STAFF]).get(f"/api/v1/inspections/{inspection.pk}/").json()
    assert [(c["number"], c["status"]) for c in detail["cases"]] == [
        (found.number, Status.REPORTED),
        (spot.number, Status.HANDLED),
    ]
    assert detail["found"] == 2
