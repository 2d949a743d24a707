"""Patrols and household visits (巡查走访): recording, scope, editing, finding → case, the API and its bad input."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from cases import visits
from cases.models import Case, Source, Visit, VisitKind
from grids.models import Area, LinkedHousehold, PartyOrganization, PartyOrgKind, Tier
from tests.api_support import isolate_throttling, token_client

pytestmark = pytest.mark.django_db


def square(west, south, size=0.01):
    east, north = west + size, south + size
    return {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings, tmp_path):
    isolate_throttling(monkeypatch)
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def bounded(tree):
    """Grid A is the square at (119.10, 36.70), grid B the one east of it; nothing else is in the district."""
    tree.grid_a.boundary = square(119.10, 36.70)
    tree.grid_a.save()
    tree.grid_b.boundary = square(119.11, 36.70)
    tree.grid_b.save()
    return tree


INSIDE_A = ("36.705000", "119.105000")
INSIDE_B = ("36.705000", "119.115000")
OUTSIDE = ("36.750000", "119.300000")


def times(hours_ago=3, minutes=90):
    start = timezone.now() - dt.timedelta(hours=hours_ago)
    return start, start + dt.timedelta(minutes=minutes)


def record(actor, **overrides):
    start, end = times()
    params = {"kind": VisitKind.PATROL, "started_at": start, "ended_at": end, "households": 5, "people_met": 3}
    params.update(overrides)
    return visits.record_visit(actor=actor, **params)


def payload(**overrides):
    start, end = times()
    data = {
        "kind": "household",
        "started_at": start.isoformat(),
        "ended_at": end.isoformat(),
        "start_latitude": INSIDE_A[0],
        "start_longitude": INSIDE_A[1],
        "end_latitude": INSIDE_A[0],
        "end_longitude": INSIDE_A[1],
        "households": 6,
        "people_met": 9,
        "findings": "3号楼楼道堆放杂物，堵塞消防通道",
    }
    data.update(overrides)
    return data


# --- the service ----------------------------------------------------------------------------
def test_grid_from_the_start_point_and_scope_like_cases(bounded, people, make_user):
    worker = people[Role.GRID_WORKER]
    visit = record(worker, start_latitude=INSIDE_A[0], start_longitude=INSIDE_A[1])
    assert visit.grid == bounded.grid_a and visit.area_path == bounded.grid_a.path
    assert visit.recorded_by == worker
    for role in (Role.GRID_WORKER, Role.COMMUNITY_STAFF, Role.STREET_STAFF, Role.DISTRICT_STAFF, "superuser"):
        assert list(visits.visits_for(people[role])) == [visit], role
    worker_b = make_user(Role.GRID_WORKER, area=bounded.grid_b)
    for outsider in (worker_b, people[Role.DEPARTMENT_STAFF], people[Role.STREET_LEADER]):
        assert not visits.visits_for(outsider).exists()


def test_street_leader_records_in_the_grid_of_their_building_and_sees_only_their_own(bounded, people):
    leader = people[Role.STREET_LEADER]
    own = record(leader, grid=bounded.grid_a, building=bounded.building_a)
    record(people[Role.GRID_WORKER], grid=bounded.grid_a)
    assert list(visits.visits_for(leader)) == [own]
    with pytest.raises(PermissionDenied):
        record(leader, grid=bounded.grid_b)


def test_bad_input_names_the_field_and_saves_nothing(bounded, people, make_user):
    worker = people[Role.GRID_WORKER]
    start, end = times()
    cases = [
        ({"ended_at": start - dt.timedelta(minutes=1)}, "ended_at"),
        ({"ended_at": start + dt.timedelta(hours=25)}, "ended_at"),
        ({"start_latitude": OUTSIDE[0], "start_longitude": OUTSIDE[1], "grid": bounded.grid_a}, "start_latitude"),
        ({"end_latitude": OUTSIDE[0], "end_longitude": OUTSIDE[1], "grid": bounded.grid_a}, "end_latitude"),
        ({"start_latitude": INSIDE_A[0], "grid": bounded.grid_a}, "start_longitude"),
        ({"kind": VisitKind.HOUSEHOLD, "households": 0, "grid": bounded.grid_a}, "households"),
        ({"households": 501, "grid": bounded.grid_a}, "households"),
        ({"kind": "tea", "grid": bounded.grid_a}, "kind"),
        ({}, "grid"),
        ({"grid": bounded.community_a}, "grid"),
        ({"started_at": start - dt.timedelta(days=40), "ended_at": start - dt.timedelta(days=40)}, "started_at"),
    ]
    for overrides, field in cases:
        with pytest.raises(ValidationError) as exc:
            record(worker, **overrides)
        assert field in exc.value.message_dict, (overrides, exc.value.message_dict)
    other_building = Area.objects.create(
        tier=Tier.BUILDING, code="370702002001001001", name="乙一楼院", parent=bounded.grid_b
    )
    with pytest.raises(ValidationError) as exc:
        record(worker, grid=bounded.grid_a, building=other_building)
    assert "building" in exc.value.message_dict
    assert not Visit.objects.exists()


def test_attackers_another_grid_and_someone_elses_record(bounded, people, make_user):
    worker = people[Role.GRID_WORKER]
    with pytest.raises(PermissionDenied):
        record(worker, grid=bounded.grid_b)
    with pytest.raises(PermissionDenied):  # the start point picks grid B: still not theirs
        record(worker, start_latitude=INSIDE_B[0], start_longitude=INSIDE_B[1])
    with pytest.raises(PermissionDenied):  # department staff record no visits, even inside their street
        record(people[Role.DEPARTMENT_STAFF], grid=bounded.grid_a)
    visit = record(worker, grid=bounded.grid_a)
    for other in (people[Role.COMMUNITY_STAFF], make_user(Role.GRID_WORKER, area=bounded.grid_a)):
        with pytest.raises(PermissionDenied):
            visits.update_visit(actor=other, visit=visit, findings="改写")
    visits.update_visit(actor=worker, visit=visit, findings="路灯不亮", people_met=4)
    visit.refresh_from_db()
    assert (visit.findings, visit.people_met) == ("路灯不亮", 4)
    with pytest.raises(ValidationError) as exc:
        visits.update_visit(actor=worker, visit=visit, grid=bounded.grid_b)
    assert "grid" in exc.value.message_dict


def test_a_finding_becomes_a_linked_case_in_one_step(bounded, people, categories, make_user):
    worker = people[Role.GRID_WORKER]
    visit = record(
        worker, grid=bounded.grid_a, findings="井盖缺失", end_latitude=INSIDE_A[0], end_longitude=INSIDE_A[1]
    )
    case = visits.report_finding(actor=worker, visit=visit, title="井盖缺失", category=categories["dispute"])
    case.refresh_from_db()
    assert case.visit == visit and case.source == Source.GRID_PATROL and case.grid == bounded.grid_a
    assert case.description == "井盖缺失" and str(case.latitude) == INSIDE_A[0]
    assert list(visit.cases.all()) == [case]
    with pytest.raises(PermissionDenied):
        visits.report_finding(
            actor=make_user(Role.GRID_WORKER, area=bounded.grid_b),
            visit=visit,
            title="x",
            category=categories["dispute"],
        )
    with pytest.raises(ValidationError):  # the case's own rules still apply: nothing half-saved
        visits.report_finding(actor=worker, visit=visit, title=" ", category=categories["dispute"])
    assert Case.objects.count() == 1


def test_party_member_household_of_the_grid_only(bounded, people):
    household = PartyOrganization.objects.create(
        kind=PartyOrgKind.MEMBER_HOUSEHOLD, code="H1", name="甲一楼院党员中心户", area=bounded.building_a
    )
    LinkedHousehold.objects.create(party_household=household, building=bounded.building_a, households=8)
    visit = record(people[Role.GRID_WORKER], grid=bounded.grid_a, party_household=household, kind="household")
    assert visit.party_household == household
    with pytest.raises(ValidationError) as exc:
        record(people["superuser"], grid=bounded.grid_b, party_household=household)
    assert "party_household" in exc.value.message_dict
    branch = PartyOrganization.objects.create(
        kind=PartyOrgKind.GRID_BRANCH, code="P1", name="支部", area=bounded.grid_a
    )
    with pytest.raises(ValidationError):
        record(people[Role.GRID_WORKER], grid=bounded.grid_a, party_household=branch)
    other = LinkedHousehold(party_household=household, building=bounded.building_a, households=0)
    with pytest.raises(ValidationError) as exc:
        other.full_clean()
    assert "households" in exc.value.message_dict


# --- the API -------------------------------------------------------------------------------
def test_api_create_list_detail_and_photos(bounded, people, photo):
    worker = people[Role.GRID_WORKER]
    client = token_client(worker)
    response = client.post("/api/v1/visits/", payload(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["grid"]["code"] == bounded.grid_a.code and body["kind_display"] and body["may_change"] is True
    start, end = times()
    response = client.post(
        "/api/v1/visits/",
        {
            "kind": "patrol",
            "grid": bounded.grid_a.code,
            "started_at": start.isoformat(),
            "ended_at": end.isoformat(),
            "photos": [photo(), photo("b.png")],
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert len(response.json()["photos"]) == 2
    listed = token_client(people[Role.COMMUNITY_STAFF]).get("/api/v1/visits/").json()
    assert [row["kind"] for row in listed["results"]] == ["patrol", "household"]
    detail = token_client(people[Role.COMMUNITY_STAFF]).get(f"/api/v1/visits/{body['id']}/").json()
    assert detail["may_change"] is False and detail["findings"].startswith("3号楼")


def test_api_bad_input_is_400_naming_the_field(bounded, people):
    client = token_client(people[Role.GRID_WORKER])
    start, _end = times()
    for data, field in [
        (payload(ended_at=(start - dt.timedelta(hours=1)).isoformat()), "ended_at"),
        (payload(start_latitude=OUTSIDE[0], start_longitude=OUTSIDE[1], grid=bounded.grid_a.code), "start_latitude"),
        (payload(households=0), "households"),
        (payload(kind="tea"), "kind"),
        (payload(started_at="yesterday"), "started_at"),
        (payload(grid="999"), "grid"),
    ]:
        response = client.post("/api/v1/visits/", data, format="json")
        assert response.status_code == 400, (data, response.json())
        assert field in response.json(), response.json()
    assert client.get("/api/v1/visits/?month=2026-13").status_code == 400
    assert client.get("/api/v1/visits/?kind=tea").status_code == 400
    assert not Visit.objects.exists()


def test_api_attackers(bounded, people, make_user, categories):
    worker = people[Role.GRID_WORKER]
    response = token_client(worker).post("/api/v1/visits/", payload(grid=bounded.grid_b.code), format="json")
    assert response.status_code == 403
    response = token_client(worker).post(
        "/api/v1/visits/", payload(start_latitude=INSIDE_B[0], start_longitude=INSIDE_B[1]), format="json"
    )
    assert response.status_code == 403
    visit = record(worker, grid=bounded.grid_a)
    staff = token_client(people[Role.COMMUNITY_STAFF])
    assert staff.patch(f"/api/v1/visits/{visit.pk}/", {"findings": "x"}, format="json").status_code == 403
    outsider = token_client(make_user(Role.GRID_WORKER, area=bounded.grid_b))
    assert outsider.get(f"/api/v1/visits/{visit.pk}/").status_code == 404
    assert outsider.patch(f"/api/v1/visits/{visit.pk}/", {"findings": "x"}, format="json").status_code == 404
    finding = {"title": "x", "category": categories["dispute"].pk}
    assert outsider.post(f"/api/v1/visits/{visit.pk}/cases/", finding, format="json").status_code == 404
    own = token_client(worker).patch(f"/api/v1/visits/{visit.pk}/", {"findings": "路灯不亮"}, format="json")
    assert own.status_code == 200 and own.json()["findings"] == "路灯不亮"
    bad = token_client(worker).patch(
        f"/api/v1/visits/{visit.pk}/",
        {"ended_at": (visit.started_at - dt.timedelta(hours=1)).isoformat()},
        format="json",
    )
    assert bad.status_code == 400 and "ended_at" in bad.json()
    assert not Case.objects.exists()


def test_api_finding_to_case(bounded, people, categories, photo):
    worker = people[Role.GRID_WORKER]
    visit = record(worker, grid=bounded.grid_a, findings="路灯不亮", address="胜利街12号")
    response = token_client(worker).post(
        f"/api/v1/visits/{visit.pk}/cases/",
        {"title": "夜间路灯不亮", "category": categories["hazard"].pk, "photos": [photo()]},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["source"] == "grid_patrol" and body["address"] == "胜利街12号" and len(body["attachments"]) == 1
    assert Case.objects.get(pk=body["id"]).visit_id == visit.pk
    detail = token_client(worker).get(f"/api/v1/visits/{visit.pk}/").json()
    assert [c["number"] for c in detail["cases"]] == [body["number"]] and detail["case_count"] == 1
    bad = token_client(worker).post(f"/api/v1/visits/{visit.pk}/cases/", {"title": "x"}, format="json")
    assert bad.status_code == 400 and "category" in bad.json()


def test_api_filters_and_constant_queries(bounded, people, make_user):
    worker = people[Role.GRID_WORKER]
    other = make_user(Role.GRID_WORKER, area=bounded.grid_a)
    household = PartyOrganization.objects.create(
        kind=PartyOrgKind.MEMBER_HOUSEHOLD, code="H1", name="中心户", area=bounded.building_a
    )
    first = record(worker, grid=bounded.grid_a)
    record(other, grid=bounded.grid_a, kind="household", party_household=household, building=bounded.building_a)
    client = token_client(people[Role.STREET_STAFF])

    def ids(query):
        response = client.get(f"/api/v1/visits/{query}")
        assert response.status_code == 200, response.json()
        return len(response.json()["results"])

    assert ids("") == 2
    assert ids("?kind=household") == 1
    assert ids(f"?worker={other.pk}") == 1
    assert ids(f"?party_household={household.code}") == 1
    assert ids(f"?area={bounded.grid_a.code}") == 2
    # The month they were made in (three hours ago: another month just after local midnight).
    assert ids(f"?month={timezone.localtime(first.started_at):%Y-%m}") == 2
    assert ids("?month=2020-01") == 0
    assert client.get(f"/api/v1/visits/?area={bounded.grid_b.code}").status_code == 400  # outside scope

    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/visits/").status_code == 200
        return len(ctx.captured_queries)

    few = count_queries()
    for _ in range(8):
        record(other, grid=bounded.grid_a, kind="household", party_household=household, building=bounded.building_a)
    assert count_queries() == few


def test_photo_that_is_not_an_image_is_refused(bounded, people):
    from django.core.files.uploadedfile import SimpleUploadedFile

    start, end = times()
    response = token_client(people[Role.GRID_WORKER]).post(
        "/api/v1/visits/",
        {
            "kind": "patrol",
            "grid": bounded.grid_a.code,
            "started_at": start.isoformat(),
            "ended_at": end.isoformat(),
            "photos": [SimpleUploadedFile("x.png", b"<?php echo 1; ?>", content_type="image/png")],
        },
        format="multipart",
    )
    assert response.status_code == 400 and "photos" in response.json()
    assert not Visit.objects.exists()


def test_retried_posts_with_an_idempotency_key_do_the_work_once(bounded, people, categories):
    client = token_client(people[Role.GRID_WORKER])
    data = payload()
    first = client.post("/api/v1/visits/", data, format="json", HTTP_IDEMPOTENCY_KEY="visit-1")
    again = client.post("/api/v1/visits/", data, format="json", HTTP_IDEMPOTENCY_KEY="visit-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and Visit.objects.count() == 1
    changed = client.post("/api/v1/visits/", {**data, "households": 7}, format="json", HTTP_IDEMPOTENCY_KEY="visit-1")
    assert changed.status_code == 422 and Visit.objects.count() == 1
    url = f"/api/v1/visits/{first.json()['id']}/cases/"
    finding = {"title": "楼道堆物", "category": categories["dispute"].pk}
    one = client.post(url, finding, format="json", HTTP_IDEMPOTENCY_KEY="case-1")
    two = client.post(url, finding, format="json", HTTP_IDEMPOTENCY_KEY="case-1")
    assert one.status_code == two.status_code == 201 and one.json()["id"] == two.json()["id"]
    assert Case.objects.filter(visit_id=first.json()["id"]).count() == 1
