"""The admin index as a dashboard: what it shows, and a fixed number of queries however many streets."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from cases.calendar import forget_calendar
from cases.models import Case
from grids.models import Area, Department, Tier
from metrics import selectors, services
from metrics.charts import trend_chart
from metrics.kpis import Period, compute
from metrics.selectors import TrendPoint

from .conftest import at, make_case

MARCH_QUERY = "?from=2026-03-01&to=2026-03-31"


def test_dashboard_shows_the_figures_and_keeps_the_app_list(dataset, client, people, tree):
    services.snapshot_safety_index(actor=None, month=date(2026, 3, 1), now=at(4, 1, 1))
    client.force_login(people["district_staff"])
    response = client.get("/admin/" + MARCH_QUERY)
    assert response.status_code == 200
    page = response.content.decode()
    dashboard = response.context["dashboard"]
    assert dashboard.area == tree.district
    assert dashboard.kpis.value("on_time_rate") == 80.0
    assert "80.0%" in page and "+30.0" in page  # the card and its change in points
    assert "<svg" in page and "trend-chart" in page  # the chart is drawn on the server
    assert "cdn" not in page.lower()
    assert tree.street_a.name in page and tree.street_b.name in page  # roll-up and safety ranking
    assert "98.50" in page  # street B's safety index
    assert "邻里纠纷" in page  # categories by volume
    assert "app-cases" in page and "/admin/cases/case/" in page  # the app list is still there
    assert [row.area for row in dashboard.safety.rows] == [tree.street_b, tree.street_a]


def test_dashboard_without_figures_for_street_leaders(dataset, client, people):
    client.force_login(people["street_leader"])
    response = client.get("/admin/")
    assert response.status_code == 200
    assert response.context["dashboard"] is None


def test_dashboard_rejects_a_bad_period(dataset, client, people):
    client.force_login(people["district_staff"])
    response = client.get("/admin/?from=2026-04-01&to=2026-03-01")
    assert response.status_code == 200
    assert response.context["figures_form"].errors["from"]


def test_trend_chart_escapes_and_scales():
    points = [TrendPoint(date(2026, m, 1), m * 10, m * 5, 50.0 + m, None) for m in range(1, 4)]
    svg = str(trend_chart(points))
    assert svg.startswith("<svg") and svg.count("<rect") >= 6 and "<polyline" in svg
    assert trend_chart([]) == ""


def _build_streets(district, first, count, categories, department):
    for s in range(first, first + count):
        street = Area.objects.create(tier=Tier.STREET, code=f"{district.code}{s:03d}", name=f"街道{s}", parent=district)
        community = Area.objects.create(
            tier=Tier.COMMUNITY, code=f"{street.code}001", name=f"社区{s}", parent=street, population=3000 + s
        )
        grid = Area.objects.create(
            tier=Tier.GRID, code=f"{community.code}001", name=f"网格{s}", parent=community, population=1500 + s
        )
        make_case(
            f"Q{s}a",
            grid=grid,
            category=categories["dispute"],
            status="rated",
            reported=at(3, 2 + s % 20, 9),
            assigned=at(3, 2 + s % 20, 10),
            handled=at(3, 3 + s % 20, 10),
            deadline=at(3, 9 + s % 20, 10),
            rating="satisfied",
            department=department if s % 2 else None,
        )
        make_case(f"Q{s}b", grid=grid, category=categories["hazard"], status="assigned", reported=at(3, 4, 9))


def test_district_dashboard_queries_do_not_grow_with_streets(db, make_user, metric_categories, march_calendar, client):
    district = Area.objects.create(tier=Tier.DISTRICT, code="370799", name="测试区")
    department = Department.objects.create(name="测试局", code="T-1", area=district)
    _build_streets(district, 1, 6, metric_categories, department)
    user = make_user(Role.DISTRICT_STAFF, area=district, username="district_q")
    make_user(Role.GRID_WORKER, area=Area.objects.get(code="370799001001001"), username="worker_q")
    client.force_login(user)

    def measure():
        services.snapshot_safety_index(actor=None, month=date(2026, 3, 1), now=at(4, 1, 1), force=True)
        forget_calendar()
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/admin/" + MARCH_QUERY)
        assert response.status_code == 200
        return response, len(queries)

    client.get("/admin/" + MARCH_QUERY)  # warm the per-process caches (content types, ...)
    six, six_queries = measure()
    assert len(six.context["dashboard"].children) == 6
    _build_streets(district, 7, 54, metric_categories, department)
    sixty, sixty_queries = measure()
    dashboard = sixty.context["dashboard"]
    assert len(dashboard.children) == 60 and len(dashboard.safety.rows) == 60
    assert len(dashboard.staffing.rows) == 60 and dashboard.kpis.value("reported") == 120
    assert sixty_queries == six_queries, f"{six_queries} queries with 6 streets, {sixty_queries} with 60"


@pytest.mark.parametrize("role", [Role.COMMUNITY_STAFF, Role.GRID_WORKER])
def test_lower_tiers_see_their_own_area(dataset, client, people, tree, role):
    client.force_login(people[role])
    dashboard = client.get("/admin/" + MARCH_QUERY).context["dashboard"]
    expected = tree.community_a if role == Role.COMMUNITY_STAFF else tree.grid_a
    assert dashboard.area == expected
    assert dashboard.kpis.value("reported") == 7


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", [Role.DISTRICT_STAFF, Role.STREET_STAFF])
def test_a_dashboard_computed_afresh_reads_in_at_most_14_queries(dataset, people, tree, settings, role):
    """Every panel: figures of the area, its children and departments, the trend, categories, safety,
    staffing, inspections, hotspots and patrol coverage, as the first reader after an expiry computes them
    (committed data: what a process keeps of rarely edited rows, cases.memo, is kept)."""
    services.snapshot_safety_index(actor=None, month=date(2026, 3, 1), now=at(4, 1, 1))
    settings.FIGURES_CACHE_SECONDS = 0
    settings.HOTSPOT_CACHE_SECONDS = 600
    user = people[role]
    period = Period(date(2026, 3, 1), date(2026, 3, 31))
    selectors.dashboard(user=user, period=period)  # the hotspots' shared list, kept apart (beat renews it)
    with CaptureQueriesContext(connection) as queries:
        board = selectors.dashboard(user=user, period=period)
    # Queries: not the read transaction's BEGIN and COMMIT, nor its settings (analytic_queries).
    bracket = ("BEGIN", "COMMIT", "SELECT set_config(")
    statements = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(bracket)]
    # 15 at scale: long lists are read in slices, one more statement (benchmarks/dashboard_parts.py).
    assert len(statements) <= 14, "\n\n".join(statements)
    expected = tree.district if role == Role.DISTRICT_STAFF else tree.street_a
    direct = compute(Case.objects.filter(area_path__startswith=expected.path), period)[None]
    assert board.area == expected and board.kpis.value("reported") == direct.value("reported") > 0
    assert board.children and board.trend and board.categories and board.staffing and board.coverage
    assert board.departments and board.safety.rows
