"""Realistic volumes for benchmarks: cases in every state over the demo district, as the services make them.

A case is planned first (``plan_case``: its category, grid, people, and the
steps it took at which moments) and then replayed by ``build_case`` the way
the model's transitions would set it: every clock from the category's stage
limits and units through ``cases.calendar.deadline_after`` and
``clock_points`` with the platform's WorkflowSettings, and the escalation rows
that ``cases.escalation.sweep`` records for each clock that ran past its
warning, deadline or district point. Only the writing differs: rows go out
in chunks (memory stays flat) with COPY on PostgreSQL (executemany elsewhere).
"""

import json
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from random import Random

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone
from shapely.geometry import Point

from accounts.models import Post
from accounts.selectors import posts_at
from cases.calendar import calendar_overrides, clock_points, deadline_after
from cases.escalation import ESCALATION_COLUMNS, PostDirectory, targets
from cases.models import STAGE_OF_STATUS, Case, Category, Escalation, EscalationLevel, Rating, WorkflowSettings
from grids.geometry import BoundaryError, to_shape
from grids.models import Area, Department, Tier, ancestor_path_at

from .samples import sample_text

# Every column of the case table: a field added to Case later is written with its default.
CASE_FIELDS = list(Case._meta.concrete_fields)
CASE_COLUMNS = [f.column for f in CASE_FIELDS]
LOG_COLUMNS = [
    "timestamp",
    "by_id",
    "source_state",
    "state",
    "transition",
    "content_type_id",
    "object_id",
    "description",
]
# Which state each case is headed for: recent cases are still on their way, old ones ended.
RECENT = [
    ("reported", 8),
    ("assessed", 5),
    ("assigned", 35),
    ("handled", 12),
    ("fed_back", 15),
    ("rated", 20),
    ("dismissed", 5),
]
OLD = [("rated", 72), ("closed", 17), ("dismissed", 11)]
RATINGS = [(Rating.SATISFIED.value, 70), (Rating.BASICALLY.value, 20), (Rating.DISSATISFIED.value, 10)]
# How far along the way each headed-for state is (dismissed leaves after the report).
ORDER = ["reported", "assessed", "assigned", "handled", "fed_back", "rated"]
# The state each step leads to, as the model's transitions (cases/models.py) say.
TARGET = {
    "assess": "assessed",
    "dismiss": "dismissed",
    "assign": "assigned",
    "send_back": "assessed",
    "handle": "handled",
    "reject": "assigned",
    "feed_back": "fed_back",
    "rate": "rated",
    "rework": "assigned",
    "close": "closed",
}
# The clock each status runs (cases.models.STAGE_OF_STATUS), by the step that led there.
CLOCK_OF_STEP = {"assign": "handle", "send_back": "assess", "handle": "verify", "reject": "handle", "rework": "handle"}
STOPS_CLOCK = {"dismiss", "feed_back"}
SOURCES = ["grid_patrol", "grid_patrol", "street_leader", "hotline", "video", "department"]
OPENINGS = {
    "grid_patrol": "网格员巡查发现",
    "street_leader": "街巷长反映",
    "resident": "居民随手拍反映",
    "hotline": "市民热线转办",
    "video": "视频监控发现",
    "department": "部门移交",
}
H = timedelta(hours=1)
D = timedelta(days=1)


def _weighted(rng, table):
    total = sum(w for _, w in table)
    pick = rng.uniform(0, total)
    for value, weight in table:
        pick -= weight
        if pick <= 0:
            return value
    return table[-1][0]


class World:
    """The demo district's ids, responsibility list, rules and calendar, loaded once per seeding."""

    def __init__(self, *, first_day, last_day):
        grids = list(Area.objects.filter(tier=Tier.GRID).values_list("pk", "path", "name"))
        if not grids:
            raise RuntimeError("No grids: run `manage.py seed_demo` first.")
        self.grids = [(pk, path) for pk, path, _name in grids]
        self.grid_names = {pk: name for pk, _path, name in grids}
        # Where in a grid a case is filed: its buildings and alleys (the grid's own name when it has none).
        self.places = defaultdict(list)
        for parent_id, name in (
            Area.objects.filter(tier=Tier.BUILDING).order_by("path").values_list("parent_id", "name")
        ):
            self.places[parent_id].append(name)
        # A case's pin falls inside its grid's polygon (grids without a boundary leave it empty).
        self.shapes = {}
        for pk, boundary in Area.objects.filter(tier=Tier.GRID, boundary__isnull=False).values_list("pk", "boundary"):
            with suppress(BoundaryError):
                self.shapes[pk] = to_shape(boundary)
        areas = list(Area.objects.exclude(tier=Tier.BUILDING).values_list("path", "pk", "tier"))
        area_by_path = {path: pk for path, pk, _tier in areas}
        self.tier_of = {pk: tier for _path, pk, tier in areas}
        # Everyone the ladder may tell, read once (the sweep reads the same per run).
        self.directory = PostDirectory(
            posts_at(area_ids=self.tier_of, department_ids=Department.objects.values_list("pk", flat=True)),
            area_by_path,
        )
        # The area of each tier that holds a grid: dispatching tier, default handling tiers.
        self.ancestors = {
            pk: {
                tier: area_by_path[ancestor_path_at(path, tier)]
                for tier in (Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY, Tier.GRID)
            }
            for pk, path in self.grids
        }
        self.policy = WorkflowSettings.current()
        self.categories = list(
            Category.objects.filter(parent__isnull=False, is_active=True)
            .order_by("code")
            .values(
                "pk",
                "code",
                "name",
                "default_department_id",
                "default_tier",
                "priority",
                "grace_workdays",
                *(f"{stage}_{part}" for stage in ("assess", "handle", "verify") for part in ("limit", "unit")),
            )
        )
        for category in self.categories:
            category["grace"] = (
                category["grace_workdays"] if category["grace_workdays"] is not None else self.policy.grace_workdays
            )
        self.posts = defaultdict(list)
        for user_id, area_id, dept_id in (
            Post.objects.exclude(role="street_leader").order_by("pk").values_list("user_id", "area_id", "department_id")
        ):
            self.posts[("a", area_id) if area_id else ("d", dept_id)].append(user_id)
        self.content_type = ContentType.objects.get_for_model(Case).pk
        # One read of the work calendar for every clock of the run, with room after the last
        # start for the longest limit and the grace period (as deadline_after reserves).
        longest = max((c[f"{s}_limit"] for c in self.categories for s in ("assess", "handle", "verify")), default=0)
        self.overrides = calendar_overrides(first_day, last_day + timedelta(days=2 * longest + 80))

    def handling_unit(self, category, grid_id):
        """(department, area) an assignment goes to by default: the category's department or tier."""
        if category["default_department_id"]:
            return category["default_department_id"], None
        return None, self.ancestors[grid_id][category["default_tier"]]

    def sweep_row(self, row):
        """The case as the sweep reads it (cases.escalation.FIELDS)."""
        return {
            "status": row["status"],
            "area_path": row["area_path"],
            "handling_area_id": row["handling_area_id"],
            "handling_area__tier": self.tier_of.get(row["handling_area_id"]),
            "handling_department_id": row["handling_department_id"],
            "dispatcher_area_id": row["dispatcher_area_id"],
            "dispatcher_area__tier": self.tier_of.get(row["dispatcher_area_id"]),
        }

    def first_user(self, kind, unit_id):
        users = self.posts.get((kind, unit_id))
        return users[0] if users else None


@dataclass
class CasePlan:
    """One case to write: who reported it where, and each step taken after the report, in order.

    ``steps`` holds (step name, moment, acting user id, the step's input); a dissatisfied rating's rework is the
    platform's own follow-up and is not listed (build_case takes it as services.transition_case does)."""

    category: dict
    grid_id: int
    area_path: str
    reported_at: datetime
    source: str
    reporter_id: int | None
    dispatcher_area_id: int | None = None
    steps: list = field(default_factory=list)
    title: str = ""
    description: str = ""
    address: str = ""
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    contact_name: str = ""
    contact_phone: str = ""
    result: str = "已处置完毕，现场恢复正常"


@dataclass
class BuiltCase:
    row: dict
    logs: list
    escalations: list


def build_case(world: World, plan: CasePlan, *, case_id: int, now: datetime) -> BuiltCase:
    """The case row, its history and its escalations, as the services and the sweep would leave them."""
    category = plan.category
    row = {f.column: f.get_default() for f in CASE_FIELDS}
    row.update(
        id=case_id,
        number=f"{timezone.localtime(plan.reported_at):%Y%m%d}{case_id:07d}",
        tracking_code=f"B{case_id:010d}",
        title=plan.title or category["name"],
        description=plan.description or category["name"],
        category_id=category["pk"],
        grid_id=plan.grid_id,
        area_path=plan.area_path,
        address=plan.address,
        latitude=plan.latitude,
        longitude=plan.longitude,
        source=plan.source,
        priority=category["priority"],
        reporter_id=plan.reporter_id,
        contact_name=plan.contact_name,
        contact_phone=plan.contact_phone,
        contact_email="",
        status="reported",
        result="",
        dismiss_reason="",
        rating="",
        rating_comment="",
        rated_by_phone=False,
        rework_count=0,
        send_back_count=0,
        assign_count=0,
        reported_at=plan.reported_at,
        updated_at=now,
    )
    logs = [(plan.reported_at, plan.reporter_id, None, "reported", "report", "")]
    escalations = []
    # The running clock's ladder points not reached yet: (level, point).
    pending = []

    def sweep_until(moment, *, inclusive):
        """What the minutely sweep records up to ``moment``: each point reached, at that point, told
        to whom the ladder says for the case as it stands then."""
        while pending and (pending[0][1] < moment or (inclusive and pending[0][1] == moment)):
            level, point = pending.pop(0)
            notified, names = world.directory.told(*targets(world.sweep_row(row), level))
            escalations.append(
                {
                    "level": int(level),
                    "stage": STAGE_OF_STATUS[row["status"]],
                    "deadline": row["current_deadline"],
                    "created_at": point,
                    "notified": notified,
                    "notified_names": names,
                }
            )

    def end_clock(at):
        pending.clear()
        row.update(stage_started_at=None, current_deadline=None, warn_at=None, final_at=None)

    def start_clock(stage, at):
        # Case.start_stage, with the calendar read once for the whole run.
        end_clock(at)
        deadline = deadline_after(at, category[f"{stage}_limit"], category[f"{stage}_unit"], world.overrides)
        warn_at, final_at = clock_points(
            at,
            deadline,
            warning_ratio=world.policy.warning_ratio,
            grace_workdays=category["grace"],
            overrides=world.overrides,
        )
        row[f"{stage}_deadline"] = deadline
        row.update(stage_started_at=at, current_deadline=deadline, warn_at=warn_at, final_at=final_at)
        pending.extend(
            [
                (EscalationLevel.WARNING, warn_at),
                (EscalationLevel.OVERDUE, deadline),
                (EscalationLevel.DISTRICT, final_at),
            ]
        )

    def take(name, at, by, params, description=""):
        sweep_until(at, inclusive=False)
        logs.append((at, by, row["status"], TARGET[name], name, description))
        row["status"] = TARGET[name]
        if name == "assess":
            row.update(assessed_at=at, dispatcher_area_id=plan.dispatcher_area_id)
        elif name == "dismiss":
            row.update(dismiss_reason=params["reason"], closed_at=at)
        elif name == "assign":
            department, area = world.handling_unit(category, plan.grid_id)
            row.update(handling_department_id=department, handling_area_id=area, handler_id=None, assigned_at=at)
            row["assign_count"] += 1
        elif name == "send_back":
            row["send_back_count"] += 1
            row.update(handling_department_id=None, handling_area_id=None, handler_id=None)
        elif name == "handle":
            row.update(result=plan.result, handled_at=at)
            if row["handler_id"] is None:
                row["handler_id"] = by
        elif name in ("reject", "rework"):
            row["rework_count"] += 1
            if name == "rework":
                row["closed_at"] = None
        elif name == "feed_back":
            row["fed_back_at"] = at
        elif name == "rate":
            row.update(rating=params["rating"], rated_by_phone=params["by_phone"], closed_at=at)
        elif name == "close":
            row["closed_at"] = at
        if name in CLOCK_OF_STEP:
            start_clock(CLOCK_OF_STEP[name], at)
        elif name in STOPS_CLOCK:
            end_clock(at)

    start_clock("assess", plan.reported_at)
    for name, at, by, params in plan.steps:
        take(name, at, by, params, "核查通过" if name == "feed_back" else "")
        # A dissatisfied rating reopens the case until the rework limit (cases.steps._after_rating).
        if name == "rate" and params["rating"] == Rating.DISSATISFIED:
            if row["rework_count"] < world.policy.rework_limit:
                take("rework", at, None, {})
            else:
                logs.append((at, None, "rated", "rated", "rework_limit", ""))
    sweep_until(now, inclusive=True)
    return BuiltCase(row=row, logs=logs, escalations=escalations)


def plan_case(rng: Random, world: World, case_id: int, reported_at: datetime, now: datetime) -> CasePlan:
    """A random case of the demo district: its way through the office, stopping where ``now`` is."""
    grid_id, path = world.grids[rng.randrange(len(world.grids))]
    up = world.ancestors[grid_id]
    category = world.categories[rng.randrange(len(world.categories))]
    resident = rng.random() < 0.2
    source = "resident" if resident else rng.choice(SOURCES)
    places = world.places.get(grid_id) or [world.grid_names[grid_id]]
    place = places[case_id % len(places)]
    # Titles and descriptions people write for this entry of the list (demo.samples), at one of the grid's addresses.
    title, description = sample_text(category["code"], category["name"], place, case_id)
    latitude, longitude = _pin(world.shapes.get(grid_id), Random(case_id))
    plan = CasePlan(
        category=category,
        grid_id=grid_id,
        area_path=path,
        reported_at=reported_at,
        source=source,
        reporter_id=None if resident else world.first_user("a", grid_id),
        dispatcher_area_id=up[Tier.COMMUNITY],
        title=title,
        description=f"{OPENINGS[source]}：{description}",
        address=place,
        latitude=latitude,
        longitude=longitude,
        contact_name="王先生" if resident else "",
        contact_phone=f"139{case_id % 100000000:08d}" if resident else "",
    )
    headed = _weighted(rng, OLD if now - reported_at > 20 * D else RECENT)
    goal = ORDER.index({"closed": "rated", "dismissed": "reported"}.get(headed, headed))
    dispatcher = world.first_user("a", up[Tier.COMMUNITY]) or plan.reporter_id
    department, area = world.handling_unit(category, grid_id)
    handler = world.first_user("d", department) if department else world.first_user("a", area)
    # Natural length of the handling clock, to spread handling before and after its deadline.
    handle_span = category["handle_limit"] * (H if category["handle_unit"] == "hours" else 1.4 * D)
    t = reported_at

    def step(name, after, by, **params):
        """Take the step ``after`` the previous one, unless that moment is still to come."""
        nonlocal t
        if t + after > now:
            return False
        t += after
        plan.steps.append((name, t, by, params))
        return True

    if headed == "dismissed":
        step("dismiss", rng.uniform(0.5, 20) * H, dispatcher, reason=rng.choice(["outside", "not_real"]))
    if goal < ORDER.index("assessed") or not step("assess", rng.uniform(0.5, 20) * H, dispatcher):
        return plan
    if goal < ORDER.index("assigned") or not step("assign", rng.uniform(0.1, 4) * H, dispatcher):
        return plan
    if rng.random() < 0.05:  # a mis-dispatch: sent back, then assigned again
        if not step("send_back", rng.uniform(1, 10) * H, handler):
            return plan
        if not step("assign", rng.uniform(0.5, 4) * H, dispatcher):
            return plan
    reworks = 0
    while True:
        if goal < ORDER.index("handled") or not step("handle", rng.uniform(0.1, 1.3) * handle_span, handler):
            return plan
        if rng.random() < 0.08 and reworks < 2:  # verification failed
            reworks += 1
            if not step("reject", rng.uniform(1, 30) * H, dispatcher):
                return plan
            continue
        if goal < ORDER.index("fed_back") or not step("feed_back", rng.uniform(1, 40) * H, dispatcher):
            return plan
        if goal < ORDER.index("rated"):
            return plan
        if headed == "closed":
            step("close", world.policy.rating_window_days * D + rng.uniform(0, 2) * H, None)
            return plan
        rating = _weighted(rng, RATINGS)
        by_phone = rng.random() < 0.3
        if not step("rate", rng.uniform(1, 96) * H, dispatcher if by_phone else None, rating=rating, by_phone=by_phone):
            return plan
        if rating != Rating.DISSATISFIED or reworks >= world.policy.rework_limit:
            return plan
        reworks += 1  # the platform reopens it (build_case takes that step) and the round repeats


def _pin(shape, rng):
    """A point inside the grid's polygon, to six decimals as Case stores it; (None, None) without a polygon."""
    if shape is None:
        return None, None
    west, south, east, north = shape.bounds
    for _attempt in range(20):
        lng, lat = rng.uniform(west, east), rng.uniform(south, north)
        if shape.contains(Point(lng, lat)):
            break
    else:
        point = shape.representative_point()
        lng, lat = point.x, point.y
    return Decimal(f"{lat:.6f}"), Decimal(f"{lng:.6f}")


def _write(table, columns, rows):
    if not rows:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            # Table and column names are this module's constants, never input.
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608


def seed_bulk(*, cases: int, months: int = 12, seed: int = 7, chunk: int = 20_000, progress=None) -> dict:
    rng = Random(seed)
    now = timezone.now()
    span = timedelta(days=30 * months)
    first = now - span
    world = World(first_day=timezone.localdate(first) - D, last_day=timezone.localdate(now))
    start_id = (Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    totals = {"cases": 0, "logs": 0, "escalations": 0}
    for offset in range(0, cases, chunk):
        size = min(chunk, cases - offset)
        case_rows, log_rows, escalation_rows = [], [], []
        for i in range(size):
            n = offset + i
            case_id = start_id + n
            reported_at = min(first + span * (n / cases) + timedelta(seconds=rng.uniform(0, 60)), now)
            built = build_case(world, plan_case(rng, world, case_id, reported_at, now), case_id=case_id, now=now)
            case_rows.append([built.row[c] for c in CASE_COLUMNS])
            for ts, by, source, target, name, text in built.logs:
                log_rows.append([ts, by, source, target, name, world.content_type, case_id, text])
            for e in built.escalations:
                escalation_rows.append(
                    [
                        case_id,
                        e["level"],
                        e["stage"],
                        e["deadline"],
                        e["created_at"],
                        "bulk",
                        json.dumps(e["notified"]),
                        e["notified_names"],
                        "",
                    ]
                )
        with transaction.atomic():
            _write(Case._meta.db_table, CASE_COLUMNS, case_rows)
            _write("django_fsm_log_statelog", LOG_COLUMNS, log_rows)
            _write(Escalation._meta.db_table, ESCALATION_COLUMNS, escalation_rows)
        totals["cases"] += len(case_rows)
        totals["logs"] += len(log_rows)
        totals["escalations"] += len(escalation_rows)
        if progress:
            progress(totals)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in (Case._meta.db_table, "django_fsm_log_statelog", Escalation._meta.db_table):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
                )
            cursor.execute(f"ANALYZE {Case._meta.db_table}")
    return totals
