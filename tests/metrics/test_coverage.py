"""Patrol and visit coverage (metrics.coverage): the arithmetic on a fixed data set worked out by hand, quotas and
pace, party-member households, scope, the API, the KPIs' visit figures and the dashboard panel."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from cases.models import Case, Visit, VisitKind
from cases.services import create_case
from grids.models import LinkedHousehold, PartyOrganization, PartyOrgKind
from metrics.coverage import coverage, pace_of
from metrics.models import MetricsSettings
from tests.api_support import isolate_throttling, token_client

pytestmark = pytest.mark.django_db

OCTOBER = dt.date(2026, 10, 1)
LATER = dt.date(2026, 11, 15)


def at(day, hour=9, month=10):
    return timezone.make_aware(dt.datetime(2026, month, day, hour))


@pytest.fixture(autouse=True)
def _throttle(monkeypatch):
    isolate_throttling(monkeypatch)


@pytest.fixture
def october(tree, people, make_user, metric_categories):
    """Grid A: 200 households; grid B: 50 and no visit at all.

    worker A: household visits of 10, 20 and 15 households, 12 patrols, a visit of 9 households made by the
    party-member household H (counts for the grid and H, not for A), and 30 households in September (not counted);
    worker A2: one visit of 85 households and 20 patrols; the street leader: one patrol; community staff: nothing.
    H looks after 8 + 4 households. One case was reported from worker A's first visit."""
    tree.grid_a.households, tree.grid_b.households = 200, 50
    tree.grid_a.save()
    tree.grid_b.save()
    worker, leader = people[Role.GRID_WORKER], people[Role.STREET_LEADER]
    second = make_user(Role.GRID_WORKER, area=tree.grid_a, username="grid_a2")
    party = PartyOrganization.objects.create(
        kind=PartyOrgKind.MEMBER_HOUSEHOLD, code="H-A", name="甲一楼院党员中心户", area=tree.building_a
    )
    LinkedHousehold.objects.create(party_household=party, building=tree.building_a, households=8)
    LinkedHousehold.objects.create(party_household=party, building=tree.building_a, address="2单元", households=4)

    def visit(by, kind, day, households=0, month=10, **extra):
        return Visit(
            recorded_by=by,
            kind=kind,
            grid=tree.grid_a,
            area_path=tree.grid_a.path,
            started_at=at(day, month=month),
            ended_at=at(day, 11, month=month),
            households=households,
            **extra,
        )

    rows = [visit(worker, VisitKind.HOUSEHOLD, d, h) for d, h in ((3, 10), (10, 20), (17, 15))]
    rows += [visit(worker, VisitKind.PATROL, d, 2) for d in range(1, 13)]
    rows += [visit(worker, VisitKind.HOUSEHOLD, 20, 9, party_household=party)]
    rows += [visit(worker, VisitKind.HOUSEHOLD, 20, 30, month=9)]
    rows += [visit(second, VisitKind.HOUSEHOLD, 5, 85)]
    rows += [visit(second, VisitKind.PATROL, d) for d in range(1, 21)]
    rows += [visit(leader, VisitKind.PATROL, 8, 1)]
    Visit.objects.bulk_create(rows)
    category = next(c for c in metric_categories.values() if c.parent_id)
    case = create_case(actor=worker, title="井盖缺失", description="井盖缺失", category=category, grid=tree.grid_a)
    first_in_october = Visit.objects.filter(recorded_by=worker, started_at__gte=at(1)).order_by("started_at")[0]
    Case.objects.filter(pk=case.pk).update(visit=first_in_october)
    return {"party": party, "second": second}


def test_the_arithmetic_by_hand(october, tree, people):
    c = coverage(area=tree.district, month=OCTOBER, today=LATER)
    assert c.pace == 1.0
    grid_a, grid_b = c.grids
    assert (grid_a.households, grid_a.households_visited, grid_a.by_party_households) == (200, 45 + 85 + 9, 9)
    assert (grid_a.household_visits, grid_a.patrols, grid_a.cases) == (5, 12 + 20 + 1, 1)
    assert grid_a.rate == 69.5  # 139 / 200
    assert (grid_b.households_visited, grid_b.patrols, grid_b.rate) == (0, 0, 0.0)
    assert [g.area for g in c.grids_without_patrol] == [tree.grid_b]
    total = c.total
    assert (total.grids, total.households, total.households_visited, total.patrols) == (2, 250, 139, 33)
    assert total.rate == 55.6  # 139 / 250
    assert (total.grids_without_patrol, total.workers, total.workers_behind) == (1, 4, 3)
    street_a, street_b = c.children
    assert (street_a.area, street_a.households_visited, street_a.workers, street_a.workers_behind) == (
        tree.street_a,
        139,
        4,
        3,
    )
    assert (street_b.area, street_b.grids_without_patrol, street_b.workers) == (tree.street_b, 1, 0)

    workers = {w.username: w for w in c.workers}
    a = workers["grid_a"]
    # The party household's 9 and September's 30 are not A's.
    assert (a.role, a.households_visited, a.household_quota, a.patrols, a.patrol_quota) == (
        "grid_worker",
        45,
        80,
        12,
        20,
    )
    assert a.behind and a.household_rate == 56.2 and a.patrol_rate == 60.0
    assert not workers["grid_a2"].behind and workers["grid_a2"].household_rate == 100.0
    leader = workers["leader_a"]
    assert (leader.role, leader.patrols, leader.patrol_quota, leader.household_quota, leader.behind) == (
        "street_leader",
        1,
        4,
        10,
        True,
    )
    staff = workers["community_a"]
    assert (staff.role, staff.household_quota, staff.households_visited, staff.behind) == (
        "community_staff",
        20,
        0,
        True,
    )
    # Most behind first: A 35 + 8 missing, community staff 20 + 4, the leader 10 + 3.
    assert [w.username for w in c.workers_behind] == ["grid_a", "community_a", "leader_a"]

    (party,) = c.party_households
    assert (party.linked, party.visits, party.households_visited, party.rate) == (12, 1, 9, 75.0)
    assert (c.party_linked, c.party_visited) == (12, 9)


def test_quotas_come_from_the_settings_and_the_running_month_is_pro_rata(october, tree):
    rules = MetricsSettings.current()
    rules.grid_worker_household_quota = 40
    rules.save()
    c = coverage(area=tree.grid_a, month=OCTOBER, today=LATER)
    workers = {w.username: w for w in c.workers}
    assert workers["grid_a"].household_quota == 40 and workers["grid_a"].households_visited == 45
    assert workers["grid_a"].behind  # 45 ≥ 40 households, but 12 < 20 patrols
    assert pace_of(OCTOBER, dt.date(2026, 10, 10)) == pytest.approx(10 / 31)
    assert pace_of(OCTOBER, dt.date(2026, 9, 30)) == 0.0
    early = coverage(area=tree.grid_a, month=OCTOBER, today=dt.date(2026, 10, 10))
    a = {w.username: w for w in early.workers}["grid_a"]
    assert (a.households_expected, a.patrols_expected) == (13, 6)  # 40 × 10/31, 20 × 10/31, rounded
    assert not a.behind
    assert c.children == []  # a grid has no children to sum


def test_a_visit_that_found_two_cases_counts_its_households_once(october, tree, people):
    found = Case.objects.filter(visit__isnull=False).get()
    second = create_case(
        actor=people[Role.GRID_WORKER],
        title="路灯不亮",
        description="路灯不亮",
        category=found.category,
        grid=tree.grid_a,
    )
    Case.objects.filter(pk=second.pk).update(visit=found.visit)
    grid_a = coverage(area=tree.district, month=OCTOBER, today=LATER).grids[0]
    assert (grid_a.household_visits, grid_a.households_visited, grid_a.patrols, grid_a.cases) == (5, 139, 33, 2)


def test_a_constant_number_of_queries(october, tree, make_user):
    MetricsSettings.current()  # kept per process: read once, not by every figure
    with CaptureQueriesContext(connection) as small:
        coverage(area=tree.district, month=OCTOBER, today=LATER)
    added = []
    for n in range(5):
        worker = make_user(Role.GRID_WORKER, area=tree.grid_b)
        added.append(worker.pk)
        Visit.objects.create(
            recorded_by=worker,
            kind=VisitKind.HOUSEHOLD,
            grid=tree.grid_b,
            started_at=at(n + 1),
            ended_at=at(n + 1, 10),
            households=3,
        )
    with CaptureQueriesContext(connection) as large:
        c = coverage(area=tree.district, month=OCTOBER, today=LATER)
    assert len(large.captured_queries) == len(small.captured_queries) == 4
    assert c.grids[1].households_visited == 15
    own = {w.user_id: (w.household_visits, w.households_visited) for w in c.workers if w.user_id in added}
    assert own == dict.fromkeys(added, (1, 3))


def test_api_coverage_and_scope(october, tree, people):
    response = token_client(people[Role.DISTRICT_STAFF]).get("/api/v1/metrics/coverage/?month=2026-10")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["month"] == "2026-10" and body["pace"] == 1.0
    assert body["total"]["households_visited"] == 139 and body["total"]["coverage_rate"] == 55.6
    assert {q["role"]: q["households"] for q in body["quotas"]} == {
        "grid_worker": 80,
        "community_staff": 20,
        "street_leader": 10,
    }
    assert [row["area"]["code"] for row in body["children"]] == [tree.street_a.code, tree.street_b.code]
    assert body["party_households"][0]["linked_households"] == 12
    behind = {w["name"]: w["behind"] for w in body["workers"]}
    assert sum(behind.values()) == 3
    worker = token_client(people[Role.GRID_WORKER])
    assert worker.get(f"/api/v1/metrics/coverage/?area={tree.grid_a.code}&month=2026-10").status_code == 200
    assert worker.get(f"/api/v1/metrics/coverage/?area={tree.district.code}").status_code == 403
    assert worker.get("/api/v1/metrics/coverage/?month=2026-13").status_code == 400
    assert token_client(people[Role.STREET_LEADER]).get("/api/v1/metrics/coverage/").status_code == 403


def test_kpis_api_carries_the_visit_figures_of_the_period(october, tree, people):
    response = token_client(people[Role.DISTRICT_STAFF]).get("/api/v1/metrics/kpis/?from=2026-10-01&to=2026-10-31")
    assert response.status_code == 200
    visits = response.json()["visits"]
    assert (visits["households_visited"], visits["patrols"], visits["grids_without_patrol"]) == (139, 33, 1)
    assert visits["coverage_rate"] == 55.6 and visits["cases"] == 1
    september = token_client(people[Role.DISTRICT_STAFF]).get("/api/v1/metrics/kpis/?from=2026-09-01&to=2026-09-30")
    assert september.json()["visits"]["households_visited"] == 30


def test_dashboard_panel(october, tree, people, client):
    client.force_login(people[Role.DISTRICT_STAFF])
    response = client.get("/admin/?from=2026-10-01&to=2026-10-31")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="visit-coverage"' in page and "2026-10" in page
    assert f"recorded_by__id__exact={people[Role.COMMUNITY_STAFF].pk}" in page
