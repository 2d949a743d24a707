"""The one deadline calculator, over the editable work calendar.

A deadline is either N natural hours after the start, or N working days:
the same time of day on the Nth working day after the start. A start on a
non-working day counts from the beginning of the next working day. Working
days are Monday to Friday unless the calendar says otherwise (statutory
holidays, adjusted working weekends); for years the calendar does not cover,
weekdays count and the admin warns.
"""

from datetime import date, datetime, time, timedelta

from django.apps import apps
from django.utils import timezone

from .memo import SharedMemo

# Every report and step computes deadlines, and the calendar changes a few times a year.
_calendar = SharedMemo("work-calendar")


def calendar_overrides(start: date, end: date) -> dict[date, bool]:
    """Exceptions to Monday-Friday between two dates (do not change the dict: it is shared). Kept per process
    until the calendar is edited in any process (cases.memo; edits call calendar_changed, see signals)."""

    def load():
        WorkCalendarDay = apps.get_model("cases", "WorkCalendarDay")
        return dict(WorkCalendarDay.objects.filter(date__range=(start, end)).values_list("date", "is_workday"))

    return _calendar.get((start, end), load)


def calendar_changed():
    """Days were added, changed or removed: every process reads the calendar again."""
    _calendar.changed()


def forget_calendar():
    """Drop this process's copy (tests start each database afresh)."""
    _calendar.forget()


def is_workday(day: date, overrides: dict[date, bool]) -> bool:
    return overrides.get(day, day.weekday() < 5)


def deadline_after(start: datetime, limit: int, unit: str, overrides: dict[date, bool] | None = None) -> datetime:
    if unit == "hours":
        return start + timedelta(hours=limit)
    local = timezone.localtime(start)
    day = local.date()
    if overrides is None:
        # Enough room for the longest run of holidays (Spring Festival) several times over.
        overrides = calendar_overrides(day, day + timedelta(days=limit * 2 + 40))
    if not is_workday(day, overrides):
        while not is_workday(day, overrides):
            day += timedelta(days=1)
        local = timezone.make_aware(datetime.combine(day, time.min))
    counted = 0
    while counted < limit:
        day += timedelta(days=1)
        if is_workday(day, overrides):
            counted += 1
    return timezone.make_aware(datetime.combine(day, local.time().replace(tzinfo=None)))


def clock_points(
    start: datetime, deadline: datetime, *, warning_ratio: float, grace_workdays: int, overrides=None
) -> tuple[datetime, datetime]:
    """When a clock from ``start`` to ``deadline`` warns (yellow) and when it goes to the district.

    The warning is a share of the clock's own length; the district point is a
    number of working days of grace after the deadline."""
    warn_at = start + (deadline - start) * float(warning_ratio)
    return warn_at, deadline_after(deadline, grace_workdays, "workdays", overrides)


def working_hours_between(start: datetime, end: datetime, overrides: dict[date, bool] | None = None) -> float:
    """Hours between two moments counting only working days (whole days of 24 h), for metrics."""
    if end <= start:
        return 0.0
    s, e = timezone.localtime(start), timezone.localtime(end)
    if overrides is None:
        overrides = calendar_overrides(s.date(), e.date())
    total = 0.0
    day = s.date()
    while day <= e.date():
        if is_workday(day, overrides):
            day_start = timezone.make_aware(datetime.combine(day, time.min))
            day_end = day_start + timedelta(days=1)
            total += (min(e, day_end) - max(s, day_start)).total_seconds() / 3600
        day += timedelta(days=1)
    return round(total, 2)


def years_without_calendar(today: date | None = None) -> list[int]:
    """This year and next, where the calendar has no entries at all."""
    today = today or timezone.localdate()
    years = (today.year, today.year + 1)

    def load():
        WorkCalendarDay = apps.get_model("cases", "WorkCalendarDay")
        return {d.year for d in WorkCalendarDay.objects.filter(date__year__in=years).dates("date", "year")}

    # Asked on every view of the case list by those who keep the calendar: kept with the calendar's days.
    covered = _calendar.get(("years", years), load)
    return [y for y in years if y not in covered]
