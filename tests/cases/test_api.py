"""The case REST API: scope per role, transitions and their answers, reports with photos, filters, query counts."""

import datetime
import io
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_fsm.signals import pre_transition
from django_fsm_log.models import StateLog
from PIL import Image
from rest_framework.throttling import UserRateThrottle

from accounts.roles import Role
from cases import services
from cases.models import Attachment, Case, Category, Status
from tests.api_support import isolate_throttling, token_client

ROLES = ["superuser", *Role]
GLOBAL_ROLES = {"superuser", Role.DISTRICT_STAFF}
# Roles whose scope is street A only; for them street B's cases are outside.
SCOPED_ROLES = [who for who in ROLES if who not in GLOBAL_ROLES]
DISPATCHERS = {"superuser", Role.DISTRICT_STAFF, Role.STREET_STAFF, Role.COMMUNITY_STAFF}
HANDLERS = {"superuser", Role.DEPARTMENT_STAFF}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings, tmp_path):
    isolate_throttling(monkeypatch)
    settings.MEDIA_ROOT = tmp_path / "media"


def url(case=None, *rest):
    base = "/api/v1/cases/"
    if case is None:
        return base
    pk = case.pk if hasattr(case, "pk") else case
    return base + "/".join([str(pk), *rest]) + "/"


def counts():
    return Case.objects.count(), Attachment.objects.count(), StateLog.objects.count()


# Each step: the status it starts from and the parameters the setup walk gives it.
WALK = {
    "reported": [],
    "assessed": ["assess"],
    "assigned": ["assess", "assign"],
    "handled": ["assess", "assign", "handle"],
    "fed_back": ["assess", "assign", "handle", "feed_back"],
    "rated": ["assess", "assign", "handle", "feed_back", "rate"],
    "dismissed": ["dismiss"],
}


@pytest.fixture
def case_at(tree, categories, people, photo):
    """A case in ``grid`` walked to ``status`` by the superuser; assigned cases go to the street's department."""

    def make(status="reported", *, grid=None, reporter=None, department=None, **fields):
        grid = grid or tree.grid_a
        department = department or (tree.dept_a if grid == tree.grid_a else tree.dept_b)
        case = services.create_case(
            actor=reporter or people["superuser"],
            title=fields.pop("title", "楼道堆放杂物"),
            description=fields.pop("description", "三楼楼道堆放纸箱"),
            category=fields.pop("category", categories["dispute"]),
            grid=grid,
            **fields,
        )
        params = {
            "assess": {},
            "assign": {"department": department},
            "handle": {"result": "已清理", "photos": [photo()]},
            "feed_back": {"comment": "核查属实"},
            "rate": {"rating": "satisfied"},
            "dismiss": {"reason": "not_real", "comment": "现场无此情况"},
        }
        for name in WALK[status]:
            case = services.transition_case(actor=people["superuser"], case=case, name=name, **params[name])
        case.refresh_from_db()
        assert case.status == status
        return case

    return make


# --- list and detail per role ---------------------------------------------------------
@pytest.fixture
def four_cases(case_at, tree, people):
    return {
        "a_by_leader": case_at(reporter=people[Role.STREET_LEADER]),
        "a_by_worker": case_at(reporter=people[Role.GRID_WORKER]),
        "a_at_dept": case_at("assigned"),
        "b": case_at(grid=tree.grid_b),
    }


VISIBLE = {
    "superuser": {"a_by_leader", "a_by_worker", "a_at_dept", "b"},
    Role.DISTRICT_STAFF: {"a_by_leader", "a_by_worker", "a_at_dept", "b"},
    Role.STREET_STAFF: {"a_by_leader", "a_by_worker", "a_at_dept"},
    Role.COMMUNITY_STAFF: {"a_by_leader", "a_by_worker", "a_at_dept"},
    Role.GRID_WORKER: {"a_by_leader", "a_by_worker", "a_at_dept"},
    # Street leaders see what they reported; departments what was handed to them.
    Role.STREET_LEADER: {"a_by_leader"},
    Role.DEPARTMENT_STAFF: {"a_at_dept"},
}


@pytest.mark.parametrize("who", ROLES)
def test_list_shows_exactly_the_cases_in_scope(people, four_cases, who):
    response = token_client(people[who]).get(url())
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {four_cases[key].pk for key in VISIBLE[who]}


@pytest.mark.parametrize("who", ROLES)
def test_detail_is_404_outside_scope(people, four_cases, who):
    client = token_client(people[who])
    for key, case in four_cases.items():
        response = client.get(url(case))
        expected = 200 if key in VISIBLE[who] else 404
        assert response.status_code == expected, (key, response.content)
        if expected == 200:
            assert response.json()["number"] == case.number


@pytest.mark.parametrize("who", ROLES)
def test_history_is_404_outside_scope(people, four_cases, who):
    client = token_client(people[who])
    for key, case in four_cases.items():
        assert client.get(url(case, "history")).status_code == (200 if key in VISIBLE[who] else 404)


def test_detail_shows_everything(people, case_at, tree, photo):
    case = case_at("handled", photos=[photo(), photo()])
    response = token_client(people[Role.COMMUNITY_STAFF]).get(url(case))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == Status.HANDLED
    assert body["category"]["id"] == case.category_id
    assert body["grid"]["code"] == tree.grid_a.code
    assert body["handling_unit"] == {
        "kind": "department",
        "id": tree.dept_a.pk,
        "name": tree.dept_a.name,
        "code": tree.dept_a.code,
    }
    assert body["result"] == "已清理"
    assert body["rework_count"] == 0
    assert body["deadlines"]["assess"] and body["deadlines"]["handle"] and body["deadlines"]["verify"]
    assert body["deadlines"]["current"] == body["deadlines"]["verify"]
    assert body["dispatcher_area"]["code"] == "370702"
    kinds = sorted(a["kind"] for a in body["attachments"])
    assert kinds == ["after", "before", "before"]
    assert all(a["url"].startswith("http://testserver/media/cases/") for a in body["attachments"])
    assert body["contact"]["masked"] is False


def test_a_missing_case_is_404(people):
    assert token_client(people["superuser"]).get(url(999999)).status_code == 404


# --- transitions per role ---------------------------------------------------------------
def _payload(name, case, tree, photo):
    """The body of each step for ``case``, and its format."""
    if name == "assign":
        department = tree.dept_a if case.grid_id == tree.grid_a.pk else tree.dept_b
        return {"department": department.pk, "comment": "派往执法中队"}, "json"
    if name == "handle":
        return {"result": "已清理", "photos": [photo()]}, "multipart"
    return {
        "assess": ({}, "json"),
        "dismiss": ({"reason": "not_real", "comment": "现场无此情况"}, "json"),
        "send_back": ({"comment": "不属于本单位"}, "json"),
        "reject": ({"comment": "仍有杂物"}, "json"),
        "feed_back": ({"comment": "核查属实"}, "json"),
        "rate": ({"rating": "basically"}, "json"),
    }[name]


STEPS = {
    # name: (from, to)
    "assess": ("reported", "assessed"),
    "dismiss": ("reported", "dismissed"),
    "assign": ("assessed", "assigned"),
    "send_back": ("assigned", "assessed"),
    "handle": ("assigned", "handled"),
    "reject": ("handled", "assigned"),
    "feed_back": ("handled", "fed_back"),
    "rate": ("fed_back", "rated"),
}


def _expected_inside(who, name):
    source = STEPS[name][0]
    allowed = HANDLERS if name in ("send_back", "handle") else DISPATCHERS
    if who in allowed:
        return 200
    if who == Role.DEPARTMENT_STAFF and source in ("reported", "assessed"):
        return 404  # not handed to the department (yet): it does not see the case
    return 403


@pytest.mark.parametrize("name", list(STEPS))
@pytest.mark.parametrize("who", ROLES)
def test_each_step_inside_scope(people, case_at, tree, photo, who, name):
    source, target = STEPS[name]
    # Reported by the street leader so that they see it and are refused with 403, not 404.
    case = case_at(source, reporter=people[Role.STREET_LEADER])
    before = counts()
    data, fmt = _payload(name, case, tree, photo)
    response = token_client(people[who]).post(url(case, "transitions", name), data, format=fmt)
    expected = _expected_inside(who, name)
    assert response.status_code == expected, response.content
    case.refresh_from_db()
    if expected == 200:
        assert response.json()["status"] == target
        assert case.status == target
        log = StateLog.objects.filter(object_id=case.pk).latest("pk")
        assert (log.transition, log.by_id) == (name, people[who].pk)
    else:
        assert case.status == source
        assert counts() == before


@pytest.mark.parametrize("name", list(STEPS))
@pytest.mark.parametrize("who", SCOPED_ROLES)
def test_each_step_outside_scope_is_404(people, case_at, tree, photo, who, name):
    source, _ = STEPS[name]
    case = case_at(source, grid=tree.grid_b)
    data, fmt = _payload(name, case, tree, photo)
    response = token_client(people[who]).post(url(case, "transitions", name), data, format=fmt)
    assert response.status_code == 404
    case.refresh_from_db()
    assert case.status == source


@pytest.mark.parametrize(
    ("who", "status", "expected"),
    [
        (Role.COMMUNITY_STAFF, "reported", {"assess", "dismiss"}),
        ("superuser", "reported", {"assess", "dismiss"}),
        (Role.GRID_WORKER, "reported", set()),
        (Role.STREET_LEADER, "reported", set()),
        (Role.STREET_STAFF, "assessed", {"assign"}),
        # The handling unit may also ask for more time or a suspension (cases/extensions.py).
        (Role.DEPARTMENT_STAFF, "assigned", {"send_back", "handle", "request_extension", "request_suspension"}),
        # The dispatcher may name an assisting unit (cases/joint.py); nobody owes it.
        (Role.COMMUNITY_STAFF, "assigned", {"add_assist"}),
        (Role.DISTRICT_STAFF, "handled", {"reject", "feed_back"}),
        # rate is the dispatcher's phone visit; close is the platform's, never offered.
        (Role.COMMUNITY_STAFF, "fed_back", {"rate"}),
        ("superuser", "dismissed", set()),
    ],
)
def test_available_transitions(people, case_at, who, status, expected):
    case = case_at(status, reporter=people[Role.STREET_LEADER])
    response = token_client(people[who]).get(url(case, "transitions"))
    assert response.status_code == 200
    assert {t["name"] for t in response.json()} == expected


@pytest.mark.parametrize("who", SCOPED_ROLES)
def test_available_transitions_outside_scope_is_404(people, case_at, tree, who):
    case = case_at(grid=tree.grid_b)
    assert token_client(people[who]).get(url(case, "transitions")).status_code == 404


def test_available_transitions_describe_their_forms(people, case_at, tree):
    case = case_at("reported")
    steps = {t["name"]: t for t in token_client(people[Role.COMMUNITY_STAFF]).get(url(case, "transitions")).json()}
    dismiss = {f["name"]: f for f in steps["dismiss"]["fields"]}
    assert steps["dismiss"]["target"] == "dismissed"
    assert steps["dismiss"]["label"]
    assert dismiss["reason"]["required"] is True
    assert dismiss["reason"]["type"] == "choice"
    assert {c["value"] for c in dismiss["reason"]["choices"]} == {"duplicate", "outside", "not_real"}
    assert dismiss["comment"]["required"] is True
    assert dismiss["duplicate_of"]["required"] is False
    assess = {f["name"]: f for f in steps["assess"]["fields"]}
    assert not any(f["required"] for f in assess.values())

    case = case_at("assessed")
    [assign] = token_client(people[Role.COMMUNITY_STAFF]).get(url(case, "transitions")).json()
    fields = {f["name"]: f for f in assign["fields"]}
    assert fields["department"]["type"] == "object_id"
    # Only departments serving the case's area are offered.
    assert {c["value"] for c in fields["department"]["choices"]} == {str(tree.dept_district.pk), str(tree.dept_a.pk)}

    case = case_at("assigned")
    [*handling] = token_client(people[Role.DEPARTMENT_STAFF]).get(url(case, "transitions")).json()
    handle = {f["name"]: f for f in next(t for t in handling if t["name"] == "handle")["fields"]}
    assert handle["result"]["required"] is True
    assert handle["photos"]["type"] == "files"


# --- transition answers: 200, 400, 403, 404, 409 -------------------------------------------
def test_handle_with_photos_returns_the_new_state(people, case_at, photo):
    case = case_at("assigned")
    response = token_client(people[Role.DEPARTMENT_STAFF]).post(
        url(case, "transitions", "handle"), {"result": "已清理", "photos": [photo(), photo()]}, format="multipart"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "handled"
    assert body["result"] == "已清理"
    assert [a["kind"] for a in body["attachments"]] == ["after", "after"]
    assert body["handler"] == people[Role.DEPARTMENT_STAFF].real_name


def test_send_back_answers_although_the_case_leaves_the_department(people, case_at):
    case = case_at("assigned")
    client = token_client(people[Role.DEPARTMENT_STAFF])
    response = client.post(url(case, "transitions", "send_back"), {"comment": "不属于本单位"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "assessed"
    assert response.json()["handling_unit"] is None
    assert client.get(url(case)).status_code == 404


def test_reject_counts_a_rework(people, case_at):
    case = case_at("handled")
    response = token_client(people[Role.STREET_STAFF]).post(
        url(case, "transitions", "reject"), {"comment": "仍有杂物"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["rework_count"] == 1


def test_dismiss_as_duplicate(people, case_at):
    original, case = case_at(), case_at()
    response = token_client(people[Role.COMMUNITY_STAFF]).post(
        url(case, "transitions", "dismiss"),
        {"reason": "duplicate", "duplicate_of": original.number, "comment": "重复上报"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["duplicate_of"] == original.number
    assert response.json()["dismiss_reason"] == "duplicate"


@pytest.mark.parametrize(
    ("status", "who", "name", "data", "field"),
    [
        ("reported", Role.COMMUNITY_STAFF, "dismiss", {"comment": "现场无此情况"}, "reason"),
        ("reported", Role.COMMUNITY_STAFF, "dismiss", {"reason": "not_real"}, "comment"),
        ("reported", Role.COMMUNITY_STAFF, "dismiss", {"reason": "not_real", "comment": "   "}, "comment"),
        ("reported", Role.COMMUNITY_STAFF, "dismiss", {"reason": "bogus", "comment": "x"}, "reason"),
        # From the service: a duplicate needs the original.
        ("reported", Role.COMMUNITY_STAFF, "dismiss", {"reason": "duplicate", "comment": "重复"}, "duplicate_of"),
        (
            "reported",
            Role.COMMUNITY_STAFF,
            "dismiss",
            {"reason": "duplicate", "duplicate_of": "X", "comment": "x"},
            "duplicate_of",
        ),
        ("reported", Role.COMMUNITY_STAFF, "assess", {"priority": "extreme"}, "priority"),
        ("assessed", Role.COMMUNITY_STAFF, "assign", {"department": "999999"}, "department"),
        ("assigned", Role.DEPARTMENT_STAFF, "send_back", {}, "comment"),
        ("assigned", Role.DEPARTMENT_STAFF, "handle", {"result": "已清理"}, "photos"),
        ("assigned", Role.DEPARTMENT_STAFF, "handle", {"result": ""}, "result"),
        ("handled", Role.COMMUNITY_STAFF, "reject", {}, "comment"),
        ("handled", Role.COMMUNITY_STAFF, "feed_back", {"comment": ""}, "comment"),
        ("fed_back", Role.COMMUNITY_STAFF, "rate", {}, "rating"),
    ],
)
def test_bad_step_input_is_a_400_naming_the_field(people, case_at, status, who, name, data, field):
    case = case_at(status)
    before = counts()
    response = token_client(people[who]).post(url(case, "transitions", name), data, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert isinstance(response.json()[field], list)
    case.refresh_from_db()
    assert case.status == status
    assert counts() == before


def test_assign_to_a_department_that_does_not_serve_the_case_is_a_400(people, case_at, tree):
    case = case_at("assessed")
    response = token_client(people[Role.DISTRICT_STAFF]).post(
        url(case, "transitions", "assign"), {"department": tree.dept_b.pk}, format="json"
    )
    assert response.status_code == 400
    assert "department" in response.json()


def test_a_duplicate_outside_scope_is_not_found(people, case_at, tree):
    elsewhere, case = case_at(grid=tree.grid_b), case_at()
    response = token_client(people[Role.COMMUNITY_STAFF]).post(
        url(case, "transitions", "dismiss"),
        {"reason": "duplicate", "duplicate_of": elsewhere.number, "comment": "重复"},
        format="json",
    )
    assert response.status_code == 400
    assert "duplicate_of" in response.json()


def test_handle_with_a_fake_photo_saves_nothing(people, case_at):
    case = case_at("assigned")
    before = counts()
    fake = SimpleUploadedFile("after.png", b"this is text, not pixels", content_type="image/png")
    response = token_client(people[Role.DEPARTMENT_STAFF]).post(
        url(case, "transitions", "handle"), {"result": "已清理", "photos": [fake]}, format="multipart"
    )
    assert response.status_code == 400
    assert "photos" in response.json()
    case.refresh_from_db()
    assert case.status == "assigned"
    assert counts() == before


def test_a_json_array_body_is_a_400(people, case_at):
    case = case_at()
    response = token_client(people[Role.COMMUNITY_STAFF]).post(url(case, "transitions", "assess"), [1], format="json")
    assert response.status_code == 400


def test_unknown_step_is_404(people, case_at):
    case = case_at()
    response = token_client(people["superuser"]).post(url(case, "transitions", "teleport"), {}, format="json")
    assert response.status_code == 404


def test_a_step_on_a_missing_case_is_404(people):
    response = token_client(people["superuser"]).post(url(999999, "transitions", "assess"), {}, format="json")
    assert response.status_code == 404


def test_system_steps_are_refused_to_everyone(people, case_at):
    case = case_at("fed_back")
    response = token_client(people["superuser"]).post(url(case, "transitions", "close"), {}, format="json")
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.status == "fed_back"


def test_a_step_the_state_does_not_allow_is_409(people, case_at):
    case = case_at("reported")
    response = token_client(people["superuser"]).post(url(case, "transitions", "feed_back"), {"comment": "x"})
    assert response.status_code == 409
    assert response.json()["detail"]


def test_409_when_the_case_was_moved_meanwhile(people, case_at):
    case = case_at("reported")
    staff = people[Role.COMMUNITY_STAFF]
    client = token_client(staff)
    # The client loaded the case and its steps...
    assert {t["name"] for t in client.get(url(case, "transitions")).json()} == {"assess", "dismiss"}
    # ...a colleague assessed it in the admin meanwhile...
    services.transition_case(actor=people[Role.STREET_STAFF], case=Case.objects.get(pk=case.pk), name="assess")
    before = counts()
    # ...and the client's assess (or dismiss) now finds the case moved on.
    for name, data in [("assess", {}), ("dismiss", {"reason": "not_real", "comment": "x"})]:
        response = client.post(url(case, "transitions", name), data, format="json")
        assert response.status_code == 409, response.content
    case.refresh_from_db()
    assert case.status == "assessed"
    assert counts() == before


def test_409_for_the_loser_of_a_race(people, case_at):
    """Both requests passed the checks; the second to save loses (ConcurrentTransitionMixin)."""
    case = case_at("reported")

    def someone_else_dismisses_first(sender, instance, name, **kwargs):
        if instance.pk == case.pk and name == "assess":
            Case.objects.filter(pk=case.pk).update(status="dismissed")

    pre_transition.connect(someone_else_dismisses_first, sender=Case)
    try:
        response = token_client(people[Role.COMMUNITY_STAFF]).post(
            url(case, "transitions", "assess"), {}, format="json"
        )
    finally:
        pre_transition.disconnect(someone_else_dismisses_first, sender=Case)
    assert response.status_code == 409, response.content
    assert not StateLog.objects.filter(object_id=case.pk, transition="assess").exists()


def test_history(people, case_at):
    case = case_at("assigned", reporter=people[Role.GRID_WORKER])
    response = token_client(people[Role.COMMUNITY_STAFF]).get(url(case, "history"))
    assert response.status_code == 200
    rows = response.json()
    # The timeline also lists the notices sent (the assignment's); the steps are these, in order.
    assert {r["kind"] for r in rows} == {"report", "step", "notification"}
    rows = [r for r in rows if r["kind"] in ("report", "step")]
    assert [(r["transition"], r["from"], r["to"]) for r in rows] == [
        ("report", None, "reported"),
        ("assess", "reported", "assessed"),
        ("assign", "assessed", "assigned"),
    ]
    assert rows[0]["by"] == people[Role.GRID_WORKER].real_name
    assert rows[1]["by"] == people["superuser"].real_name
    assert all(r["timestamp"] and r["transition_label"] for r in rows)


def test_history_is_read_only(people, case_at):
    case = case_at()
    client = token_client(people["superuser"])
    assert client.post(url(case, "history"), {}, format="json").status_code == 405
    assert client.delete(url(case, "history")).status_code == 405
    assert client.put(url(case), {}, format="json").status_code == 405


# --- reporting ----------------------------------------------------------------------------------
def _report(categories, tree, **overrides):
    data = {
        "title": "路灯损坏",
        "description": "幸福路1号门口路灯不亮",
        "category": categories["dispute"].pk,
        "grid": tree.grid_a.code,
        "address": "幸福路1号",
        "latitude": "36.812345",
        "longitude": "118.054321",
        "contact_name": "张三",
        "contact_phone": "13812345678",
        "contact_email": "zhangsan@example.com",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_report_with_json(people, categories, tree):
    worker = people[Role.GRID_WORKER]
    before = counts()
    response = token_client(worker).post(url(), _report(categories, tree), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "reported"
    assert body["number"]
    assert body["grid"]["code"] == tree.grid_a.code
    assert body["source"] == "grid_patrol"
    assert body["priority"] == "normal"
    assert body["contact"] == {"name": "张三", "phone": "13812345678", "email": "zhangsan@example.com", "masked": False}
    assert body["deadlines"]["assess"]
    case = Case.objects.get(pk=body["id"])
    assert case.reporter == worker
    assert case.area_path == tree.grid_a.path
    assert counts() == (before[0] + 1, before[1], before[2] + 1)


def test_report_with_photos(people, categories, tree, photo):
    response = token_client(people[Role.GRID_WORKER]).post(
        url(), _report(categories, tree, photos=[photo(), photo("b.png")], priority="urgent"), format="multipart"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["priority"] == "urgent"
    assert [a["kind"] for a in body["attachments"]] == ["before", "before"]
    assert Attachment.objects.filter(case_id=body["id"]).count() == 2


def test_report_as_a_form_without_photos(people, categories, tree):
    response = token_client(people[Role.COMMUNITY_STAFF]).post(url(), _report(categories, tree), format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["attachments"] == []


def test_a_street_leader_reports_in_the_grid_of_their_building(people, categories, tree):
    response = token_client(people[Role.STREET_LEADER]).post(url(), _report(categories, tree), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "street_leader"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category": 999999}, "category"),
        ({"category": "group"}, "category"),
        ({"grid": "370702002001001"}, "grid"),  # street B's grid
        ({"grid": "999999999999999"}, "grid"),
        ({"grid": "370702001001"}, "grid"),  # a community, not a grid
        ({"title": None}, "title"),
        ({"title": "   "}, "title"),
        ({"description": ""}, "description"),
        ({"contact_email": "not-an-email"}, "contact_email"),
        ({"latitude": "36.1234567"}, "latitude"),
        ({"source": "telepathy"}, "source"),
    ],
)
def test_a_bad_report_is_a_400_and_saves_nothing(people, categories, tree, overrides, field):
    if overrides.get("category") == "group":
        overrides["category"] = categories["group"].pk
    before = counts()
    response = token_client(people[Role.GRID_WORKER]).post(url(), _report(categories, tree, **overrides), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert counts() == before


def test_an_inactive_category_is_refused(people, categories, tree):
    Category.objects.filter(pk=categories["dispute"].pk).update(is_active=False)
    response = token_client(people[Role.GRID_WORKER]).post(url(), _report(categories, tree), format="json")
    assert response.status_code == 400
    assert "category" in response.json()


def noisy_png(side=200) -> bytes:
    """A photo that does not compress: its size is about side² × 3 bytes."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


def _photo_cases(photo):
    return {
        "oversize": lambda: [photo(), photo("big.png", noisy_png())],
        "text renamed .png": lambda: [SimpleUploadedFile("x.png", b"GIF89a? no, plain text", content_type="image/png")],
        "four photos": lambda: [photo(), photo(), photo(), photo()],
        "one good, one fake": lambda: [photo(), SimpleUploadedFile("y.png", b"\x89PNG\r\n\x1a\nbroken")],
    }


@pytest.mark.parametrize("kind", ["oversize", "text renamed .png", "four photos", "one good, one fake"])
def test_bad_photos_are_a_400_and_save_nothing(people, categories, tree, photo, settings, kind):
    if kind == "oversize":
        settings.CASE_PHOTO_MAX_BYTES = 50_000
    before = counts()
    response = token_client(people[Role.GRID_WORKER]).post(
        url(), _report(categories, tree, photos=_photo_cases(photo)[kind]()), format="multipart"
    )
    assert response.status_code == 400, response.content
    assert "photos" in response.json()
    assert counts() == before


# --- personal data ----------------------------------------------------------------------------
@pytest.fixture
def resident_case(case_at, people):
    """Reported by the community on a resident's phone call, then handed to street A's department."""
    return case_at(
        "assigned",
        reporter=people[Role.COMMUNITY_STAFF],
        contact_name="张三丰",
        contact_phone="13812345678",
        contact_email="zhangsan@example.com",
    )


def test_contact_is_masked_for_those_who_do_not_need_it(people, resident_case):
    body = token_client(people[Role.GRID_WORKER]).get(url(resident_case)).json()
    assert body["contact"] == {"name": "张**", "phone": "138****5678", "email": "z***@example.com", "masked": True}


@pytest.mark.parametrize("who", ["superuser", Role.DISTRICT_STAFF, Role.COMMUNITY_STAFF, Role.DEPARTMENT_STAFF])
def test_contact_is_plain_for_dispatchers_and_the_handling_unit(people, resident_case, who):
    body = token_client(people[who]).get(url(resident_case)).json()
    assert body["contact"] == {
        "name": "张三丰",
        "phone": "13812345678",
        "email": "zhangsan@example.com",
        "masked": False,
    }


def test_the_list_carries_no_contact(people, resident_case):
    [row] = token_client(people[Role.GRID_WORKER]).get(url()).json()["results"]
    assert "contact" not in row
    assert "13812345678" not in str(row)


# --- filters --------------------------------------------------------------------------------
@pytest.fixture
def filter_cases(case_at, categories, tree, people):
    local = timezone.get_current_timezone()
    march = datetime.datetime(2024, 3, 1, 10, 0, tzinfo=local)
    made = {
        "march": case_at(address="幸福路1号", now=march, title="楼道堆放杂物"),
        "hazard": case_at(category=categories["hazard"], source="hotline", title="电动车楼道充电"),
        "b": case_at(grid=tree.grid_b, title="噪音扰民"),
        "assigned": case_at("assigned", title="占道经营"),
    }
    Case.objects.filter(pk=made["hazard"].pk).update(current_deadline=timezone.now() - datetime.timedelta(hours=1))
    return made


def _ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"march", "hazard", "b", "assigned"}),
        ({"status": ["assigned"]}, {"assigned"}),
        ({"status": ["reported", "assigned"]}, {"march", "hazard", "b", "assigned"}),
        ({"category": "hazard"}, {"hazard"}),
        ({"category": "hazard_group"}, {"hazard"}),
        ({"category": "group"}, {"march", "b", "assigned"}),
        ({"area": "370702002"}, {"b"}),
        ({"area": "370702001001001"}, {"march", "hazard", "assigned"}),
        # The March case's assess deadline passed long ago.
        ({"overdue": "true"}, {"march", "hazard"}),
        ({"overdue": "false"}, {"b", "assigned"}),
        ({"source": "hotline"}, {"hazard"}),
        ({"reported_from": "2024-03-01", "reported_to": "2024-03-01"}, {"march"}),
        ({"reported_to": "2024-02-29"}, set()),
        ({"reported_from": "2024-03-02"}, {"hazard", "b", "assigned"}),
        ({"q": "楼道"}, {"march", "hazard"}),
        ({"q": "幸福路"}, {"march"}),
    ],
)
def test_list_filters(people, categories, filter_cases, params, expected):
    params = dict(params)
    if "category" in params:
        params["category"] = categories[params["category"]].pk
    response = token_client(people[Role.DISTRICT_STAFF]).get(url(), params)
    assert _ids(response) == {filter_cases[key].pk for key in expected}


def test_search_by_number(people, filter_cases):
    case = filter_cases["b"]
    assert _ids(token_client(people["superuser"]).get(url(), {"q": case.number})) == {case.pk}


def test_waiting_for_me(people, filter_cases):
    community = token_client(people[Role.COMMUNITY_STAFF])
    assert _ids(community.get(url(), {"waiting": "true"})) == {filter_cases["march"].pk, filter_cases["hazard"].pk}
    assert _ids(community.get(url(), {"waiting": "false"})) == {filter_cases["assigned"].pk}
    department = token_client(people[Role.DEPARTMENT_STAFF])
    assert _ids(department.get(url(), {"waiting": "true"})) == {filter_cases["assigned"].pk}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"category": "999999"}, "category"),
        ({"category": "abc"}, "category"),
        ({"area": "370702002"}, "area"),  # street B: outside the community's scope
        ({"area": "nowhere"}, "area"),
        ({"overdue": "maybe"}, "overdue"),
        ({"waiting": "yes"}, "waiting"),
        ({"source": "rumour"}, "source"),
        ({"reported_from": "2024-13-01"}, "reported_from"),
        ({"reported_to": "yesterday"}, "reported_to"),
    ],
)
def test_bad_filter_values_are_a_400(people, filter_cases, params, field):
    response = token_client(people[Role.COMMUNITY_STAFF]).get(url(), params)
    assert response.status_code == 400
    assert field in response.json()


def test_the_area_filter_works_within_scope(people, filter_cases):
    response = token_client(people[Role.COMMUNITY_STAFF]).get(url(), {"area": "370702001001"})
    assert _ids(response) == {filter_cases[k].pk for k in ("march", "hazard", "assigned")}


# --- pagination and query counts -----------------------------------------------------------------
def clone_cases(template, n, *, tree, start=0):
    """``n`` copies of ``template`` in one INSERT; a third each assigned to a department or an area."""
    fields = {
        f.attname: getattr(template, f.attname)
        for f in Case._meta.concrete_fields
        if f.attname not in ("id", "number", "tracking_code")
    }
    rows = []
    for i in range(start, start + n):
        extra = {"number": f"T{i:010d}", "tracking_code": f"K{i:09d}"}
        if i % 3 == 1:
            extra |= {"status": Status.ASSIGNED, "handling_department_id": tree.dept_a.pk}
        elif i % 3 == 2:
            extra |= {"status": Status.ASSIGNED, "handling_area_id": tree.community_a.pk}
        # The status is a protected FSM field: it can only be given to the constructor.
        rows.append(Case(**(fields | extra)))
    Case.objects.bulk_create(rows)


def test_cursor_pages_without_counting(people, case_at, tree):
    clone_cases(case_at(), 119, tree=tree)
    client = token_client(people[Role.COMMUNITY_STAFF])
    seen, next_url, pages = [], url(), 0
    with CaptureQueriesContext(connection) as queries:
        while next_url:
            body = client.get(next_url).json()
            assert "count" not in body
            seen += [row["id"] for row in body["results"]]
            next_url, pages = body["next"], pages + 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 120
    assert seen == sorted(seen, reverse=True)
    assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)


def _queries(client, path, params=None):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, params or {})
    assert response.status_code == 200, response.content
    return len(queries), response


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status": ["reported", "assigned"], "category": "group", "area": "370702001001", "overdue": "false"},
        {"waiting": "true", "q": "楼道", "reported_from": "2020-01-01"},
    ],
)
def test_the_list_costs_the_same_for_10_or_500_cases(people, case_at, categories, tree, params):
    params = dict(params)
    if "category" in params:
        params["category"] = categories[params["category"]].pk
    client = token_client(people[Role.COMMUNITY_STAFF])
    template = case_at()
    clone_cases(template, 9, tree=tree)
    few, response = _queries(client, url(), params)
    if not params:
        assert len(response.json()["results"]) == 10
    clone_cases(template, 490, tree=tree, start=9)
    many, response = _queries(client, url(), params)
    if not params:
        assert len(response.json()["results"]) == 50
    assert few == many
    # Token, scope, the page; plus one look-up each for the area and category parameters.
    assert many <= 3 + ("area" in params) + ("category" in params), many


def test_detail_costs_the_same_with_1_or_3_photos(people, case_at, photo):
    client = token_client(people[Role.COMMUNITY_STAFF])
    one = case_at("assigned", photos=[photo()])
    three = case_at("assigned", photos=[photo(), photo(), photo()])
    few, response = _queries(client, url(one))
    assert len(response.json()["attachments"]) == 1
    many, response = _queries(client, url(three))
    assert len(response.json()["attachments"]) == 3
    assert few == many
    # Token, scope, the case with its relations, its photos, its escalations.
    assert many == 5, many


def test_user_throttling_applies(people, monkeypatch):
    monkeypatch.setitem(UserRateThrottle.THROTTLE_RATES, "user", "2/min")
    client = token_client(people[Role.GRID_WORKER])
    assert [client.get(url()).status_code for _ in range(3)] == [200, 200, 429]


# --- the responsibility list ------------------------------------------------------------------------
def test_categories_lists_groups_and_active_leaves(people, categories):
    Category.objects.create(code="0102", name="停用", parent=categories["group"], is_active=False)
    response = token_client(people[Role.GRID_WORKER]).get("/api/v1/categories/")
    assert response.status_code == 200
    rows = {row["code"]: row for row in response.json()}
    assert set(rows) == {"01", "0101", "02", "0201"}
    assert rows["01"]["is_leaf"] is False
    assert rows["01"]["deadlines"] is None
    assert rows["0101"]["parent"] == categories["group"].pk
    assert rows["0201"]["deadlines"]["handle"] == {"limit": 24, "unit": "hours"}
    assert rows["0201"]["default_department"] == categories["hazard"].default_department.name
    assert rows["0201"]["priority"] == "urgent"


def test_list_rows_match_the_declared_fields(people, case_at, tree):
    """The list's fast path renders exactly what the serializer's fields would."""
    from rest_framework import serializers as drf

    from cases.api.serializers import CaseListSerializer
    from cases.selectors import case_list_queryset

    case_at("assigned")
    case_at("reported")
    user = people[Role.COMMUNITY_STAFF]
    for case in case_list_queryset(user):
        fast = CaseListSerializer(case).data
        slow = drf.ModelSerializer.to_representation(CaseListSerializer(case), case)
        assert dict(fast) == dict(slow)


def test_report_fields_are_copied_per_serializer_and_bound_to_it_alone(people, categories, tree):
    """The report's fields are built once and copied for each request: each copy answers to its own serializer
    (its context, its request), the built ones stay unbound, and a bad report is refused field by field."""
    from rest_framework.test import APIRequestFactory

    from cases.api.serializers import CaseCreateSerializer

    requests = [APIRequestFactory().post("/api/v1/cases/") for _ in range(2)]
    first, second = (CaseCreateSerializer(data={}, context={"request": r}) for r in requests)
    for name in ("category", "grid", "title", "photos"):
        mine, theirs = first.fields[name], second.fields[name]
        assert mine is not theirs
        assert (mine.parent, theirs.parent) == (first, second)
        assert mine.context["request"] is requests[0] and theirs.context["request"] is requests[1]
    assert first.fields["photos"].child is not second.fields["photos"].child
    assert first.fields["photos"].child.root is first
    assert all(field.parent is None for field in CaseCreateSerializer._fields_built_once.values())

    bad = CaseCreateSerializer(
        data={"title": "x" * 300, "description": "", "category": 999999, "grid": "nope", "priority": "soon"}
    )
    assert not bad.is_valid()
    assert set(bad.errors) == {"title", "description", "category", "grid", "priority"}
    good = CaseCreateSerializer(
        data={
            "title": "楼道堆物",
            "description": "纸箱",
            "category": categories["dispute"].pk,
            "grid": tree.grid_a.code,
        }
    )
    assert good.is_valid(), good.errors
    assert good.validated_data["grid"] == tree.grid_a and good.validated_data["category"] == categories["dispute"]
    assert bad.fields["title"].parent is bad and good.fields["title"].parent is good


def test_detail_matches_the_declared_fields(people, case_at, categories, tree):
    """The detail's fast path (every report answers with it) renders exactly what the serializer's fields would:
    for a new report, one with photos, escalations, a dismissal as a duplicate, a moved clock and a point, read
    by someone who sees the contact and by someone who sees it masked."""
    from decimal import Decimal

    from rest_framework import serializers as drf
    from rest_framework.test import APIRequestFactory

    from cases.api.serializers import CaseDetailSerializer
    from cases.api.views import detail_queryset
    from cases.models import Escalation, EscalationLevel

    new = case_at("reported", category=categories["hazard"], latitude=Decimal("36.7"), longitude=Decimal("119.1"))
    handled = case_at("handled", contact_name="张先生", contact_phone="13912345678")
    dismissed = case_at("dismissed")
    Case.objects.filter(pk=dismissed.pk).update(duplicate_of=new)
    Escalation.objects.create(
        case=handled,
        level=EscalationLevel.WARNING,
        stage="handle",
        deadline=timezone.now(),
        notified_names="张三、李四",
        acknowledged_by=people["superuser"],
        acknowledged_at=timezone.now(),
    )
    cases = list(detail_queryset().filter(pk__in=[new.pk, handled.pk, dismissed.pk]))
    moved = detail_queryset().get(pk=handled.pk)
    moved.pending_request, moved.extended_until = "extension", moved.current_deadline
    moved.suspended_until = datetime.date(2026, 12, 24)
    cases.append(moved)
    assert any(c.attachments.all() for c in cases) and any(c.escalations.all() for c in cases)
    for user in (people["superuser"], people[Role.GRID_WORKER]):
        request = APIRequestFactory().get("/api/v1/cases/1/")
        request.user = user
        for case in cases:
            fast = CaseDetailSerializer(case, context={"request": request}).data
            slow = drf.ModelSerializer.to_representation(CaseDetailSerializer(case, context={"request": request}), case)
            assert list(fast) == list(slow)
            assert fast == slow
