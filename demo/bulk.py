"""Realistic volumes for benchmarks: cases in every state over the demo district.

Rows are generated in chunks (memory stays flat) and written with COPY on
PostgreSQL (executemany elsewhere), with their transition log, historic
escalations and ratings. Deadlines use natural days here, not the work
calendar: the point is volume and distribution, not exact clocks.
"""

import random
from collections import defaultdict
from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Post
from cases.models import Case, Category, Escalation
from grids.models import Area, Tier, ancestor_paths

CASE_COLUMNS = [
    "id",
    "number",
    "tracking_code",
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
    "contact_email",
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
    "updated_at",
]
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
TITLES = [
    "楼道堆放杂物",
    "占道经营",
    "噪声扰民",
    "邻里纠纷",
    "消防通道堵塞",
    "路灯损坏",
    "井盖缺失",
    "油烟污染",
    "违章搭建",
    "独居老人需帮扶",
    "供水管网漏水",
    "电梯故障",
    "可疑人员出没",
    "无证经营",
    "污水外溢",
]
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


class _World:
    """Ids of the demo district, loaded once."""

    def __init__(self):
        self.grids = list(Area.objects.filter(tier=Tier.GRID).values_list("pk", "path"))
        if not self.grids:
            raise RuntimeError("No grids: run `manage.py seed_demo` first.")
        area_by_path = dict(
            Area.objects.filter(tier__in=[Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY]).values_list("path", "pk")
        )
        self.ancestors = {}
        for grid_id, path in self.grids:
            district, street, community = (area_by_path[p] for p in ancestor_paths(path)[:3])
            self.ancestors[grid_id] = {"district": district, "street": street, "community": community, "grid": grid_id}
        self.categories = list(
            Category.objects.filter(parent__isnull=False).values(
                "pk", "default_department_id", "default_tier", "priority", "handle_limit"
            )
        )
        self.posts = defaultdict(list)
        for user_id, area_id, dept_id in Post.objects.exclude(role="street_leader").values_list(
            "user_id", "area_id", "department_id"
        ):
            self.posts[("a", area_id) if area_id else ("d", dept_id)].append(user_id)
        self.content_type = ContentType.objects.get_for_model(Case).pk


def _case(rng, world, case_id, reported_at, now):
    grid_id, path = world.grids[rng.randrange(len(world.grids))]
    up = world.ancestors[grid_id]
    category = world.categories[rng.randrange(len(world.categories))]
    age = now - reported_at
    status = _weighted(rng, OLD if age > 20 * D else RECENT)
    reporter = (world.posts.get(("a", grid_id)) or [None])[0]
    dispatcher_user = (world.posts.get(("a", up["community"])) or [reporter])[0]
    resident = rng.random() < 0.2
    row = dict.fromkeys(CASE_COLUMNS)
    row.update(
        id=case_id,
        number=f"{timezone.localtime(reported_at):%Y%m%d}{case_id:07d}",
        tracking_code=f"B{case_id:010d}",
        title=TITLES[case_id % len(TITLES)],
        description="批量生成的测试案件：" + TITLES[case_id % len(TITLES)],
        category_id=category["pk"],
        grid_id=grid_id,
        area_path=path,
        address=f"测试路{case_id % 300}号",
        source="resident"
        if resident
        else rng.choice(["grid_patrol", "grid_patrol", "street_leader", "hotline", "video", "department"]),
        priority=category["priority"],
        reporter_id=None if resident else reporter,
        contact_name="王先生" if resident else "",
        contact_phone=f"139{case_id % 100000000:08d}" if resident else "",
        contact_email="",
        status=status,
        result="",
        dismiss_reason="",
        rating="",
        rating_comment="",
        rated_by_phone=False,
        rework_count=0,
        send_back_count=0,
        assign_count=0,
        reported_at=reported_at,
        assess_deadline=reported_at + D,
        updated_at=now,
    )
    logs = [(reported_at, reporter, None, "reported", "report", "")]
    escalations = []
    t = reported_at
    handle_days = category["handle_limit"] * D

    def clock(start, length):
        deadline = start + length
        row.update(
            stage_started_at=start, current_deadline=deadline, warn_at=start + length * 0.8, final_at=deadline + D
        )
        if now > deadline:
            escalations.append((deadline, 2))

    if status == "dismissed":
        t += rng.uniform(0.5, 20) * H
        row.update(dismiss_reason=rng.choice(["duplicate", "outside", "not_real"]), closed_at=t)
        logs.append((t, dispatcher_user, "reported", "dismissed", "dismiss", "核实不属实"))
        return row, logs, escalations
    if status == "reported":
        clock(reported_at, D)
        return row, logs, escalations
    t += rng.uniform(0.5, 20) * H
    row.update(assessed_at=t, dispatcher_area_id=up["community"])
    logs.append((t, dispatcher_user, "reported", "assessed", "assess", ""))
    if status == "assessed":
        clock(reported_at, D)
        return row, logs, escalations
    t += rng.uniform(0.1, 4) * H
    unit_dept = category["default_department_id"]
    unit_area = None if unit_dept else up.get(category["default_tier"], up["community"])
    handler = (world.posts.get(("d", unit_dept) if unit_dept else ("a", unit_area)) or [None])[0]
    row.update(
        assigned_at=t,
        handling_department_id=unit_dept,
        handling_area_id=unit_area,
        assign_count=1,
        handle_deadline=t + handle_days,
    )
    logs.append((t, dispatcher_user, "assessed", "assigned", "assign", ""))
    if rng.random() < 0.05:
        row["send_back_count"] = 1
        row["assign_count"] = 2
    if status == "assigned":
        clock(t, handle_days)
        return row, logs, escalations
    handled = t + rng.uniform(0.1, 1.3) * handle_days
    if handled > row["handle_deadline"]:
        escalations.append((row["handle_deadline"], 2))
    t = handled
    row.update(handled_at=t, handler_id=handler, result="已处置完毕，现场恢复正常", verify_deadline=t + 2 * D)
    logs.append((t, handler, "assigned", "handled", "handle", ""))
    if status == "handled":
        clock(t, 2 * D)
        return row, logs, escalations
    if rng.random() < 0.08:
        row["rework_count"] = 1
    t += rng.uniform(1, 40) * H
    row.update(fed_back_at=t)
    logs.append((t, dispatcher_user, "handled", "fed_back", "feed_back", "核查通过"))
    if status == "fed_back":
        return row, logs, escalations
    t += rng.uniform(1, 96) * H
    if status == "closed":
        row.update(closed_at=t)
        logs.append((t, None, "fed_back", "closed", "close", ""))
        return row, logs, escalations
    rating = _weighted(rng, [("satisfied", 70), ("basically", 20), ("dissatisfied", 10)])
    row.update(closed_at=t, rating=rating, rated_by_phone=rng.random() < 0.3)
    logs.append((t, None, "fed_back", "rated", "rate", ""))
    return row, logs, escalations


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
    import json

    rng = random.Random(seed)
    world = _World()
    now = timezone.now()
    start_id = (Case.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    span = timedelta(days=30 * months)
    first = now - span
    totals = {"cases": 0, "logs": 0, "escalations": 0}
    for offset in range(0, cases, chunk):
        size = min(chunk, cases - offset)
        case_rows, log_rows, escalation_rows = [], [], []
        for i in range(size):
            n = offset + i
            reported_at = first + span * (n / cases) + timedelta(seconds=rng.uniform(0, 60))
            row, logs, escalations = _case(rng, world, start_id + n, min(reported_at, now), now)
            case_rows.append([row[c] for c in CASE_COLUMNS])
            for ts, by, source, target, name, text in logs:
                log_rows.append([ts, by, source, target, name, world.content_type, row["id"], text])
            for deadline, level in escalations:
                escalation_rows.append(
                    [row["id"], level, "handle", deadline, deadline + H, "bulk", json.dumps([]), "", ""]
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
