"""The KPI definitions, written once, and the engine that computes them for any set of cases.

Every dashboard card, roll-up table, department ranking, export, public
figure and API answer comes from ``compute`` below; the README's table of
definitions describes these same expressions.

The cases of a period are the cases *reported* in it (local time), and each
figure describes what has happened to them so far: a period's closure rate
keeps rising while its cases are being closed. The previous period is the
one of the same length immediately before.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection, models
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cases.models import AssistStatus, Rating, Status
from gov_platform.db_router import analytic_queries

from .workhours import WorkClock, percentile

# --- which cases count as what ------------------------------------------------
HANDLED_STATUSES = [Status.HANDLED, Status.FED_BACK, Status.RATED, Status.CLOSED]
# Accepted (立案): assessed or later; a dismissed case was never accepted.
ACCEPTED = ~Q(status__in=[Status.REPORTED, Status.DISMISSED])
CLOSED = Q(status__in=[Status.RATED, Status.CLOSED])
# Handled: the handling is done (a case back on rework counts again once re-handled).
HANDLED = Q(status__in=HANDLED_STATUSES)
ON_TIME = HANDLED & Q(handled_at__lte=F("handle_deadline"))
# Against the deadline the handling clock first set, as if no extension or suspension had moved it.
ON_TIME_ORIGINAL = HANDLED & Q(handled_at__lte=F("original_handle_deadline"))
SATISFIED = Q(status=Status.RATED, rating__in=[Rating.SATISFIED, Rating.BASICALLY])

# The counts every KPI is a ratio of: name -> (which cases, the field summed or None to count them).
# All are additive, so finer groups sum to coarser ones.
COUNTS = {
    "reported": (Q(), None),
    "accepted": (ACCEPTED, None),
    "closed": (CLOSED, None),
    "handled": (HANDLED, None),
    "on_time": (ON_TIME, None),
    "reworked": (HANDLED & Q(rework_count__gt=0), None),
    "send_backs": (Q(), "send_back_count"),
    "assignments": (Q(), "assign_count"),
    "rated": (Q(status=Status.RATED), None),
    "satisfied": (SATISFIED, None),
    "unrated": (Q(status=Status.CLOSED), None),
    # Moved clocks (cases/extensions.py): cases with an approved extension, cases ever suspended.
    "extended": (Q(extended_until__isnull=False), None),
    "suspended": (Q(suspension_count__gt=0), None),
    "on_time_original": (ON_TIME_ORIGINAL, None),
    # Assisting tasks (cases/joint.py) on the case: done, and done by their own sub-deadline.
    "assists_done": (Q(), "assist_done_count"),
    "assists_on_time": (Q(), "assist_on_time_count"),
}


def count_aggregates(within: Q | None = None, prefix: str = "") -> dict:
    """The COUNTS as aggregate expressions over the cases matching ``within``."""
    aggregates = {}
    for name, (condition, summed) in COUNTS.items():
        where = (within & condition) if within is not None else condition
        if summed:
            aggregates[prefix + name] = Coalesce(Sum(summed, filter=where or None), 0)
        else:
            aggregates[prefix + name] = Count("reported_at", filter=where or None)
    return aggregates


COUNT, PERCENT, HOURS = "count", "percent", "hours"


@dataclass(frozen=True)
class Kpi:
    key: str
    label: Promise
    unit: str
    numerator: str
    denominator: str | None
    # True: up is good; False: down is good; None: neither (volumes).
    higher_is_better: bool | None
    definition: Promise


KPIS = [
    Kpi("reported", _("Cases reported"), COUNT, "reported", None, None, _("Cases reported in the period.")),
    Kpi(
        "closed",
        _("Cases closed"),
        COUNT,
        "closed",
        None,
        None,
        _("Cases of the period now rated or closed unrated."),
    ),
    Kpi(
        "on_time_rate",
        _("On-time handling rate"),
        PERCENT,
        "on_time",
        "handled",
        True,
        _(
            "Handled cases whose handling was done by the handling deadline in force, an approved "
            "extension's included / handled cases."
        ),
    ),
    Kpi(
        "on_time_original_rate",
        _("On-time rate against the original deadline"),
        PERCENT,
        "on_time_original",
        "handled",
        True,
        _(
            "Handled cases whose handling was done by the deadline first set for it, as if no extension "
            "or suspension had moved it / handled cases."
        ),
    ),
    Kpi(
        "extension_rate",
        _("Extension rate"),
        PERCENT,
        "extended",
        "accepted",
        False,
        _("Accepted cases with at least one approved extension (延期) / cases accepted."),
    ),
    Kpi(
        "suspension_share",
        _("Suspension share"),
        PERCENT,
        "suspended",
        "accepted",
        None,
        _("Accepted cases suspended (挂账) at least once / cases accepted."),
    ),
    Kpi(
        "assist_on_time_rate",
        _("Assisting tasks on time"),
        PERCENT,
        "assists_on_time",
        "assists_done",
        True,
        _("Assisting tasks (协办) done by their sub-deadline / assisting tasks done, on the period's cases."),
    ),
    Kpi(
        "closure_rate",
        _("Closure rate"),
        PERCENT,
        "closed",
        "accepted",
        True,
        _("Cases rated or closed unrated / cases accepted (assessed or later, not dismissed)."),
    ),
    Kpi(
        "rework_rate",
        _("Rework rate"),
        PERCENT,
        "reworked",
        "handled",
        False,
        _("Handled cases that went back for rework at least once / handled cases."),
    ),
    Kpi(
        "misdispatch_rate",
        _("Mis-dispatch rate"),
        PERCENT,
        "send_backs",
        "assignments",
        False,
        _("Send-backs by handling units / assignments."),
    ),
    Kpi(
        "satisfaction_rate",
        _("Satisfaction rate"),
        PERCENT,
        "satisfied",
        "rated",
        True,
        _("Rated satisfied or basically satisfied / rated cases."),
    ),
    Kpi(
        "unrated_share",
        _("Unrated share"),
        PERCENT,
        "unrated",
        "closed",
        False,
        _("Cases closed without a rating / cases rated or closed."),
    ),
    Kpi(
        "mean_hours_to_handle",
        _("Mean time to handle"),
        HOURS,
        "mean_hours",
        "handled",
        False,
        _("Mean working hours from assignment to handling, over handled cases."),
    ),
    Kpi(
        "p90_hours_to_handle",
        _("90th percentile time to handle"),
        HOURS,
        "p90_hours",
        "handled",
        False,
        _("Working hours from assignment to handling within which nine in ten handled cases were handled."),
    ),
]
KPI_BY_KEY = {kpi.key: kpi for kpi in KPIS}


# --- periods ------------------------------------------------------------------
def start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def parse_month(value: str) -> date:
    """``YYYY-MM`` to the first day of that month; ValueError with the reason otherwise."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", value or "")
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise ValueError(f"A month is YYYY-MM, e.g. 2026-03; got {value!r}.")
    return date(int(match[1]), int(match[2]), 1)


# Long enough for any report; short enough that a work clock over it stays small.
MAX_PERIOD_DAYS = 3660


@dataclass(frozen=True)
class Period:
    """Days ``start`` to ``end``, both included, in local time."""

    start: date
    end: date

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError("A period ends on or after its start.")

    @classmethod
    def month(cls, month: date) -> "Period":
        first = first_of_month(month)
        return cls(first, add_months(first, 1) - timedelta(days=1))

    @classmethod
    def month_to_date(cls, today: date | None = None) -> "Period":
        today = today or timezone.localdate()
        return cls(first_of_month(today), today)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) as aware moments."""
        return start_of_day(self.start), start_of_day(self.end + timedelta(days=1))

    def __str__(self):
        return f"{self.start:%Y-%m-%d} – {self.end:%Y-%m-%d}"


# --- results --------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    kpi: Kpi
    value: float | int | None
    previous: float | int | None
    numerator: float | int | None
    denominator: int | None

    @property
    def key(self):
        return self.kpi.key

    @property
    def change(self) -> float | None:
        """Rates: the difference in percentage points; counts and hours: the relative change in percent."""
        if self.value is None or self.previous is None:
            return None
        if self.kpi.unit == PERCENT:
            return round(self.value - self.previous, 2)
        if not self.previous:
            return None
        return round((self.value - self.previous) * 100 / self.previous, 1)

    @property
    def change_unit(self) -> str:
        return "points" if self.kpi.unit == PERCENT else "percent"

    @property
    def display(self) -> str:
        return format_value(self.kpi.unit, self.value)

    @property
    def previous_display(self) -> str:
        return format_value(self.kpi.unit, self.previous)

    @property
    def change_display(self) -> str:
        change = self.change
        if change is None:
            return ""
        if self.kpi.unit == PERCENT:
            return gettext("%(sign)s%(n).1f pt") % {"sign": "+" if change > 0 else "", "n": change}
        return f"{'+' if change > 0 else ''}{change:.1f}%"

    @property
    def improved(self) -> bool | None:
        """Whether the change is for the better (None: no change, no direction, or nothing to compare)."""
        change = self.change
        if not change or self.kpi.higher_is_better is None:
            return None
        return (change > 0) == self.kpi.higher_is_better


def format_value(unit: str, value) -> str:
    if value is None:
        return "—"
    if unit == COUNT:
        return f"{value:,}"
    if unit == PERCENT:
        return f"{value:.1f}%"
    return gettext("%(n).1f h") % {"n": value}


def _value(kpi: Kpi, counts: dict):
    if kpi.unit == COUNT:
        return counts.get(kpi.numerator, 0)
    if kpi.unit == PERCENT:
        denominator = counts.get(kpi.denominator, 0)
        return round(100 * counts.get(kpi.numerator, 0) / denominator, 2) if denominator else None
    hours = counts.get(kpi.numerator)
    return None if hours is None else round(hours, 2)


@dataclass
class Kpis:
    """Every KPI of one set of cases for a period, with the previous period's values."""

    period: Period
    previous_period: Period
    current: dict = field(default_factory=dict)
    before: dict = field(default_factory=dict)

    @property
    def figures(self) -> dict[str, Figure]:
        return {
            kpi.key: Figure(
                kpi=kpi,
                value=_value(kpi, self.current),
                previous=_value(kpi, self.before),
                numerator=None if kpi.unit == HOURS else self.current.get(kpi.numerator, 0),
                denominator=self.current.get(kpi.denominator, 0) if kpi.denominator else None,
            )
            for kpi in KPIS
        }

    def __getitem__(self, key) -> Figure:
        return self.figures[key]

    def value(self, key):
        return _value(KPI_BY_KEY[key], self.current)

    @classmethod
    def summed(cls, parts: list["Kpis"], period: Period, previous: Period) -> "Kpis":
        """Counts add up; times to handle do not, so a sum of parts has none."""
        total = cls(period, previous)
        for part in parts:
            for mine, theirs in ((total.current, part.current), (total.before, part.before)):
                for name in COUNTS:
                    mine[name] = mine.get(name, 0) + theirs.get(name, 0)
        return total


# --- the engine -----------------------------------------------------------------
CURRENT, PREVIOUS = 1, 0
# The key of the whole set beside its groups (a tuple: never a path or an id).
TOTAL = ("total",)


def clock_for(period: Period, previous: Period | None = None) -> WorkClock:
    """A work clock wide enough for every case reported in ``period`` and the one before it."""
    previous = previous or period.previous()
    # Handling happens after reporting: up to today (and a margin for clocks slightly ahead).
    last = max(period.end, timezone.localdate()) + timedelta(days=31)
    return WorkClock.between(previous.start, last)


def compute(
    qs, period: Period, *, group=None, previous: Period | None = None, clock=None, hours=True, total=False
) -> dict:
    """KPIs of the cases of ``qs`` reported in ``period`` and in the previous period, per value of ``group``.

    ``group`` is an expression (a path prefix, a department id) or None for one group, keyed None;
    with ``total`` the whole set is added under TOTAL. A constant number of queries: one for the
    counts, one for the times to handle. Both periods are aggregated side by side with FILTER,
    not grouped by period: one pass, and a plain aggregate PostgreSQL can split over workers."""
    previous = previous or period.previous()
    current_start, current_end = period.bounds()
    previous_start, _previous_end = previous.bounds()
    base = qs.filter(reported_at__gte=previous_start, reported_at__lt=current_end).order_by()
    grouped = group is not None
    if grouped:
        base = base.annotate(g=group)
    in_current = Q(reported_at__gte=current_start)
    aggregates = {**count_aggregates(in_current, "c_"), **count_aggregates(~in_current, "p_")}
    with analytic_queries():
        rows = list(base.values("g").annotate(**aggregates)) if grouped else [base.aggregate(**aggregates)]

    results: dict = {}
    for row in rows:
        results[row.get("g")] = Kpis(
            period,
            previous,
            current={name: row["c_" + name] for name in COUNTS},
            before={name: row["p_" + name] for name in COUNTS},
        )
    if grouped and total:
        # Counts add up; the times to handle of the whole set come from the hours query.
        results[TOTAL] = Kpis.summed(list(results.values()), period, previous)
    if hours:
        clock = clock or clock_for(period, previous)
        handled = base.filter(HANDLED, assigned_at__isnull=False, handled_at__isnull=False).annotate(
            bucket=models.Case(
                models.When(in_current, then=Value(CURRENT)),
                default=Value(PREVIOUS),
                output_field=models.IntegerField(),
            )
        )
        for (key, bucket), (mean, p90) in handling_hours(handled, grouped, clock, total=grouped and total).items():
            kpis = results.setdefault(key, Kpis(period, previous))
            (kpis.current if bucket == CURRENT else kpis.before).update(mean_hours=mean, p90_hours=p90)
    return results


def handling_hours(handled, grouped: bool, clock: WorkClock, *, total: bool = False) -> dict:
    """(group, bucket) -> (mean, 90th percentile) working hours from assignment to handling;
    with ``total``, also (TOTAL, bucket) over every group."""
    fields = ["g", "bucket"] if grouped else ["bucket"]
    rows = handled.values(*fields, s_at=F("assigned_at"), e_at=F("handled_at"))
    if connection.vendor == "postgresql" and clock.fixed_offset is not None:
        return _handling_hours_sql(rows, grouped, clock, total)
    samples = defaultdict(list)
    for row in rows:
        hours = clock.hours(row["s_at"], row["e_at"])
        if hours is not None:
            samples[(row.get("g"), row["bucket"])].append(hours)
            if total:
                samples[(TOTAL, row["bucket"])].append(hours)
    return {key: (sum(values) / len(values), percentile(values, 0.9)) for key, values in samples.items()}


def _handling_hours_sql(rows, grouped, clock, total):
    # In the database: a district's handled cases never travel to Python, and percentile_cont is exact.
    inner, inner_params = rows.query.sql_with_params()
    hours = f"{WorkClock.sql_position('p.e_at')} - {WorkClock.sql_position('p.s_at')}"
    figures = ", ".join(
        f"AVG(GREATEST(q.h, 0)) FILTER (WHERE q.bucket = {bucket}), "
        f"percentile_cont(0.9) WITHIN GROUP (ORDER BY GREATEST(q.h, 0)) FILTER (WHERE q.bucket = {bucket})"
        for bucket in (CURRENT, PREVIOUS)
    )
    group_select, group_by = "", ""
    if grouped:
        group_select = "q.g, GROUPING(q.g), "
        group_by = " GROUP BY GROUPING SETS ((q.g), ())" if total else " GROUP BY q.g"
    # OFFSET 0 keeps the subquery whole: positions are computed once per case, and only (group, bucket,
    # hours) reach the aggregate. A case outside the clock's window has no position and is left out.
    # Every piece is this module's constant or Django's compiled SQL; values travel as parameters.
    positions = f"SELECT {'p.g, ' if grouped else ''}p.bucket, {hours} AS h FROM ({inner}) p CROSS JOIN cal OFFSET 0"  # noqa: S608
    sql = (
        f"WITH {WorkClock.SQL_CTE} SELECT {group_select}{figures} FROM ({positions}) q WHERE q.h IS NOT NULL{group_by}"  # noqa: S608
    )
    with analytic_queries() as db, db.cursor() as cursor:
        cursor.execute(sql, [*clock.sql_params(), *inner_params])
        fetched = cursor.fetchall()
    result = {}
    for row in fetched:
        if grouped:
            key, values = (TOTAL if row[1] else row[0]), row[2:]
        else:
            key, values = None, row
        for bucket, (mean, p90) in ((CURRENT, values[0:2]), (PREVIOUS, values[2:4])):
            if mean is not None:
                result[(key, bucket)] = (mean, p90)
    return result


# --- assisting tasks per assisting department ------------------------------------
# A case's counters (assists_done, assists_on_time) roll up under its *handling* department; the
# department that assisted is another one, so its own figures count the task rows, grouped by it.
ASSIST_COUNTS = {
    "named": Q(),
    "done": Q(status=AssistStatus.DONE),
    "on_time": Q(status=AssistStatus.DONE, done_at__lte=F("deadline")),
    "returned": Q(status=AssistStatus.RETURNED),
    "waived": Q(status=AssistStatus.WAIVED),
    "open_overdue": Q(status=AssistStatus.OPEN, deadline__lt=Now()),
}


@dataclass
class AssistFigures:
    """One department's assisting tasks (协办) on the cases of a period: on time and sent back, separately."""

    counts: dict

    @property
    def on_time_rate(self):
        done = self.counts.get("done", 0)
        return round(100 * self.counts.get("on_time", 0) / done, 2) if done else None

    @property
    def send_back_rate(self):
        named = self.counts.get("named", 0)
        return round(100 * self.counts.get("returned", 0) / named, 2) if named else None

    @property
    def on_time_display(self):
        return format_value(PERCENT, self.on_time_rate)

    @property
    def send_back_display(self):
        return format_value(PERCENT, self.send_back_rate)


def assist_figures(tasks, period: Period) -> dict[int, AssistFigures]:
    """Department id -> its assisting tasks on the cases reported in ``period``: one query."""
    start, end = period.bounds()
    rows = (
        tasks.filter(department__isnull=False, case__reported_at__gte=start, case__reported_at__lt=end)
        .order_by()
        .values("department_id")
        .annotate(**{name: Count("pk", filter=q or None) for name, q in ASSIST_COUNTS.items()})
    )
    return {row.pop("department_id"): AssistFigures(row) for row in rows}


def monthly_counts(qs, first_month: date, last_month: date, names=None) -> dict[date, dict]:
    """The KPI counts of each month's cases (no times to handle), for trend charts: one query.

    Months are told apart by comparing with their boundaries rather than truncating each case's
    time in the local zone: cheaper per case, and the same months."""
    months = []
    month = first_of_month(first_month)
    while month <= last_month:
        months.append(month)
        month = add_months(month, 1)
    index = models.Case(
        *[models.When(reported_at__lt=start_of_day(add_months(m, 1)), then=Value(i)) for i, m in enumerate(months)],
        output_field=models.IntegerField(),
    )
    rows = (
        qs.filter(reported_at__gte=start_of_day(months[0]), reported_at__lt=start_of_day(add_months(months[-1], 1)))
        .order_by()
        .annotate(month_index=index)
        .values("month_index")
        .annotate(**{k: v for k, v in count_aggregates().items() if names is None or k in names})
    )
    with analytic_queries():
        return {months[row["month_index"]]: {k: v for k, v in row.items() if k != "month_index"} for row in rows}


def rank(items, key, *, reverse=True):
    """Competition ranking (1, 2, 2, 4) on ``key(item)``; items whose key is None get no rank, last."""
    scored = sorted((i for i in items if key(i) is not None), key=key, reverse=reverse)
    ranked, last_value, last_rank = [], object(), 0
    for position, item in enumerate(scored, start=1):
        value = key(item)
        if value != last_value:
            last_rank, last_value = position, value
        ranked.append((last_rank, item))
    ranked.extend((None, i) for i in items if key(i) is None)
    return ranked
