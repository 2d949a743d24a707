"""Every KPI worked out by hand on the fixed data set (tests/metrics/conftest.py) and compared exactly.

On SQLite the times to handle are computed in Python, on PostgreSQL in SQL: the same numbers."""

import random
from datetime import date, timedelta

import pytest

from cases.calendar import working_hours_between
from metrics import selectors
from metrics.kpis import TOTAL, Period, clock_for, compute
from metrics.workhours import WorkClock, percentile

from .conftest import MARCH, at

# March 2026: C1..C8. Handled (handling done): C1, C2, C3, C4, C8; on time: all but C2.
# Accepted: all but C6 (dismissed) and C7 (not assessed). Rated: C1 satisfied, C2 basically,
# C4 dissatisfied, C8 satisfied; C3 closed unrated. Working hours: 24, 48, 6, 16, 24.
DISTRICT_MARCH = {
    "reported": (8, 2),
    "closed": (5, 2),
    "on_time_rate": (80.0, 50.0),  # 4/5, 1/2
    "closure_rate": (83.33, 100.0),  # 5/6, 2/2
    "rework_rate": (20.0, 0.0),  # 1/5, 0/2
    "misdispatch_rate": (14.29, 0.0),  # 1/7, 0/2
    "satisfaction_rate": (75.0, 50.0),  # 3/4, 1/2
    "unrated_share": (20.0, 0.0),  # 1/5, 0/2
    "mean_hours_to_handle": (23.6, 84.0),  # (6+16+24+24+48)/5, (24+144)/2
    "p90_hours_to_handle": (38.4, 132.0),  # 24 + 0.6 × 24; 24 + 0.9 × 120
    # C1 was extended: on time against the approved deadline, late against the original one.
    "on_time_original_rate": (60.0, 50.0),  # 3/5, 1/2
    "extension_rate": (16.67, 0.0),  # C1 / 6 accepted
    "suspension_share": (16.67, 0.0),  # C3 / 6 accepted
    "assist_on_time_rate": (50.0, None),  # C4: 1 of 2 assisting tasks by its sub-deadline
}
CHANGES = {
    "reported": 300.0,
    "closed": 150.0,
    "on_time_rate": 30.0,
    "closure_rate": -16.67,
    "rework_rate": 20.0,
    "misdispatch_rate": 14.29,
    "satisfaction_rate": 25.0,
    "unrated_share": 20.0,
    "mean_hours_to_handle": -71.9,
    "p90_hours_to_handle": -70.9,
    "on_time_original_rate": 10.0,
    "extension_rate": 16.67,
    "suspension_share": 16.67,
    "assist_on_time_rate": None,
}


def test_previous_period_has_the_same_length():
    assert MARCH.previous() == Period(date(2026, 1, 29), date(2026, 2, 28))
    assert Period(date(2026, 3, 10), date(2026, 3, 10)).previous() == Period(date(2026, 3, 9), date(2026, 3, 9))


def test_district_figures_by_hand(dataset, people, tree):
    figures = selectors.area_kpis(user=people["superuser"], area=tree.district, period=MARCH)
    got = {key: (f.value, f.previous) for key, f in figures.figures.items()}
    assert got == DISTRICT_MARCH
    assert {key: f.change for key, f in figures.figures.items()} == CHANGES


def test_numerators_and_denominators(dataset, people, tree):
    figures = selectors.area_kpis(user=people["superuser"], area=tree.district, period=MARCH).figures
    assert (figures["on_time_rate"].numerator, figures["on_time_rate"].denominator) == (4, 5)
    assert (figures["closure_rate"].numerator, figures["closure_rate"].denominator) == (5, 6)
    assert (figures["misdispatch_rate"].numerator, figures["misdispatch_rate"].denominator) == (1, 7)
    assert (figures["satisfaction_rate"].numerator, figures["satisfaction_rate"].denominator) == (3, 4)
    assert (figures["unrated_share"].numerator, figures["unrated_share"].denominator) == (1, 5)
    assert figures["mean_hours_to_handle"].denominator == 5
    assert figures["on_time_rate"].change_unit == "points"
    assert figures["reported"].change_unit == "percent"
    assert figures["satisfaction_rate"].improved is True
    assert figures["rework_rate"].improved is False


def test_roll_up_by_street_and_the_area_as_their_sum(dataset, people, tree):
    figures = selectors.area_figures(user=people["superuser"], area=tree.district, period=MARCH)
    assert [row.area for row in figures.children] == [tree.street_a, tree.street_b]
    street_a, street_b = (row.kpis for row in figures.children)
    assert street_a.value("reported") == 7
    assert street_a.value("on_time_rate") == 75.0  # C1, C3, C4 of C1..C4
    assert street_a.value("satisfaction_rate") == 66.67  # C1, C2 of C1, C2, C4
    assert street_a["mean_hours_to_handle"].value == 23.5  # (24 + 48 + 6 + 16) / 4
    assert street_a["p90_hours_to_handle"].value == 40.8  # 24 + 0.7 × 24
    assert street_b.value("reported") == 1
    assert street_b.value("on_time_rate") == 100.0
    assert street_b["mean_hours_to_handle"].value == 24.0
    # The area's own figures come with the roll-up and equal a direct computation.
    direct = selectors.area_kpis(user=people["superuser"], area=tree.district, period=MARCH)
    assert {k: (f.value, f.previous) for k, f in figures.kpis.figures.items()} == DISTRICT_MARCH
    assert {k: f.value for k, f in direct.figures.items()} == {k: f.value for k, f in figures.kpis.figures.items()}


def test_a_street_and_a_grid(dataset, people, tree):
    street = selectors.area_kpis(user=people["superuser"], area=tree.street_b, period=MARCH)
    assert (street.value("reported"), street.value("satisfaction_rate")) == (1, 100.0)
    grid = selectors.area_figures(user=people["superuser"], area=tree.grid_a, period=MARCH)
    assert grid.children == []
    assert grid.kpis.value("reported") == 7
    assert grid.kpis["unrated_share"].value == 25.0  # C3 of C1..C4


def test_departments_ranked_by_on_time_then_satisfaction(dataset, people, tree):
    rows = selectors.department_kpis(user=people["superuser"], area=tree.district, period=MARCH)
    assert [(r.rank, r.department) for r in rows] == [(1, tree.dept_district), (2, tree.dept_a)]
    police, team = rows[0].kpis, rows[1].kpis
    assert (police.value("reported"), police.value("on_time_rate"), police.value("satisfaction_rate")) == (
        2,
        100.0,
        100.0,
    )  # C3 (closed unrated), C8 (satisfied)
    assert police["mean_hours_to_handle"].value == 15.0  # (6 + 24) / 2
    assert police["p90_hours_to_handle"].value == 22.2  # 6 + 0.9 × 18
    assert (team.value("on_time_rate"), team.value("satisfaction_rate")) == (100.0, 0.0)  # C4, dissatisfied


def test_department_staff_read_their_department(dataset, people, tree):
    dashboard = selectors.dashboard(user=people["department_staff"], period=MARCH)
    assert dashboard.area is None
    assert [r.department for r in dashboard.departments] == [tree.dept_a]
    assert dashboard.kpis.value("reported") == 1  # C4


def test_no_cases_no_figures(db, tree, people, march_calendar):
    figures = selectors.area_kpis(user=people["superuser"], area=tree.district, period=MARCH).figures
    assert figures["reported"].value == 0
    assert figures["on_time_rate"].value is None
    assert figures["mean_hours_to_handle"].value is None
    assert figures["reported"].change is None


def test_monthly_trend(dataset, people, tree):
    trend = selectors.monthly_trend(selectors.area_filter(tree.district), months=3, today=date(2026, 3, 31))
    assert [(p.month, p.reported, p.closed, p.on_time_rate, p.satisfaction_rate) for p in trend] == [
        (date(2026, 1, 1), 1, 0, None, None),
        (date(2026, 2, 1), 2, 2, 50.0, 50.0),
        (date(2026, 3, 1), 8, 5, 80.0, 75.0),
    ]


def test_categories_by_volume(dataset, tree):
    rows = selectors.categories_by_volume(selectors.area_filter(tree.district), period=MARCH)
    assert [(r["name"], r["cases"], r["share"]) for r in rows] == [("邻里纠纷", 6, 75.0), ("治安隐患", 2, 25.0)]


def test_grouping_with_total_equals_the_parts(dataset):
    from django.db.models import F

    from cases.models import Case

    by_grid = compute(Case.objects.all(), MARCH, group=F("grid_id"), total=True)
    assert by_grid[TOTAL].value("reported") == 8
    assert by_grid[TOTAL]["p90_hours_to_handle"].value == 38.4
    assert sum(k.value("reported") for key, k in by_grid.items() if key is not TOTAL) == 8


def test_work_clock_agrees_with_the_calendar(march_calendar):
    clock = clock_for(MARCH)
    assert clock.hours(at(3, 6, 12), at(3, 9, 12)) == 48.0
    assert clock.hours(at(3, 12, 8), at(3, 13, 20)) == 16.0
    assert clock.hours(at(3, 14, 8), at(3, 15, 20)) == 0.0  # a weekend
    rng = random.Random(6)
    start = at(3, 1)
    for _ in range(300):
        s = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 40))
        e = s + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
        assert round(clock.hours(s, e), 2) == working_hours_between(s, e)


def test_work_clock_window():
    clock = WorkClock.between(date(2026, 3, 1), date(2026, 3, 31), overrides={})
    assert clock.hours(at(2, 27, 9), at(3, 2, 9)) is None
    assert clock.fixed_offset == 8 * 3600


def test_percentile_matches_percentile_cont():
    assert percentile([6, 16, 24, 24, 48], 0.9) == pytest.approx(38.4)
    assert percentile([5], 0.9) == 5
    assert percentile([], 0.9) is None
