"""The deadline sweep: yellow warnings, red escalations up the tiers, digests.

Set-based: a few queries whatever the number of cases. Idempotent: each step
is an Escalation row under a unique constraint; a sweep inserts with
ON CONFLICT DO NOTHING under its own token and notifies only for the rows it
inserted, so reruns, retries and concurrent sweeps never record or send twice.
A sweep is one transaction: a worker killed midway leaves nothing behind.
"""

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.selectors import posts_at
from grids.models import Area, Tier, ancestor_path_at, parent_tier_of
from outbox import services as outbox

from .models import (
    OPEN_STATUSES,
    STAGE_OF_STATUS,
    AssistStatus,
    AssistTask,
    Case,
    ClockRequest,
    ClockRequestStatus,
    Escalation,
    EscalationLevel,
    Status,
)
from .notifications import NotificationKind

# The columns of a recorded step, as the sweep and the bulk seeder write them.
ESCALATION_COLUMNS = [
    "case_id",
    "level",
    "stage",
    "deadline",
    "created_at",
    "sweep",
    "notified",
    "notified_names",
    "instruction",
]
FIELDS = [
    "pk",
    "status",
    "area_path",
    "current_deadline",
    "handling_area_id",
    "handling_area__tier",
    "handling_department_id",
    "dispatcher_area_id",
    "dispatcher_area__tier",
]


@dataclass
class SweepResult:
    token: str
    recorded: dict = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})
    notifications: int = 0


def _not_recorded(level):
    # An anti-join on the unique step index, instead of a level column on the case:
    # marking 20,000 wide case rows would rewrite every index of the table.
    return ~Exists(Escalation.objects.filter(case=OuterRef("pk"), level=level, deadline=OuterRef("current_deadline")))


def _candidates(now):
    open_cases = Case.objects.filter(status__in=OPEN_STATUSES)
    return {
        EscalationLevel.WARNING: open_cases.filter(warn_at__lte=now, current_deadline__gt=now).filter(
            _not_recorded(EscalationLevel.WARNING)
        ),
        EscalationLevel.OVERDUE: open_cases.filter(current_deadline__lte=now).filter(
            _not_recorded(EscalationLevel.OVERDUE)
        ),
        EscalationLevel.DISTRICT: open_cases.filter(final_at__lte=now).filter(_not_recorded(EscalationLevel.DISTRICT)),
    }


# A waiting extension or suspension request climbs on its own clock: recorded under this stage, the
# decision owed by the approving tier (in the row, the "dispatcher"; the ladder goes up from there).
REQUEST_STAGE = "request"


def _request_not_recorded(level):
    return ~Exists(
        Escalation.objects.filter(
            case=OuterRef("case_id"), stage=REQUEST_STAGE, level=level, deadline=OuterRef("deadline")
        )
    )


def _request_candidates(now):
    waiting = ClockRequest.objects.filter(status=ClockRequestStatus.PENDING, case__status=Status.ASSIGNED)
    return {
        EscalationLevel.WARNING: waiting.filter(warn_at__lte=now, deadline__gt=now).filter(
            _request_not_recorded(EscalationLevel.WARNING)
        ),
        EscalationLevel.OVERDUE: waiting.filter(deadline__lte=now).filter(
            _request_not_recorded(EscalationLevel.OVERDUE)
        ),
        EscalationLevel.DISTRICT: waiting.filter(final_at__lte=now).filter(
            _request_not_recorded(EscalationLevel.DISTRICT)
        ),
    }


def _request_rows(qs):
    """Pending requests as the sweep's case rows (FIELDS), so ``targets`` says whom each step tells."""
    return [
        {
            "pk": r["case_id"],
            "status": REQUEST_STAGE,
            "stage": REQUEST_STAGE,
            "area_path": r["case__area_path"],
            "current_deadline": r["deadline"],
            "handling_area_id": None,
            "handling_area__tier": None,
            "handling_department_id": None,
            "dispatcher_area_id": r["approving_area_id"],
            "dispatcher_area__tier": r["approving_area__tier"],
        }
        for r in qs.values("case_id", "case__area_path", "deadline", "approving_area_id", "approving_area__tier")
    ]


# Each open assisting task (cases/joint.py) climbs on its own clock, owed by the assisting unit. Two
# tasks of one case due at the same moment share a step (the unique index is per case and deadline):
# the sweep merges them into one row telling both units.
ASSIST_STAGE = "assist"


def _assist_candidates(now):
    def not_recorded(level):
        return ~Exists(
            Escalation.objects.filter(
                case=OuterRef("case_id"), stage=ASSIST_STAGE, level=level, deadline=OuterRef("deadline")
            )
        )

    open_tasks = AssistTask.objects.filter(status=AssistStatus.OPEN, case__status=Status.ASSIGNED)
    return {
        EscalationLevel.WARNING: open_tasks.filter(warn_at__lte=now, deadline__gt=now).filter(
            not_recorded(EscalationLevel.WARNING)
        ),
        EscalationLevel.OVERDUE: open_tasks.filter(deadline__lte=now).filter(not_recorded(EscalationLevel.OVERDUE)),
        EscalationLevel.DISTRICT: open_tasks.filter(final_at__lte=now).filter(not_recorded(EscalationLevel.DISTRICT)),
    }


def _assist_rows(qs):
    """Open tasks as the sweep's case rows: the assisting unit in the handling unit's place."""
    return [
        {
            "pk": r["case_id"],
            "status": "assigned",
            "stage": ASSIST_STAGE,
            "area_path": r["case__area_path"],
            "current_deadline": r["deadline"],
            "handling_area_id": r["area_id"],
            "handling_area__tier": r["area__tier"],
            "handling_department_id": r["department_id"],
            "dispatcher_area_id": r["case__dispatcher_area_id"],
            "dispatcher_area__tier": r["case__dispatcher_area__tier"],
        }
        for r in qs.values(
            "case_id",
            "case__area_path",
            "deadline",
            "area_id",
            "area__tier",
            "department_id",
            "case__dispatcher_area_id",
            "case__dispatcher_area__tier",
        )
    ]


def _insert(escalations):
    """Insert the steps, skipping any another sweep recorded first (the unique constraint decides)."""
    if not escalations:
        return
    if connection.vendor != "postgresql":
        Escalation.objects.bulk_create(escalations, ignore_conflicts=True, batch_size=500)
        return
    # One statement for any number of rows: arrays unnested server-side.
    columns = ESCALATION_COLUMNS
    arrays = [
        [e.case_id for e in escalations],
        [e.level for e in escalations],
        [e.stage for e in escalations],
        [e.deadline for e in escalations],
        [e.created_at for e in escalations],
        [e.sweep for e in escalations],
        [json.dumps(e.notified) for e in escalations],
        [e.notified_names for e in escalations],
        ["" for _ in escalations],
    ]
    types = ["bigint", "smallint", "text", "timestamptz", "timestamptz", "text", "jsonb", "text", "text"]
    select = ", ".join(f"%s::{t}[]" for t in types)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Escalation._meta.db_table} ({', '.join(columns)}) "  # noqa: S608 - constant names
            f"SELECT * FROM unnest({select}) ON CONFLICT DO NOTHING",
            arrays,
        )


def _responsible(row):
    """The unit whose clock runs: (kind, id, tier) — the handling unit, or the dispatching tier."""
    if row["status"] == "assigned":
        if row["handling_department_id"]:
            return ("department", row["handling_department_id"], None)
        if row["handling_area_id"]:
            return ("area", row["handling_area_id"], row["handling_area__tier"])
    if row["dispatcher_area_id"]:
        return ("area", row["dispatcher_area_id"], row["dispatcher_area__tier"])
    return ("path", ancestor_path_at(row["area_path"], Tier.COMMUNITY), Tier.COMMUNITY)


def targets(row, level):
    """Whom the ladder tells when ``row`` (a case, as FIELDS) reaches ``level``:
    (area paths, area ids, department ids, supervisors only?)."""
    kind, unit, tier = _responsible(row)
    if level == EscalationLevel.WARNING:
        area_ids, dept_ids, area_paths = set(), set(), set()
        if kind == "department":
            dept_ids.add(unit)
        elif kind == "area":
            area_ids.add(unit)
        else:
            area_paths.add(unit)
        if row["dispatcher_area_id"]:
            area_ids.add(row["dispatcher_area_id"])
        return area_paths, area_ids, dept_ids, False
    district = ancestor_path_at(row["area_path"], Tier.DISTRICT)
    if level == EscalationLevel.DISTRICT or kind == "department":
        return {district}, set(), set(), True
    # One step up the ladder; the district is its own next step.
    return {ancestor_path_at(row["area_path"], parent_tier_of(tier) or Tier.DISTRICT)}, set(), set(), True


class PostDirectory:
    """Working posts by area and department, and the areas' ids by path: enough to say who is told."""

    def __init__(self, posts, path_ids):
        self.path_ids = path_ids
        self.by_area, self.by_dept = defaultdict(list), defaultdict(list)
        for post in posts:
            (self.by_area[post["area_id"]] if post["area_id"] else self.by_dept[post["department_id"]]).append(post)

    def told(self, area_paths, area_ids, dept_ids, supervisors) -> tuple[list[int], str]:
        """The user ids (sorted) and names of the people ``targets`` designates."""
        areas = area_ids | {self.path_ids.get(x) for x in area_paths}
        people = [p for a in areas for p in self.by_area.get(a, [])]
        people += [p for d in dept_ids for p in self.by_dept.get(d, [])]
        if supervisors:
            people = [p for p in people if p["is_supervisor"]]
        unique = {p["user_id"]: p for p in people}
        return sorted(unique), "、".join(sorted(p["user__real_name"] or p["user__username"] for p in unique.values()))


@transaction.atomic
def sweep(*, now=None) -> SweepResult:
    now = now or timezone.now()
    result = SweepResult(token=uuid.uuid4().hex)
    rows_by_level = {level: list(qs.values(*FIELDS)) for level, qs in _candidates(now).items()}
    for level, qs in _request_candidates(now).items():
        rows_by_level[level] += _request_rows(qs)
    for level, qs in _assist_candidates(now).items():
        rows_by_level[level] += _assist_rows(qs)

    # Who to tell, resolved for the whole sweep in two queries.
    plan, paths_needed, areas_needed, depts_needed = [], set(), set(), set()
    for level, rows in rows_by_level.items():
        for row in rows:
            area_paths, area_ids, dept_ids, supervisors = targets(row, level)
            paths_needed |= area_paths
            areas_needed |= area_ids
            depts_needed |= dept_ids
            plan.append((level, row, area_paths, area_ids, dept_ids, supervisors))
    path_ids = dict(Area.objects.filter(path__in=paths_needed).values_list("path", "pk")) if paths_needed else {}
    posts = posts_at(area_ids=areas_needed | set(path_ids.values()), department_ids=depts_needed)
    directory = PostDirectory(posts, path_ids)

    # One row per (case, stage, deadline, level): assisting tasks due together tell all their units.
    steps_found = {}
    for level, row, area_paths, area_ids, dept_ids, supervisors in plan:
        key = (row["pk"], row.get("stage") or STAGE_OF_STATUS[row["status"]], row["current_deadline"], level)
        if key in steps_found:
            paths, areas, depts, _sup = steps_found[key]
            steps_found[key] = (paths | area_paths, areas | area_ids, depts | dept_ids, supervisors)
        else:
            steps_found[key] = (area_paths, area_ids, dept_ids, supervisors)
    escalations = []
    for (case_id, stage, deadline, level), found in steps_found.items():
        notified, notified_names = directory.told(*found)
        escalations.append(
            Escalation(
                case_id=case_id,
                level=level,
                stage=stage,
                deadline=deadline,
                created_at=now,
                sweep=result.token,
                notified=notified,
                notified_names=notified_names,
            )
        )
    _insert(escalations)
    mine = list(Escalation.objects.filter(sweep=result.token).values("pk", "case_id", "level", "notified"))
    for e in mine:
        result.recorded[e["level"]] += 1

    # One digest per person per sweep, listing every case they are told about.
    digests = defaultdict(lambda: {"warning": [], "escalation": []})
    emails = {p["user_id"]: p["user__email"] for p in posts}
    for e in mine:
        bucket = "warning" if e["level"] == EscalationLevel.WARNING else "escalation"
        for user_id in e["notified"]:
            digests[user_id][bucket].append(e["pk"])
    items = []
    for user_id, buckets in digests.items():
        person = {"user_id": user_id, "email": emails.get(user_id)}
        for bucket, kind in (
            ("escalation", NotificationKind.ESCALATION_DIGEST),
            ("warning", NotificationKind.WARNING_DIGEST),
        ):
            if buckets[bucket]:
                items.append((kind, person, {"escalations": buckets[bucket]}, f"{result.token}:{bucket}"))
    result.notifications = outbox.queue_each(items)
    return result
