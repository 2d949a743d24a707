"""Working hours between two moments for many cases at once, over the one work calendar (cases.calendar).

``cases.calendar.working_hours_between`` walks day by day for one pair; the
metrics need the same figure for every handled case of a district, in SQL
on PostgreSQL. Both count whole working days of 24 hours. Here the count is
a cumulative position: ``W(t)`` is the working hours from the start of a
window of days to ``t``, so the working hours between ``s`` and ``e`` are
``W(e) - W(s)``. The window's days come from ``calendar_overrides`` and
``is_workday``, so holidays and adjusted weekends are the calendar's own.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.utils import timezone

from cases.calendar import calendar_overrides, is_workday

DAY_HOURS = 24.0


@dataclass
class WorkClock:
    first: date
    last: date
    # day -> (is a working day, working hours of the window before that day)
    days: dict[date, tuple[bool, float]] = field(default_factory=dict)

    @classmethod
    def between(cls, first: date, last: date, overrides: dict[date, bool] | None = None) -> "WorkClock":
        """The clock over ``first`` to ``last`` (one query for the calendar's exceptions)."""
        overrides = calendar_overrides(first, last) if overrides is None else overrides
        clock = cls(first=first, last=last)
        before, day = 0.0, first
        while day <= last:
            work = is_workday(day, overrides)
            clock.days[day] = (work, before)
            if work:
                before += DAY_HOURS
            day += timedelta(days=1)
        return clock

    def position(self, moment: datetime) -> float | None:
        local = timezone.localtime(moment)
        entry = self.days.get(local.date())
        if entry is None:
            return None
        work, before = entry
        if not work:
            return before
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return before + (local - midnight).total_seconds() / 3600

    def hours(self, start: datetime, end: datetime) -> float | None:
        """Working hours from ``start`` to ``end``; None when either lies outside the window."""
        s, e = self.position(start), self.position(end)
        if s is None or e is None:
            return None
        return max(e - s, 0.0)

    # --- PostgreSQL -------------------------------------------------------------
    # In a zone with one UTC offset over the window (China has had no daylight saving since 1991),
    # a moment's local day is plain arithmetic on its epoch, and its position is linear within the
    # day: W(t) = m[day] * epoch(t) / 3600 + a[day], with m 1 on working days and 0 otherwise.
    # The window travels as one row of two arrays indexed by day: no join, no time-zone lookup.
    SQL_CTE = "cal AS (SELECT %s::float8 AS off, %s::int AS first, %s::float8[] AS m, %s::float8[] AS a)"

    @cached_property
    def fixed_offset(self) -> float | None:
        """The window's UTC offset in seconds if it is the same on every day, else None."""
        offsets = set()
        day = self.first
        while day <= self.last and len(offsets) < 2:
            offsets.add(timezone.make_aware(datetime.combine(day, time.min)).utcoffset())
            day += timedelta(days=1)
        return next(iter(offsets)).total_seconds() if len(offsets) == 1 else None

    def sql_params(self) -> list:
        offset = self.fixed_offset
        multipliers, additions = [], []
        for day, (work, before) in sorted(self.days.items()):
            start = timezone.make_aware(datetime.combine(day, time.min)).timestamp()
            multipliers.append(1.0 if work else 0.0)
            additions.append(before - start / 3600 if work else before)
        first_day = int((timezone.make_aware(datetime.combine(self.first, time.min)).timestamp() + offset) // 86400)
        return [offset, first_day, multipliers, additions]

    @staticmethod
    def sql_position(column: str) -> str:
        """W(``column``) over the ``cal`` row of SQL_CTE; NULL outside the window."""
        seconds = f"date_part('epoch', {column})"
        day = f"(floor(({seconds} + cal.off) / 86400)::int - cal.first + 1)"
        return f"(cal.m[{day}] * {seconds} / 3600 + cal.a[{day}])"


def percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks: PostgreSQL's percentile_cont, for SQLite."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
