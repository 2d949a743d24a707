"""The demo's mediation records on dispute cases and a year of grid-worker training (once each).

Dispute cases already handled carry a finished mediation (mostly resolved, some partly, some referred to
court or arbitration), some with their follow-up visit made; a few assigned ones have a record still
without an outcome, so their handling waits for it. Courses run by the district, the streets and some
communities over the last year; most grid workers passed one, some are due (never trained, trained more
than a year ago, or failed).
"""

import random
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Attendance, Course, Post
from accounts.roles import Role
from cases.models import (
    Case,
    Mediation,
    MediationKind,
    MediationOutcome,
    MediationParty,
    MediationSession,
    Status,
)
from grids.models import Area, Tier, ancestor_path_at

from .district import _Names

DISPUTE_CODES = ["0101", "0102", "0103"]
PLACES = ["社区调解室", "网格工作站", "小区物业办公室", "当事人家中", "警务室", "新时代文明实践站"]
AGREED = [
    "楼上住户负责修复防水层，赔偿楼下墙面粉刷费用800元。",
    "双方同意清理楼道杂物，今后不再占用公共部位。",
    "子女轮流照顾老人，每月各承担赡养费500元。",
    "物业公司本月内维修电梯，维修资金使用情况张榜公示。",
    "双方各退一步，约定晚上十点后不再产生噪声。",
]
OUTCOMES = [
    (MediationOutcome.RESOLVED, 70),
    (MediationOutcome.PARTLY, 15),
    (MediationOutcome.COURT, 10),
    (MediationOutcome.ARBITRATION, 5),
]
FINISHED = [Status.HANDLED, Status.FED_BACK, Status.RATED, Status.CLOSED]


def _phone(rng):
    return "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9))


def _noon(day):
    return timezone.make_aware(datetime.combine(day, time(10)))


@transaction.atomic
def seed_mediation(*, limit: int = 400, open_records: int = 12, seed: int = 370702) -> int:
    """Mediation records on the demo's dispute cases; nothing when some exist already."""
    if Mediation.objects.exists():
        return 0
    rng, names = random.Random(seed), _Names(random.Random(seed))
    community_staff: dict[str, list[int]] = {}
    for user_id, path in Post.objects.filter(role=Role.COMMUNITY_STAFF).values_list("user_id", "area__path"):
        community_staff.setdefault(path, []).append(user_id)
    police: dict[str, list[int]] = {}
    for user_id, path in Post.objects.filter(role=Role.DEPARTMENT_STAFF, department__code__endswith="-PCS").values_list(
        "user_id", "department__area__path"
    ):
        police.setdefault(path, []).append(user_id)
    disputes = Case.objects.filter(category__code__in=DISPUTE_CODES)
    finished = list(disputes.filter(status__in=FINISHED, handled_at__isnull=False).order_by("-pk")[:limit])
    waiting = list(disputes.filter(status=Status.ASSIGNED).order_by("-pk")[:open_records])
    today = timezone.localdate()
    records, mediators, parties, sessions = [], [], [], []
    for case in finished + waiting:
        community = ancestor_path_at(case.area_path, Tier.COMMUNITY)
        street = ancestor_path_at(case.area_path, Tier.STREET)
        staff = community_staff.get(community, [])
        if not staff:
            continue
        with_police = bool(police.get(street)) and rng.random() < 0.3
        kind = (
            MediationKind.POLICE
            if with_police
            else (MediationKind.FAMILY if case.category.code == "0102" else MediationKind.COMMUNITY)
        )
        opened_at = (case.assigned_at or case.reported_at) + timedelta(hours=2)
        record = Mediation(case=case, kind=kind, opened_by_id=staff[0], opened_at=opened_at)
        if case.status in FINISHED:
            outcome = rng.choices([o for o, _w in OUTCOMES], weights=[w for _o, w in OUTCOMES])[0]
            record.outcome, record.outcome_by_id = outcome, staff[0]
            record.outcome_at = case.handled_at - timedelta(hours=3)
            record.outcome_note = (
                rng.choice(AGREED) if outcome != MediationOutcome.COURT else "双方分歧较大，已引导通过诉讼解决。"
            )
            record.follow_up_due = timezone.localdate(record.outcome_at) + timedelta(days=30)
            if record.follow_up_due <= today:
                record.follow_up_reminded_at = _noon(record.follow_up_due)
                if rng.random() < 0.7:
                    record.followed_up_at = record.follow_up_due + timedelta(days=rng.randint(0, 5))
                    record.follow_up_note = "回访双方，协议履行良好，未再发生矛盾。"
        records.append(
            (
                record,
                [staff[0], *(police[street][:1] if with_police else [])],
                case.status in FINISHED or rng.random() < 0.5,
            )
        )
    Mediation.objects.bulk_create([r for r, _m, _s in records], batch_size=500)
    Through = Mediation.mediators.through
    for record, people, with_session in records:
        mediators += [Through(mediation_id=record.pk, user_id=u) for u in people]
        parties += [MediationParty(mediation=record, name=names.person(), phone=_phone(rng)) for _ in range(2)]
        if with_session:
            first = timezone.localdate(record.opened_at) + timedelta(days=1)
            last = timezone.localdate(record.outcome_at) if record.outcome_at else today
            for n in range(rng.randint(1, 2)):
                day = min(first + timedelta(days=2 * n), last, today)
                sessions.append(
                    MediationSession(
                        mediation=record,
                        date=day,
                        place=rng.choice(PLACES),
                        agreed=rng.choice(AGREED) if n or record.outcome else "",
                        recorded_by_id=people[0],
                    )
                )
    Through.objects.bulk_create(mediators, batch_size=1000)
    MediationParty.objects.bulk_create(parties, batch_size=1000)
    MediationSession.objects.bulk_create(sessions, batch_size=1000)
    return len(records)


@transaction.atomic
def seed_training(*, seed: int = 370702, due_share: float = 0.12) -> tuple[int, int]:
    """A year of courses and attendance; nothing when courses exist already. Returns (courses, attendance)."""
    if Course.objects.exists():
        return 0, 0
    rng = random.Random(seed)
    today = timezone.localdate()
    district = Area.objects.filter(tier=Tier.DISTRICT).order_by("path").first()
    if district is None:
        return 0, 0
    streets = list(Area.objects.filter(tier=Tier.STREET, path__startswith=district.path).order_by("path"))
    communities = list(Area.objects.filter(tier=Tier.COMMUNITY, path__startswith=district.path).order_by("path"))
    courses = [
        Course(title=title, date=today - timedelta(days=days), hours=Decimal(hours), kind=kind, area=district)
        for title, days, hours, kind in [
            ("全科网格员年度轮训（第一期）", 330, "16", "rotation"),
            ("全科网格员年度轮训（第二期）", 200, "16", "rotation"),
            ("全科网格员年度轮训（第三期）", 75, "16", "rotation"),
            ("网格化服务管理平台操作培训", 420, "8", "skills"),
        ]
    ]
    for i, street in enumerate(streets):
        courses.append(
            Course(
                title=f"{street.name}矛盾纠纷调解实务",
                date=today - timedelta(days=40 + 25 * i),
                hours=4,
                kind="policy",
                area=street,
            )
        )
    for community in communities[:: max(len(communities) // 8, 1)]:
        courses.append(
            Course(
                title=f"{community.name}消防安全培训",
                date=today - timedelta(days=rng.randint(10, 300)),
                hours=2,
                kind="safety",
                area=community,
            )
        )
    Course.objects.bulk_create(courses)
    rotation = [c for c in courses if c.kind == "rotation" and (today - c.date).days < 365]
    old = [c for c in courses if (today - c.date).days >= 365]
    rows = []
    workers = Post.objects.filter(role=Role.GRID_WORKER).values_list("user_id", flat=True).distinct()
    for user_id in workers:
        draw = rng.random()
        if draw < due_share / 3:
            continue  # never trained
        if draw < 2 * due_share / 3:
            rows += [Attendance(course=c, user_id=user_id, hours=c.hours, passed=True) for c in old]
            continue  # last trained more than a year ago
        course = rng.choice(rotation)
        rows.append(Attendance(course=course, user_id=user_id, hours=course.hours, passed=draw >= due_share))
    staff = Post.objects.filter(role=Role.COMMUNITY_STAFF).values_list("user_id", "area__path")
    for user_id, path in staff:
        for course in courses:
            if course.area.path != path and course.kind != "policy" or not path.startswith(course.area.path):
                continue
            if rng.random() < 0.6:
                rows.append(Attendance(course=course, user_id=user_id, hours=course.hours, passed=True))
    Attendance.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(courses), len(rows)
