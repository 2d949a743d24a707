"""A small fixed data set whose figures are worked out by hand in the tests.

March 2026 (the period) and 29 January – 28 February 2026 (the previous period of the
same length), over the conftest tree: street A (community A, grid A: 2,500 residents)
and street B (community B, grid B: 2,000 residents). The work calendar of those months
is replaced by two exceptions, so working hours are plain arithmetic:

- Saturday 7 March 2026 is an adjusted working day;
- Friday 13 March 2026 is a holiday.
"""

from datetime import date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from cases.models import Case, Category, DeadlineUnit, WorkCalendarDay
from metrics import rollups
from metrics.kpis import Period

MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


@pytest.fixture(autouse=True)
def _no_cached_pages():
    # The public page is cached for a few minutes; each test must see its own database.
    cache.clear()
    yield
    cache.clear()


def at(month, day, hour=0, minute=0):
    return timezone.make_aware(datetime(2026, month, day, hour, minute))


@pytest.fixture
def metric_categories(db):
    stability = Category.objects.create(code="M1", name="矛盾纠纷")
    hazards = Category.objects.create(code="M2", name="治安")
    return {
        "dispute": Category.objects.create(
            code="M101",
            name="邻里纠纷",
            parent=stability,
            handle_limit=5,
            handle_unit=DeadlineUnit.WORKDAYS,
            safety_dimension="stability",
            safety_weight=1,
        ),
        "hazard": Category.objects.create(
            code="M201",
            name="治安隐患",
            parent=hazards,
            handle_limit=24,
            handle_unit=DeadlineUnit.HOURS,
            safety_dimension="criminal",
            safety_weight=3,
        ),
        "litter": Category.objects.create(code="M202", name="乱堆乱放", parent=hazards),
    }


@pytest.fixture
def march_calendar(db):
    WorkCalendarDay.objects.filter(date__range=(date(2025, 12, 1), date(2026, 12, 31))).delete()
    WorkCalendarDay.objects.create(date=date(2026, 3, 7), is_workday=True, name="调休上班")
    WorkCalendarDay.objects.create(date=date(2026, 3, 13), is_workday=False, name="测试假日")


def make_case(
    number,
    *,
    grid,
    category,
    status,
    reported,
    assigned=None,
    handled=None,
    deadline=None,
    rating="",
    rework_count=0,
    send_back_count=0,
    assign_count=None,
    department=None,
    current_deadline=None,
    title="楼道堆放杂物",
    original=None,
    **fields,
):
    closed = handled + timedelta(days=2) if status in ("rated", "closed") and handled else None
    case = Case.objects.create(
        number=number,
        title=title,
        description="测试",
        category=category,
        grid=grid,
        status=status,
        reported_at=reported,
        assessed_at=reported + timedelta(minutes=30) if status not in ("reported", "dismissed") else None,
        assigned_at=assigned,
        handled_at=handled,
        handle_deadline=deadline,
        # As the handling clock first set it; an extension moved ``deadline`` later.
        original_handle_deadline=original or deadline,
        fed_back_at=handled + timedelta(days=1) if status in ("fed_back", "rated", "closed") else None,
        closed_at=closed if status != "dismissed" else reported + timedelta(hours=2),
        rating=rating,
        rework_count=rework_count,
        send_back_count=send_back_count,
        assign_count=(1 if assigned else 0) if assign_count is None else assign_count,
        handling_department=department,
        current_deadline=current_deadline,
        **fields,
    )
    # Written straight to the table like the bulk seeder, so marked and refreshed as the services and beat would.
    rollups.mark(case)
    rollups.refresh()
    return case


@pytest.fixture
def dataset(tree, people, metric_categories, march_calendar):
    """Eight cases in March, two in February; see the module docstring and the expected figures in the tests."""
    dispute, hazard = metric_categories["dispute"], metric_categories["hazard"]
    a, b = tree.grid_a, tree.grid_b
    cases = {
        # March, street A
        "C1": make_case(
            "C1",
            grid=a,
            category=dispute,
            status="rated",
            reported=at(3, 2, 9),
            assigned=at(3, 2, 10),
            handled=at(3, 3, 10),
            deadline=at(3, 9, 10),
            original=at(3, 2, 12),
            extended_until=at(3, 9, 10),
            rating="satisfied",
        ),  # 24 working hours, on time (late against the original deadline, before an extension)
        "C2": make_case(
            "C2",
            grid=a,
            category=dispute,
            status="rated",
            reported=at(3, 5, 9),
            assigned=at(3, 6, 12),
            handled=at(3, 9, 12),
            deadline=at(3, 8, 12),
            rating="basically",
            rework_count=1,
            send_back_count=1,
            assign_count=2,
        ),  # Fri 12h + adjusted Sat 24h + Sun 0 + Mon 12h = 48 h, late
        "C3": make_case(
            "C3",
            grid=a,
            category=hazard,
            status="closed",
            reported=at(3, 10, 8),
            assigned=at(3, 10, 9),
            handled=at(3, 10, 15),
            deadline=at(3, 11, 9),
            department=tree.dept_district,
            suspension_count=1,
        ),  # 6 h, on time, closed unrated, suspended once
        "C4": make_case(
            "C4",
            grid=a,
            category=dispute,
            status="rated",
            reported=at(3, 12, 7),
            assigned=at(3, 12, 8),
            handled=at(3, 13, 20),
            deadline=at(3, 19, 8),
            rating="dissatisfied",
            department=tree.dept_a,
            assist_done_count=2,
            assist_on_time_count=1,
        ),  # two assisting tasks done, one by its sub-deadline; Thu 16 h + Friday holiday 0 = 16 h, on time
        "C5": make_case(
            "C5",
            grid=a,
            category=dispute,
            status="assigned",
            reported=at(3, 16, 9),
            assigned=at(3, 16, 9),
            deadline=at(3, 23, 9),
            current_deadline=at(3, 23, 9),
        ),  # still open past its deadline at the end of March: overdue
        "C6": make_case("C6", grid=a, category=dispute, status="dismissed", reported=at(3, 18, 9)),
        "C7": make_case("C7", grid=a, category=dispute, status="reported", reported=at(3, 20, 9)),
        # March, street B
        "C8": make_case(
            "C8",
            grid=b,
            category=hazard,
            status="rated",
            reported=at(3, 3, 8),
            assigned=at(3, 3, 9),
            handled=at(3, 4, 9),
            deadline=at(3, 4, 9),
            rating="satisfied",
            department=tree.dept_district,
        ),  # 24 h, exactly at the deadline: on time
        # February (previous period), street A
        "P1": make_case(
            "P1",
            grid=a,
            category=dispute,
            status="rated",
            reported=at(2, 3, 9),
            assigned=at(2, 3, 10),
            handled=at(2, 4, 10),
            deadline=at(2, 10, 10),
            rating="satisfied",
        ),  # 24 h, on time
        "P2": make_case(
            "P2",
            grid=a,
            category=dispute,
            status="rated",
            reported=at(2, 5, 9),
            assigned=at(2, 5, 10),
            handled=at(2, 13, 10),
            deadline=at(2, 12, 10),
            rating="dissatisfied",
        ),  # Thu 5 to Fri 13 February: 6 working days = 144 h, late
        # Outside both periods
        "X1": make_case("X1", grid=a, category=dispute, status="reported", reported=at(1, 20, 9)),
        "X2": make_case("X2", grid=b, category=dispute, status="reported", reported=at(4, 1, 0)),
    }
    return cases
