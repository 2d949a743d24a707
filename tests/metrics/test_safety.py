"""The safety index worked out by hand, stored monthly, and left alone when the rules change later."""

import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from cases.models import Category
from metrics import safety, services, tasks
from metrics.models import MetricsSettings, SafetyIndexRun, SafetyIndexSnapshot

from .conftest import at

MARCH, FEBRUARY = date(2026, 3, 1), date(2026, 2, 1)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def rules(db):
    return MetricsSettings.objects.create(
        overdue_penalty=Decimal("0.50"), green_min=Decimal("98.00"), yellow_min=Decimal("96.00")
    )


def snapshot(month, **kwargs):
    # Recorded early on the 1st of the next month, as beat does.
    return services.snapshot_safety_index(actor=None, month=month, now=at(month.month + 1, 1, 0, 30), **kwargs)


def scores(month):
    return {s.area_code: (s.score, s.colour, s.rank, s.change) for s in SafetyIndexSnapshot.objects.filter(month=month)}


def test_march_by_hand(dataset, rules, tree):
    # Grid A (2,500 residents): accepted C1 C2 C4 C5 (stability, weight 1) and C3 (criminal, weight 3):
    # 7 points × 1,000 / 2,500 = 2.8; overdue C2 (handled late) and C5 (open past its deadline): 2 × 0.5.
    # Grid B (2,000): C8 (criminal, 3): 3 × 1,000 / 2,000 = 1.5; nothing overdue.
    # February, grid A: P1 P2 (stability): 2 × 0.4 = 0.8, P2 late: 0.5; grid B: no cases.
    snapshot(FEBRUARY)
    run = snapshot(MARCH)
    assert run.grids == 2
    got = scores(MARCH)
    assert got[tree.grid_a.code] == (Decimal("96.20"), "yellow", 2, Decimal("-2.50"))  # 98.70 in February
    assert got[tree.grid_b.code] == (Decimal("98.50"), "green", 1, Decimal("-1.50"))  # 100.00 in February
    assert got[tree.community_a.code] == (Decimal("96.20"), "yellow", 2, Decimal("-2.50"))
    assert got[tree.street_b.code] == (Decimal("98.50"), "green", 1, Decimal("-1.50"))
    # Population-weighted: (96.20 × 2,500 + 98.50 × 2,000) / 4,500 = 97.22; February 99.28.
    assert got[tree.district.code] == (Decimal("97.22"), "yellow", 1, Decimal("-2.06"))
    grid_a = SafetyIndexSnapshot.objects.get(month=MARCH, area_code=tree.grid_a.code)
    assert grid_a.inputs == {
        "cases": {"criminal": 1, "stability": 4},
        "points": {"criminal": 3.0, "stability": 4.0},
        "overdue": 2,
        "per_1000": 2.8,
        "penalty": 1.0,
    }
    assert grid_a.population == 2500 and grid_a.tier == "grid" and grid_a.area == tree.grid_a
    assert run.parameters["overdue_penalty"] == "0.50"
    assert run.parameters["categories"]["M101"] == {"name": "邻里纠纷", "dimension": "stability", "weight": "1.00"}


def test_a_recorded_month_stays_as_it_was_when_the_rules_change(dataset, rules, tree):
    snapshot(MARCH)
    before = scores(MARCH)
    Category.objects.filter(code="M101").update(safety_weight=5)
    rules.overdue_penalty, rules.green_min, rules.yellow_min = Decimal("10"), Decimal("50"), Decimal("40")
    services.save_metrics_settings(actor=None, metrics_settings=rules)
    with pytest.raises(services.SnapshotExists):
        snapshot(MARCH)
    assert scores(MARCH) == before
    assert SafetyIndexRun.objects.get(month=MARCH).parameters["overdue_penalty"] == "0.50"
    # Replacing it takes an explicit force, and then the new rules apply:
    # grid A: (4 × 5 + 3) × 0.4 = 9.2 and 2 × 10 overdue: 70.80.
    snapshot(MARCH, force=True)
    assert scores(MARCH)[tree.grid_a.code][:2] == (Decimal("70.80"), "green")


def test_multipliers_and_population_less_grids(dataset, rules, tree):
    rules.stability_multiplier = Decimal("2.00")
    tree.grid_b.population = 0
    tree.grid_b.save()
    rows = {a.code: a for a in safety.compute_month(month=MARCH, rules=rules, as_of=at(4, 1))}
    # Grid A: (4 × 1 × 2 + 3) × 0.4 = 4.4, minus 1.0 overdue.
    assert rows[tree.grid_a.code].score == Decimal("94.60")
    assert rows[tree.grid_b.code].score is None and rows[tree.grid_b.code].rank is None
    assert rows[tree.district.code].score == Decimal("94.60")  # only grid A has residents


def test_score_never_below_zero(db, tree, metric_categories, march_calendar, rules):
    from .conftest import make_case

    for i in range(400):
        make_case(f"H{i}", grid=tree.grid_b, category=metric_categories["hazard"], status="assessed", reported=at(3, 5))
    rows = {a.code: a for a in safety.compute_month(month=MARCH, rules=rules, as_of=at(4, 1))}
    assert rows[tree.grid_b.code].score == Decimal("0.00")
    assert rows[tree.grid_b.code].colour == "red"


def test_only_ended_months_are_recorded(db, tree):
    with pytest.raises(ValidationError):
        services.snapshot_safety_index(actor=None, month=date(2026, 3, 1), now=at(3, 20))


def test_settings_validate_thresholds(db):
    rules = MetricsSettings(green_min=Decimal("80"), yellow_min=Decimal("90"))
    with pytest.raises(ValidationError):
        services.save_metrics_settings(actor=None, metrics_settings=rules)


def test_command_records_and_refuses_to_replace(dataset, rules, capsys):
    call_command("snapshot_safety_index", "--month", "2026-03")
    assert "Recorded the safety index of 2026-03: 2 grids." in capsys.readouterr().out
    with pytest.raises(CommandError, match="--force"):
        call_command("snapshot_safety_index", "--month", "2026-03")
    call_command("snapshot_safety_index", "--month", "2026-03", "--force")
    assert SafetyIndexRun.objects.filter(month=MARCH).count() == 1


@pytest.mark.parametrize("month", ["2026-13", "2026-3", "march", ""])
def test_command_refuses_bad_months(db, month):
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("snapshot_safety_index", "--month", month)


def test_command_fails_with_one_line_and_a_non_zero_exit():
    result = subprocess.run(
        [sys.executable, "manage.py", "snapshot_safety_index", "--month", "2026-13"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "YYYY-MM" in lines[0]


def test_beat_records_last_month_on_the_first():
    entry = settings.CELERY_BEAT_SCHEDULE["snapshot-safety-index"]
    assert entry["task"] == "metrics.tasks.snapshot_safety_index"
    assert isinstance(entry["schedule"], crontab)
    assert 1 in entry["schedule"].day_of_month


def test_the_task_records_once(db, tree):
    first = tasks.snapshot_safety_index()
    assert first["recorded"] is True
    again = tasks.snapshot_safety_index()
    assert again == {"month": first["month"], "recorded": False}
    assert SafetyIndexRun.objects.count() == 1


def test_record_in_the_admin_and_the_replace_action(dataset, rules, client, people, tree):
    district = people["district_staff"]
    client.force_login(district)
    response = client.post("/admin/metrics/safetyindexrun/record/", {"month": "2026-03"})
    assert response.status_code == 302, response.content[:400]
    assert SafetyIndexSnapshot.objects.get(month=MARCH, area_code=tree.grid_a.code).score == Decimal("96.20")
    response = client.post("/admin/metrics/safetyindexrun/record/", {"month": "2026-03"})
    assert response.status_code == 400 and "已记录" in response.content.decode()
    Category.objects.filter(code="M101").update(safety_weight=5)
    run = SafetyIndexRun.objects.get(month=MARCH)
    response = client.post(
        "/admin/metrics/safetyindexrun/", {"action": "record_again", "_selected_action": [run.pk]}, follow=True
    )
    assert response.status_code == 200
    # (4 × 5 + 3) × 0.4 = 9.2, 2 × 0.5 overdue.
    assert SafetyIndexSnapshot.objects.get(month=MARCH, area_code=tree.grid_a.code).score == Decimal("89.80")


def test_street_staff_may_not_record(dataset, client, people):
    client.force_login(people["street_staff"])
    assert client.post("/admin/metrics/safetyindexrun/record/", {"month": "2026-03"}).status_code == 403
    assert not SafetyIndexRun.objects.exists()
