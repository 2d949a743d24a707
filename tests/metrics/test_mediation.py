"""就地化解率 (metrics/mediation.py) on a fixed set of mediations, counted by hand; the dashboard and /public/
show it; the staffing panel lists the grid workers due for training."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Attendance, Course
from accounts.roles import Role
from cases.models import Case, Category, Mediation
from grids.models import Area, Tier
from metrics import mediation
from metrics.kpis import Period

SH = ZoneInfo("Asia/Shanghai")
MONTH = Period(date(2026, 10, 1), date(2026, 10, 31))


@pytest.fixture
def dispute(db):
    group = Category.objects.create(code="01", name="矛盾纠纷调解")
    return Category.objects.create(code="0101", name="邻里纠纷", parent=group, requires_mediation=True)


def mediated(grid, dispute, outcome, day):
    case = Case.objects.create(title="纠纷", description="x", category=dispute, grid=grid, status="handled")
    at = datetime.combine(day, time(10), tzinfo=SH)
    return Mediation.objects.create(case=case, outcome=outcome, outcome_at=at)


@pytest.fixture
def fixed_set(tree, dispute):
    """Community A: 3 resolved, 1 partly, 1 court in October, and 1 resolved in September (outside);
    community B: 1 resolved, 1 arbitration in October, and one record without an outcome (not counted)."""
    a, b = tree.grid_a, tree.grid_b
    for outcome, day in [
        ("resolved", date(2026, 10, 2)),
        ("resolved", date(2026, 10, 15)),
        ("resolved", date(2026, 10, 31)),
        ("partly", date(2026, 10, 9)),
        ("court", date(2026, 10, 20)),
        ("resolved", date(2026, 9, 30)),
    ]:
        mediated(a, dispute, outcome, day)
    mediated(b, dispute, "resolved", date(2026, 10, 3))
    mediated(b, dispute, "arbitration", date(2026, 10, 4))
    open_case = Case.objects.create(title="纠纷", description="x", category=dispute, grid=b, status="assigned")
    Mediation.objects.create(case=open_case)


@pytest.mark.django_db
def test_resolution_rate_counted_by_hand(fixed_set, tree, people):
    with CaptureQueriesContext(connection) as queries:
        table = mediation.resolution_rates(user=people[Role.DISTRICT_STAFF], area=tree.district, period=MONTH)
    assert len(queries) <= 3
    rows = {row.area.name: (row.mediated, row.resolved, row.rate) for row in table.communities + table.streets}
    # Community A: 3 of 5 (60.0%); community B: 1 of 2 (50.0%); the district 4 of 7 (57.1%).
    assert rows == {
        "甲一社区": (5, 3, 60.0),
        "乙一社区": (2, 1, 50.0),
        "甲街道": (5, 3, 60.0),
        "乙街道": (2, 1, 50.0),
    }
    assert (table.total.mediated, table.total.resolved, table.total.rate) == (7, 4, 57.1)
    # A street reads its own only; another's is refused.
    own = mediation.resolution_rates(user=people[Role.STREET_STAFF], area=tree.street_a, period=MONTH)
    assert [r.area for r in own.communities] == [tree.community_a] and own.total.rate == 60.0
    with pytest.raises(PermissionDenied):
        mediation.resolution_rates(user=people[Role.STREET_STAFF], area=tree.street_b, period=MONTH)
    # Nothing mediated: no rate rather than 0%.
    empty = mediation.resolution_rates(
        user=people[Role.DISTRICT_STAFF], area=tree.district, period=Period(date(2026, 8, 1), date(2026, 8, 31))
    )
    assert empty.total.rate is None


@pytest.mark.django_db
def test_public_page_shows_the_rate(fixed_set, client, monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *a: date(2026, 11, 5))
    table = mediation.public_rates(today=date(2026, 11, 5))
    assert {(r.area.name, r.mediated, r.resolved) for r in table.streets} == {("甲街道", 6, 4), ("乙街道", 2, 1)}
    body = client.get("/public/").content.decode()
    assert "就地化解率" in body and "66.7%" in body


@pytest.mark.django_db
def test_dashboard_shows_rate_and_training_due(fixed_set, tree, people, make_user, client, role_groups):
    today = timezone.localdate()
    due = make_user(Role.GRID_WORKER, area=tree.grid_a, username="due_worker")
    course = Course.objects.create(title="轮训", date=today - timedelta(days=30), hours=8, area=tree.district)
    Attendance.objects.create(course=course, user=people[Role.GRID_WORKER], hours=8, passed=True)
    client.force_login(people[Role.STREET_STAFF])
    body = client.get(reverse("admin:index")).content.decode()
    assert 'id="mediation-resolution"' in body and 'id="training-due"' in body
    panel = body.split('id="training-due"')[1].split("</table>")[0]
    assert due.get_full_name() in panel and people[Role.GRID_WORKER].get_full_name() not in panel
    assert Area.objects.filter(tier=Tier.COMMUNITY).count() == 2
