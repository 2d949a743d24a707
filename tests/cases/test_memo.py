"""The workflow and metrics settings and the work calendar kept per process (cases.memo): read once, and an
edit counts at once in the process that made it, within CHECK_SECONDS in every other, never after a rollback."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import transaction

from cases import memo
from cases.calendar import _calendar, deadline_after
from cases.models import WorkCalendarDay, WorkflowSettings, _workflow_settings

# Transactions of their own, as in production: a saved change commits, a rolled-back one is gone.
pytestmark = pytest.mark.django_db(transaction=True)

TZ = dt.timezone(dt.timedelta(hours=8))
THURSDAY = dt.datetime(2030, 5, 2, 10, 0, tzinfo=TZ)  # a year the seeded calendar does not cover


@pytest.fixture
def clock(monkeypatch):
    """The memo's clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(memo, "monotonic", lambda: now[0])

    def advance(seconds):
        now[0] += seconds

    return advance


def another_process_changed(shared):
    """What ``changed()`` in another process leaves here: a new version in the shared cache, nothing local."""
    shared._new_version()


def test_read_once_per_process(django_assert_num_queries):
    WorkflowSettings.current()
    with django_assert_num_queries(0):
        assert WorkflowSettings.current().warning_ratio == Decimal("0.80")


def test_a_change_counts_at_once_in_this_process():
    assert WorkflowSettings.current().rework_limit == 2
    WorkflowSettings.objects.create(rework_limit=1)
    assert WorkflowSettings.current().rework_limit == 1
    row = WorkflowSettings.current()
    row.rework_limit = 3
    row.save()
    assert WorkflowSettings.current().rework_limit == 3


def test_callers_get_their_own_copy():
    mine = WorkflowSettings.current()
    mine.rework_limit = 9  # changed but not saved, as a form bound to it might
    assert WorkflowSettings.current().rework_limit == 2


def test_another_process_change_counts_within_the_check_interval(clock):
    row = WorkflowSettings.objects.create(rework_limit=2)
    assert WorkflowSettings.current().rework_limit == 2
    # Another process saves: the row changes under us and the shared version moves.
    WorkflowSettings.objects.filter(pk=row.pk).update(rework_limit=4)
    another_process_changed(_workflow_settings)
    assert WorkflowSettings.current().rework_limit == 2  # checked less than a second ago
    clock(memo.CHECK_SECONDS)
    assert WorkflowSettings.current().rework_limit == 4


def test_without_the_shared_version_the_row_is_read_anyway(clock, monkeypatch):
    row = WorkflowSettings.objects.create(rework_limit=2)

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", down)
    clock(memo.CHECK_SECONDS)
    assert WorkflowSettings.current().rework_limit == 2
    WorkflowSettings.objects.filter(pk=row.pk).update(rework_limit=5)
    assert WorkflowSettings.current().rework_limit == 5  # nothing kept while the version cannot be checked


def test_a_change_rolled_back_is_not_kept():
    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        WorkflowSettings.objects.create(rework_limit=1)
        assert WorkflowSettings.current().rework_limit == 1  # this transaction sees its own change
        raise Undo
    assert WorkflowSettings.current().rework_limit == 2


def test_a_calendar_edit_counts_at_once_here_and_in_other_processes_within_the_interval(clock):
    # Thursday + 1 working day: Friday, unless Friday is a holiday.
    assert deadline_after(THURSDAY, 1, "workdays") == THURSDAY + dt.timedelta(days=1)
    WorkCalendarDay.objects.create(date=dt.date(2030, 5, 3), is_workday=False, name="假")
    assert deadline_after(THURSDAY, 1, "workdays") == THURSDAY + dt.timedelta(days=4)  # Monday
    # Another process makes it a working day again (a queryset update: no signal in this process).
    WorkCalendarDay.objects.filter(date=dt.date(2030, 5, 3)).update(is_workday=True)
    another_process_changed(_calendar)
    assert deadline_after(THURSDAY, 1, "workdays") == THURSDAY + dt.timedelta(days=4)
    clock(memo.CHECK_SECONDS)
    assert deadline_after(THURSDAY, 1, "workdays") == THURSDAY + dt.timedelta(days=1)


def test_changes_past_the_orm_count_within_the_maximum_age(clock):
    row = WorkflowSettings.objects.create(rework_limit=2)
    assert WorkflowSettings.current().rework_limit == 2
    WorkflowSettings.objects.filter(pk=row.pk).update(rework_limit=6)  # no signal, no new version
    clock(memo.CHECK_SECONDS)
    assert WorkflowSettings.current().rework_limit == 2
    clock(memo.MAX_AGE_SECONDS)
    assert WorkflowSettings.current().rework_limit == 6


def test_metrics_settings_are_kept_too_and_an_edit_counts_at_once(clock, django_assert_num_queries):
    from metrics.models import MetricsSettings, _metrics_settings

    assert MetricsSettings.current().staffing_standard == MetricsSettings().staffing_standard
    with django_assert_num_queries(0):
        MetricsSettings.current()
    row = MetricsSettings.objects.create(staffing_standard=21)
    assert MetricsSettings.current().staffing_standard == 21  # saved here: at once
    mine = MetricsSettings.current()
    mine.staffing_standard = 99  # a caller's own copy
    assert MetricsSettings.current().staffing_standard == 21
    MetricsSettings.objects.filter(pk=row.pk).update(staffing_standard=25)
    another_process_changed(_metrics_settings)
    clock(memo.CHECK_SECONDS)
    assert MetricsSettings.current().staffing_standard == 25
