"""The demo's patrols and household visits (巡查走访) over the last months, so the coverage panel shows real figures.

Grid workers patrol on most working days and visit about their quota of households; a few fall behind (every
BEHIND_EVERY-th) and a few grids see no patrol in the running month. Street leaders and community staff record
a few each; each party-member household looks after the households of its building and a neighbour, and visits
some of them (recorded by its grid's worker). Written with bulk_create from a fixed seed: seconds, not minutes.
"""

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from accounts.models import Post
from accounts.roles import Role
from cases.models import Case, Source, Visit, VisitKind
from grids.geometry import to_shape
from grids.models import Area, LinkedHousehold, PartyOrganization, PartyOrgKind, Tier
from metrics.kpis import add_months, first_of_month
from metrics.models import MetricsSettings

BEHIND_EVERY = 11
QUIET_GRIDS = 3
FINDINGS = [
    "",
    "",
    "",
    "",
    "楼道堆放杂物，已提醒住户清理。",
    "一户独居老人身体状况良好，已留联系电话。",
    "小区路灯两盏不亮，需报修。",
    "沿街商户门前占道摆放货架。",
    "居民反映夜间施工噪声扰民。",
    "消防通道有私家车停放。",
    "井盖松动，已设置警示。",
    "电动车楼道充电，已劝离。",
]


def _point(rng, rect):
    west, south, east, north = rect
    return (
        round(rng.uniform(south + (north - south) * 0.1, north - (north - south) * 0.1), 6),
        round(rng.uniform(west + (east - west) * 0.1, east - (east - west) * 0.1), 6),
    )


def _days(month: dt.date, today: dt.date) -> list[dt.date]:
    last = min(add_months(month, 1) - dt.timedelta(days=1), today)
    return [month + dt.timedelta(days=n) for n in range((last - month).days + 1)]


def _moment(rng, day: dt.date):
    start = timezone.make_aware(
        dt.datetime.combine(day, dt.time(8, 30)) + dt.timedelta(minutes=rng.randrange(0, 8 * 60, 5))
    )
    return start, start + dt.timedelta(minutes=rng.randrange(30, 150, 5))


def _link_party_households(rng) -> int:
    """Each party-member household looks after households of its own building and the next one of its grid."""
    parties = list(
        PartyOrganization.objects.filter(kind=PartyOrgKind.MEMBER_HOUSEHOLD, linked_households__isnull=True)
        .select_related("area")
        .order_by("code")
    )
    buildings: dict[int, list[Area]] = {}
    for building in Area.objects.filter(tier=Tier.BUILDING).order_by("path"):
        buildings.setdefault(building.parent_id, []).append(building)
    rows = []
    for party in parties:
        own = party.area
        rows.append(LinkedHousehold(party_household=party, building=own, households=rng.randint(6, 10)))
        neighbours = [b for b in buildings.get(own.parent_id, []) if b.pk != own.pk]
        if neighbours:
            rows.append(
                LinkedHousehold(
                    party_household=party,
                    building=neighbours[0],
                    address=f"{rng.randint(1, 3)}单元",
                    households=rng.randint(2, 5),
                )
            )
    LinkedHousehold.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


@transaction.atomic
def seed_visits(*, months: int = 2, today: dt.date | None = None, seed: int = 370702) -> dict:
    """Visits of the last ``months`` months (the running one up to today), once: nothing when visits exist."""
    if Visit.objects.exists():
        return {"visits": 0, "linked": 0, "cases": 0}
    rng = random.Random(seed)
    today = today or timezone.localdate()
    rules = MetricsSettings.current()
    first = add_months(first_of_month(today), -(months - 1))
    month_list = [add_months(first, n) for n in range(months)]
    grids = {g.pk: g for g in Area.objects.filter(tier=Tier.GRID, boundary__isnull=False).order_by("path")}
    rects = {pk: to_shape(g.boundary).bounds for pk, g in grids.items()}
    buildings: dict[int, list[int]] = {}
    for pk, parent_id in Area.objects.filter(tier=Tier.BUILDING).values_list("pk", "parent_id"):
        buildings.setdefault(parent_id, []).append(pk)
    quiet = set(sorted(grids)[7 :: max(len(grids) // QUIET_GRIDS, 1)][:QUIET_GRIDS])
    posts = list(
        Post.objects.filter(
            role__in=[Role.GRID_WORKER, Role.STREET_LEADER, Role.COMMUNITY_STAFF],
            user__is_active=True,
        )
        .select_related("area")
        .order_by("area__path", "user_id")
    )
    grid_of_path = {g.path: pk for pk, g in grids.items()}
    worker_of_grid = {}
    rows = []

    def add(user_id, kind, grid_id, day, households, party_id=None):
        start, end = _moment(rng, day)
        lat, lng = _point(rng, rects[grid_id])
        end_lat, end_lng = _point(rng, rects[grid_id])
        homes = buildings.get(grid_id) or [None]
        rows.append(
            Visit(
                kind=kind,
                recorded_by_id=user_id,
                party_household_id=party_id,
                grid_id=grid_id,
                area_path=grids[grid_id].path,
                building_id=rng.choice(homes) if kind == VisitKind.HOUSEHOLD else None,
                started_at=start,
                ended_at=end,
                start_latitude=lat,
                start_longitude=lng,
                end_latitude=end_lat,
                end_longitude=end_lng,
                households=households,
                people_met=households + rng.randint(0, 4) if households else rng.randint(0, 6),
                findings=rng.choice(FINDINGS),
                created_at=end,
            )
        )

    for index, post in enumerate(posts):
        role = post.role
        if role == Role.COMMUNITY_STAFF:
            own_grids = [pk for path, pk in grid_of_path.items() if path.startswith(post.area.path)]
        else:
            grid_path = post.area.path if post.area.tier == Tier.GRID else post.area.path.rsplit("/", 2)[0] + "/"
            own_grids = [grid_of_path[grid_path]] if grid_path in grid_of_path else []
        if not own_grids:
            continue
        if role == Role.GRID_WORKER:
            worker_of_grid.setdefault(own_grids[0], post.user_id)
        household_quota = rules.visit_quota(role, "household")
        patrol_quota = rules.visit_quota(role, "patrol")
        effort = rng.uniform(0.5, 0.75) if index % BEHIND_EVERY == 0 else rng.uniform(1.0, 1.2)
        for month in month_list:
            days = _days(month, today)
            share = len(days) / (add_months(month, 1) - month).days
            workdays = [d for d in days if d.weekday() < 5] or days
            patrols = round(patrol_quota * share * effort)
            households = round(household_quota * share * effort)
            quiet_month = month == month_list[-1]
            for day in sorted(rng.sample(workdays, min(patrols, len(workdays)))):
                grid_id = rng.choice(own_grids)
                if quiet_month and grid_id in quiet:
                    continue
                add(post.user_id, VisitKind.PATROL, grid_id, day, rng.randint(2, 8))
            while households > 0:
                n = min(households, rng.randint(3, 8))
                add(post.user_id, VisitKind.HOUSEHOLD, rng.choice(own_grids), rng.choice(workdays), n)
                households -= n

    for party in PartyOrganization.objects.filter(kind=PartyOrgKind.MEMBER_HOUSEHOLD).select_related("area"):
        grid_id = party.area.parent_id
        recorder = worker_of_grid.get(grid_id)
        if recorder is None or grid_id not in grids:
            continue
        for month in month_list:
            days = _days(month, today)
            for _n in range(rng.randint(1, 3)):
                add(recorder, VisitKind.HOUSEHOLD, grid_id, rng.choice(days), rng.randint(3, 6), party.pk)
    Visit.objects.bulk_create(rows, batch_size=2000)
    linked = _link_party_households(rng)
    return {"visits": len(rows), "linked": linked, "cases": _link_sample_cases(first)}


def _link_sample_cases(since: dt.date) -> int:
    """Cases a grid worker reported since ``since``: each linked to a patrol of theirs that day, when there is one."""
    start = timezone.make_aware(dt.datetime.combine(since, dt.time.min))
    cases = Case.objects.filter(
        source=Source.GRID_PATROL, reported_at__gte=start, visit__isnull=True, reporter__isnull=False
    ).values_list("pk", "reporter_id", "reported_at")
    patrols = {}
    for pk, user_id, started in Visit.objects.filter(kind=VisitKind.PATROL, started_at__gte=start).values_list(
        "pk", "recorded_by_id", "started_at"
    ):
        patrols.setdefault((user_id, timezone.localdate(started)), pk)
    linked = 0
    for pk, user_id, reported in cases.iterator():
        visit = patrols.get((user_id, timezone.localdate(reported)))
        if visit is not None:
            Case.objects.filter(pk=pk).update(visit_id=visit)
            linked += 1
    return linked
