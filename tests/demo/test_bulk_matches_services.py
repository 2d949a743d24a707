"""The bulk seeder writes only cases the services could have made: the same case built both ways is equal.

Each scenario is one plan (category, grid, moments, steps and who took them). The
services walk it with fixed ``now`` values while a sweep runs at every warning,
deadline and district point the case's running clock passes (as the minutely beat
does); ``demo.bulk.build_case`` replays the same plan. Every field both set, and the
escalation steps, must agree.
"""

import io
from datetime import date, datetime, timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_fsm_log.models import StateLog
from PIL import Image

from accounts.roles import Role
from cases.escalation import sweep
from cases.models import Case, Category, DeadlineUnit, Escalation, WorkCalendarDay, WorkflowSettings
from cases.services import create_case, transition_case
from demo.bulk import CasePlan, World, build_case

COMPARED = [
    "title",
    "description",
    "category_id",
    "grid_id",
    "area_path",
    "address",
    "source",
    "priority",
    "reporter_id",
    "contact_name",
    "contact_phone",
    "status",
    "dispatcher_area_id",
    "handling_department_id",
    "handling_area_id",
    "handler_id",
    "result",
    "dismiss_reason",
    "rating",
    "rating_comment",
    "rated_by_phone",
    "rework_count",
    "send_back_count",
    "assign_count",
    "reported_at",
    "assessed_at",
    "assigned_at",
    "handled_at",
    "fed_back_at",
    "closed_at",
    "assess_deadline",
    "handle_deadline",
    "verify_deadline",
    "stage_started_at",
    "current_deadline",
    "warn_at",
    "final_at",
]
# Tuesday before the National Day week: working-day clocks run across the holidays
# and the adjusted working Saturday after them.
T0 = timezone.make_aware(datetime(2025, 9, 30, 16, 20))
H = timedelta(hours=1)
D = timedelta(days=1)


def at(hours):
    return T0 + hours * H


# name: (category, rework limit, [(step, hours after T0, who, input)], now in hours after T0)
SCENARIOS = {
    "reported and left past every point": ("dispute", 2, [], 400),
    "dismissed": ("dispute", 2, [("dismiss", 3, "dispatcher", {"reason": "not_real"})], 500),
    "assessed, waiting past its deadline": ("dispute", 2, [("assess", 2, "dispatcher", {})], 218),
    "sent back, assigned again, past the warning": (
        "dispute",
        2,
        [
            ("assess", 1, "dispatcher", {}),
            ("assign", 2, "dispatcher", {}),
            ("send_back", 20, "handler", {}),
            ("assign", 30, "dispatcher", {}),
        ],
        260,
    ),
    "urgent, handled late, rejected, dissatisfied, reworked, rated": (
        "hazard",
        2,
        [
            ("assess", 1.8, "dispatcher", {}),
            ("assign", 2.5, "dispatcher", {}),
            ("handle", 40, "handler", {}),
            ("reject", 44, "dispatcher", {}),
            ("handle", 50, "handler", {}),
            ("feed_back", 60, "dispatcher", {}),
            ("rate", 70, None, {"rating": "dissatisfied", "by_phone": False}),
            ("handle", 75, "handler", {}),
            ("feed_back", 200, "dispatcher", {}),
            ("rate", 210, "dispatcher", {"rating": "satisfied", "by_phone": True}),
        ],
        300,
    ),
    "dissatisfied at the rework limit stays rated": (
        "hazard",
        0,
        [
            ("assess", 0.5, "dispatcher", {}),
            ("assign", 1, "dispatcher", {}),
            ("handle", 5, "handler", {}),
            ("feed_back", 8, "dispatcher", {}),
            ("rate", 9, None, {"rating": "dissatisfied", "by_phone": False}),
        ],
        20,
    ),
    "fed back and closed unrated": (
        "dispute",
        2,
        [
            ("assess", 1, "dispatcher", {}),
            ("assign", 1.5, "dispatcher", {}),
            ("handle", 100, "handler", {}),
            ("feed_back", 240, "dispatcher", {}),
            ("close", 240 + 7 * 24 + 1, None, {}),
        ],
        500,
    ),
    "handled, verification overdue": (
        "hazard",
        2,
        [("assess", 1, "dispatcher", {}), ("assign", 1.2, "dispatcher", {}), ("handle", 10, "handler", {})],
        300,
    ),
}


def _photo():
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, format="PNG")
    return SimpleUploadedFile("after.png", buffer.getvalue(), content_type="image/png")


@pytest.fixture
def setting(tree, people, make_user):
    # The calendar exceptions the clocks cross (the migration seeds them too; stated here so the test says so).
    for day in range(1, 9):
        WorkCalendarDay.objects.update_or_create(date=date(2025, 10, day), defaults={"is_workday": False})
    WorkCalendarDay.objects.update_or_create(date=date(2025, 10, 11), defaults={"is_workday": True})
    group = Category.objects.create(code="01", name="矛盾纠纷调解")
    dispute = Category.objects.create(
        code="0101",
        name="邻里纠纷",
        parent=group,
        default_tier="community",
        assess_limit=1,
        handle_limit=3,
        verify_limit=2,
    )
    hazard = Category.objects.create(
        code="0102",
        name="治安隐患",
        parent=group,
        default_department=tree.dept_district,
        priority="urgent",
        assess_limit=2,
        assess_unit=DeadlineUnit.HOURS,
        handle_limit=24,
        handle_unit=DeadlineUnit.HOURS,
        verify_limit=1,
        grace_workdays=2,
    )
    police = make_user(Role.DEPARTMENT_STAFF, department=tree.dept_district, username="police")
    # Supervisors up the ladder, so every escalation tells someone.
    make_user(Role.COMMUNITY_STAFF, area=tree.community_a, supervisor=True, username="community_sup")
    make_user(Role.STREET_STAFF, area=tree.street_a, supervisor=True, username="street_sup")
    make_user(Role.DISTRICT_STAFF, area=tree.district, supervisor=True, username="district_sup")
    return {
        "categories": {"dispute": dispute, "hazard": hazard},
        "people": {
            "reporter": people[Role.GRID_WORKER],
            "dispatcher": people[Role.COMMUNITY_STAFF],
            "handler": {"dispute": people[Role.COMMUNITY_STAFF], "hazard": police},
        },
    }


def _order(escalation):
    return escalation["created_at"], escalation["level"]


def _sweep_through(case, until, *, inclusive):
    """Sweep at every point of the running clock the case reaches before ``until`` (the beat's minutely sweep)."""
    case.refresh_from_db()
    points = sorted(p for p in (case.warn_at, case.current_deadline, case.final_at) if p is not None)
    for point in points:
        if point < until or (inclusive and point == until):
            sweep(now=point)
    case.refresh_from_db()


def _by_services(plan, users, now):
    case = create_case(
        actor=users.get(plan.reporter_id),
        title=plan.title,
        description=plan.description,
        category=Category.objects.get(pk=plan.category["pk"]),
        grid=Case._meta.get_field("grid").related_model.objects.get(pk=plan.grid_id),
        source=plan.source,
        address=plan.address,
        now=plan.reported_at,
    )
    for name, moment, by, params in plan.steps:
        _sweep_through(case, moment, inclusive=False)
        extra = dict(params)
        if name == "handle":
            extra.update(result=plan.result, photos=[_photo()])
        comment = (
            "核查通过" if name == "feed_back" else ("不属实" if name in ("dismiss", "send_back", "reject") else "")
        )
        transition_case(actor=users.get(by), case=case, name=name, comment=comment, now=moment, **extra)
    _sweep_through(case, now, inclusive=True)
    return case


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_bulk_case_equals_the_service_built_case(setting, tree, scenario):
    category_key, rework_limit, walk, now_hours = SCENARIOS[scenario]
    WorkflowSettings.objects.create(rework_limit=rework_limit)
    category = setting["categories"][category_key]
    people = setting["people"]
    ids = {
        "dispatcher": people["dispatcher"].pk,
        "handler": people["handler"][category_key].pk,
        None: None,
    }
    users = {u.pk: u for u in (people["reporter"], people["dispatcher"], people["handler"][category_key])}
    now = at(now_hours)
    world = World(first_day=T0.date() - D, last_day=now.date())
    plan = CasePlan(
        category=next(c for c in world.categories if c["pk"] == category.pk),
        grid_id=tree.grid_a.pk,
        area_path=tree.grid_a.path,
        reported_at=T0,
        source="grid_patrol",
        reporter_id=people["reporter"].pk,
        dispatcher_area_id=tree.community_a.pk,
        steps=[(name, at(hours), ids[who], params) for name, hours, who, params in walk],
        title="楼道堆放杂物",
        description="三楼楼道堆放纸箱",
        address="金湖路1号",
    )

    case = _by_services(plan, users, now)
    built = build_case(world, plan, case_id=case.pk, now=now)

    assert {f: built.row[f] for f in COMPARED} == {f: getattr(case, f) for f in COMPARED}
    assert built.row["number"] == case.number
    keys = ["level", "stage", "deadline", "created_at", "notified", "notified_names"]
    swept = [dict(zip(keys, e, strict=True)) for e in Escalation.objects.filter(case=case).values_list(*keys)]
    assert all(e["notified"] for e in swept)
    assert sorted(built.escalations, key=_order) == sorted(swept, key=_order)
    # django-fsm-log stamps transitions with the wall clock, not the step's ``now``: compare the rest.
    history = StateLog.objects.filter(content_type=ContentType.objects.get_for_model(Case), object_id=case.pk)
    assert [(by, source, target, name) for _ts, by, source, target, name, _text in built.logs] == list(
        history.order_by("pk").values_list("by_id", "source_state", "state", "transition")
    )
