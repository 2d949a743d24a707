"""Roll-ups: the KPI counts of each whole past day by grid, category and handling department, kept current.

A case counts on the local day it was reported (metrics.kpis: a period's cases are the cases
reported in it), so a change to a case only touches the bucket (day, grid path) it was reported
in, and the old one when it moved between grids. The services send ``cases.changes.figures_changed``
in the writing transaction; the receiver here writes a DirtyBucket row in that same transaction;
``refresh`` (beat, every tick) recomputes only the marked buckets from the case table with the one
definition (metrics.kpis.count_aggregates), all of them in one pass of grouped statements, and writes
only the rows that changed; ``rebuild`` recomputes everything (``manage.py rebuild_rollups``, after a
bulk load or a repair).

Readers (``figures``, ``monthly_counts``, ``category_volumes``) sum the roll-ups of whole past
days and add today's cases from the live table, and give exactly what ``metrics.kpis.compute``
gives over the case table. Working time to handle is kept in whole microseconds per handled
case (the work clock's hours are whole days plus the difference of two moments, so this is
exact), which makes the mean and the 90th percentile exact too.
"""

import gc
import json
from collections import Counter, defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from operator import itemgetter

from django.contrib.postgres.aggregates import ArrayAgg
from django.contrib.postgres.fields import ArrayField
from django.db import connection, connections, models, transaction
from django.db.models import ExpressionWrapper, F, Func, Q, Sum, Value
from django.db.models.functions import Cast, Substr, TruncDate, TruncMonth
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from cases.changes import figures_changed
from cases.models import Case, WorkCalendarDay
from grids.models import TIER_CODE_LENGTH, TIER_ORDER, Tier

from . import names, percentiles
from .fields import MicrosecondsField
from .kpis import (
    COUNTS,
    CURRENT,
    HANDLED,
    PREVIOUS,
    TOTAL,
    Kpis,
    Period,
    add_months,
    analytic_queries,
    count_aggregates,
    first_of_month,
    start_of_day,
)
from .models import CoarseRollup, DailyRollup, DirtyBucket, MonthlyRollup, RollupState
from .percentiles import Percentile, SortedList, sample_step, samples_of
from .workhours import WorkClock, percentile

US_PER_HOUR = 3_600_000_000
BUCKET_FIELDS = ["area_path", "grid_id", "category_id", "handling_department_id"]
# A calendar edit changes the working hours of cases handled on that day: those reported up to this long before.
CALENDAR_REACH_DAYS = 400
WHOLE_DAY = ""  # a DirtyBucket path meaning every grid of the day


def _cut(tier) -> int:
    """The length of the path of an area of ``tier``."""
    return sum(TIER_CODE_LENGTH[t] + 1 for t in TIER_ORDER[: TIER_ORDER.index(tier) + 1])


# The monthly level keeps the path down to the community: a prefix every district, street or community filter takes.
MONTH_PATH_LENGTH = _cut(Tier.COMMUNITY)
# The coarse level (CoarseRollup) cuts paths at the district, street or community.
STREET_PATH_LENGTH, DISTRICT_PATH_LENGTH = _cut(Tier.STREET), _cut(Tier.DISTRICT)
# Its levels: (per department, the tier the path is cut at, as depth). A district reads its streets' rows, a
# street its communities' (or its own, per department); a district's departments read the district's.
COARSE_TIERS = [Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY]
COARSE_LEVELS = [(False, 1), (False, 2), (True, 0), (True, 1)]
DEPTH_OF_LENGTH = {_cut(tier): depth for depth, tier in enumerate(COARSE_TIERS)}
_COARSE_CUTS = [(by_department, _cut(COARSE_TIERS[depth])) for by_department, depth in COARSE_LEVELS]
SUMMED = [*COUNTS, "handle_us_sum"]
# A coarse row's values gained and lost since its list was merged (CoarseRollup), and how many.
PENDING = ["pending_gained", "pending_lost", "pending"]
# compact merges a row's pending values into its list once they are more than this, and more than a
# COMPACT_FRACTION-th of the list: every reader of the row reads them whole.
COMPACT_AT = 1024
COMPACT_FRACTION = 64


# --- marking ----------------------------------------------------------------------
def local_day(moment) -> date:
    return timezone.localtime(moment).date()


def mark(case, *, previous_path: str | None = None) -> None:
    """Mark the bucket(s) of ``case`` for the next refresh, in the caller's transaction."""
    day = local_day(case.reported_at)
    rows = [DirtyBucket(day=day, area_path=case.area_path)]
    if previous_path and previous_path != case.area_path:
        rows.append(DirtyBucket(day=day, area_path=previous_path))
    DirtyBucket.objects.bulk_create(rows)


@receiver(figures_changed)
def _case_changed(sender, case, previous_path=None, **kwargs):
    mark(case, previous_path=previous_path)


@receiver([post_save, post_delete], sender=WorkCalendarDay)
def _calendar_changed(sender, instance, **kwargs):
    # Working hours over that day changed for every case handled across it: whole days, not grids.
    first = instance.date - timedelta(days=CALENDAR_REACH_DAYS)
    days = [first + timedelta(days=n) for n in range(CALENDAR_REACH_DAYS + 1)]
    DirtyBucket.objects.bulk_create([DirtyBucket(day=d, area_path=WHOLE_DAY) for d in days])


# --- computing ----------------------------------------------------------------------
def work_us(clock: WorkClock, moment) -> int | None:
    """The work clock's position of ``moment`` in whole microseconds (WorkClock.position, exactly)."""
    local = timezone.localtime(moment)
    entry = clock.days.get(local.date())
    if entry is None:
        return None
    work, before = entry
    base = round(before) * US_PER_HOUR
    if not work:
        return base
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return base + (local - midnight) // timedelta(microseconds=1)


def handling_us(clock: WorkClock, assigned_at, handled_at) -> int | None:
    s, e = work_us(clock, assigned_at), work_us(clock, handled_at)
    if s is None or e is None:
        return None
    return max(e - s, 0)


US_PER_DAY = 86_400_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class LocalMicroseconds(Func):
    """A moment as microseconds since 1970-01-01 00:00 on the local clock (the current time zone's), computed
    by PostgreSQL: the local day and time of day as integers, without parsing a timestamp per value in
    Python (at five million cases that parsing was a quarter of a refresh)."""

    output_field = models.BigIntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(extract(epoch from ({sql} AT TIME ZONE %s)) * 1000000)::bigint", [
            *params,
            timezone.get_current_timezone_name(),
        ]


def local_handling_us(days: dict[int, tuple[bool, float]], assigned_us: int, handled_us: int) -> int | None:
    """``handling_us`` from two LocalMicroseconds, ``days`` being the work clock's days by ordinal: the same
    value to the microsecond."""
    positions = []
    for moment in (assigned_us, handled_us):
        day, of_day = divmod(moment, US_PER_DAY)
        entry = days.get(_EPOCH_ORDINAL + day)
        if entry is None:
            return None
        work, before = entry
        positions.append(round(before) * US_PER_HOUR + (of_day if work else 0))
    return max(positions[1] - positions[0], 0)


def clock_from(first: date) -> WorkClock:
    # Handling happens after reporting, up to now (and a margin for clocks slightly ahead): as metrics.kpis.
    return WorkClock.between(first, timezone.localdate() + timedelta(days=31))


# --- one pass over the marked buckets ---------------------------------------------------
# day -> the grid paths marked on it, or None for every grid of the day (WHOLE_DAY).
Marked = dict[date, set[str] | None]

# A pass reads every marked bucket of its days in a fixed number of statements and holds their rows in
# memory together. Days marked for a few grids (what case changes mark) go in one pass however many
# there are; whole days (a calendar edit marks 401) are every grid's rows, so at most a month of them
# share a pass. At most PASS_DAYS days per pass keeps each statement's OR list well inside SQLite's
# expression depth limit (1000).
PASS_WHOLE_DAYS = 31
PASS_DAYS = 366

DAILY_KEY = ["day", *BUCKET_FIELDS]
DAILY_COLUMNS = [*DAILY_KEY, *SUMMED, "handle_us"]
MONTH_KEY = ["month", "area_path", "category_id", "handling_department_id"]
MONTHLY_COLUMNS = [*MONTH_KEY, *SUMMED, "handle_us"]
# What the monthly level needs of a daily row.
MONTH_SOURCE = ["day", "area_path", "category_id", "handling_department_id", *SUMMED, "handle_us"]


def _passes(by_day: Marked) -> list[Marked]:
    passes: list[Marked] = []
    current: Marked = {}
    whole = 0
    for day, paths in sorted(by_day.items()):
        if len(current) >= PASS_DAYS or (paths is None and whole >= PASS_WHOLE_DAYS):
            passes.append(current)
            current, whole = {}, 0
        current[day] = paths
        whole += paths is None
    if current:
        passes.append(current)
    return passes


def _runs(days: Marked):
    """The marked days in order as (first, last, paths): consecutive whole days joined into one run."""
    runs: list[tuple[date, date, set[str] | None]] = []
    for day, paths in sorted(days.items()):
        if paths is None and runs and runs[-1][2] is None and runs[-1][1] == day - timedelta(days=1):
            runs[-1] = (runs[-1][0], day, None)
        else:
            runs.append((day, day, paths))
    return runs


def _cases_of(days: Marked) -> Q:
    """The cases of the marked buckets: a range of ``reported_at`` (its index) per run of days, and the grids
    (as ``marked_path``, see _fresh_rows)."""
    parts = []
    for first, last, paths in _runs(days):
        part = Q(reported_at__gte=start_of_day(first), reported_at__lt=start_of_day(last + timedelta(days=1)))
        parts.append(part if paths is None else part & Q(marked_path__in=sorted(paths)))
    return Q(*parts, _connector=Q.OR)


# The grid test on a day's cases, written so no index serves it: as a plain ``area_path IN (...)`` PostgreSQL
# intersected the day's few thousand rows with the path index's hundreds of thousands (a marked day's grids
# are a quarter of the district), which was most of the refresh's time at a million cases.
_UNINDEXED_PATH = Func(F("area_path"), Value(""), function="", template="(%(expressions)s)", arg_joiner=" || ")


def _rows_of(days: Marked) -> Q:
    """The daily roll-up rows of the marked buckets."""
    parts = []
    for first, last, paths in _runs(days):
        part = Q(day=first) if first == last else Q(day__gte=first, day__lte=last)
        parts.append(part if paths is None else part & Q(area_path__in=sorted(paths)))
    return Q(*parts, _connector=Q.OR)


def _kept_values(raw) -> list[int]:
    """The kept working times as the driver gives them: a list (PostgreSQL's array) or JSON text (SQLite)."""
    return json.loads(raw) if isinstance(raw, str) else list(raw)


def _fetch(queryset, names: list[str]) -> list[tuple]:
    """The rows of ``queryset`` (selecting ``names``) as tuples of the driver's values in that order: Django's
    converters, called per value, took as long as the statements themselves for a refresh's thousands of
    rows. SQLite gives days as text, so those are converted here; its kept values stay JSON text (_kept_values)."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        index = {column[0]: n for n, column in enumerate(cursor.description)}
        fetched = cursor.fetchall()
    order = [index[name] for name in names]
    rows = fetched if order == list(range(len(index))) else [tuple(row[n] for n in order) for row in fetched]
    dates = {n for n, name in enumerate(names) if name in ("day", "month", "rollup_day")}
    if rows and any(isinstance(rows[0][n], str) for n in dates):
        rows = [tuple(date.fromisoformat(v) if n in dates else v for n, v in enumerate(row)) for row in rows]
    return rows


def _fresh_rows(days: Marked, clock: WorkClock) -> dict[tuple, dict]:
    """The daily roll-up rows of the marked buckets from the case table, as column values by DAILY_KEY, for any
    number of days and grids: the counts grouped by local day and bucket, and the handled cases' two moments
    for the working time (on PostgreSQL an array of pairs in the same statement, one read of the cases, each
    moment as local microseconds; elsewhere a second statement)."""
    cases = (
        Case.objects.alias(marked_path=_UNINDEXED_PATH)
        .filter(_cases_of(days))
        .order_by()
        .annotate(rollup_day=TruncDate("reported_at"))
    )
    done = HANDLED & Q(assigned_at__isnull=False, handled_at__isnull=False)
    counts = cases.values("rollup_day", *BUCKET_FIELDS).annotate(**count_aggregates())
    names = ["rollup_day", *BUCKET_FIELDS, *COUNTS]
    together = connection.vendor == "postgresql"
    if together:
        # Each handled case's two moments as one pair: an array_agg ordered to keep two lists in step sorted
        # every group apart, and a refresh's groups are mostly of one case.
        pair = Func(
            LocalMicroseconds("assigned_at"),
            LocalMicroseconds("handled_at"),
            function="ARRAY",
            template="ARRAY[%(expressions)s]",
            output_field=ArrayField(models.BigIntegerField()),
        )
        counts = counts.annotate(moments=ArrayAgg(pair, filter=done))
        names.append("moments")
    rows, moments = {}, []
    size, row_names = len(DAILY_KEY), [*DAILY_KEY, *COUNTS]
    for values in _fetch(counts, names):
        key = values[:size]
        rows[key] = row = dict(zip(row_names, values, strict=False))
        row["handle_us_sum"], row["handle_us"] = 0, []
        if together and values[-1]:
            moments += [(key, s, e) for s, e in values[-1]]
    if together:
        by_ordinal = {day.toordinal(): entry for day, entry in clock.days.items()}

        def handled(assigned, done_at):
            return local_handling_us(by_ordinal, assigned, done_at)

    else:
        handled = partial(handling_us, clock)
        moments = [
            (tuple(key), s, e)
            for *key, s, e in cases.filter(done).values_list("rollup_day", *BUCKET_FIELDS, "assigned_at", "handled_at")
        ]
    # Every handled case has its counts row: one statement on PostgreSQL; SQLite's refresh transaction holds
    # the write lock from its start, so its two statements read the same cases.
    for key, assigned_at, handled_at in moments:
        us = handled(assigned_at, handled_at)
        if us is not None:
            rows[key]["handle_us"].append(us)
            rows[key]["handle_us_sum"] += us
    for row in rows.values():
        row["handle_us"].sort()
    return rows


def _array_literal(field, values: list) -> str:
    """``values`` of ``field`` as the text of one PostgreSQL array. psycopg's own dumping of a list checked
    every element against a pattern in Python: a fifth of a refresh's time, for a few thousand rows."""
    if isinstance(field, MicrosecondsField):
        # unnest flattens an array of arrays: each list travels as the text of its own array.
        items = (f'"{field.db_literal(v)}"' for v in values)
    elif isinstance(field, models.BooleanField):
        items = ("NULL" if v is None else "t" if v else "f" for v in values)
    elif isinstance(field, (models.IntegerField, models.AutoField, models.ForeignKey)):
        items = ("NULL" if v is None else str(int(v)) for v in values)
    else:
        items = ("NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(items) + "}"


def _column_arrays(fields, columns: list[list]) -> tuple[list[str], list[str], list[str]]:
    """For unnest: each column's array placeholder, the expression taking its value (u.c0, u.c1, ...) and its
    array's text, for ``columns`` (the values of each field, row by row)."""
    arrays, select, params = [], [], []
    for n, (f, values) in enumerate(zip(fields, columns, strict=True)):
        is_list = isinstance(f, MicrosecondsField)
        arrays.append(f"%s::{'text' if is_list else f.db_type(connection)}[]")
        select.append(f"u.c{n}::{f.db_type(connection)}" if is_list else f"u.c{n}")
        params.append(_array_literal(f, values))
    return arrays, select, params


def _insert(model, columns: list[str], rows: list[dict]) -> None:
    """Insert ``rows`` (attribute -> value as stored; the kept values as a list). On PostgreSQL one statement
    whatever the number of rows, each column travelling as one array: bulk_create prepares every value of
    every row through its field, which was most of a refresh's time."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create([model(**{name: row[name] for name in columns}) for row in rows], batch_size=1000)
        return
    fields = [model._meta.get_field(name) for name in columns]
    arrays, select, params = _column_arrays(fields, [[row[f.attname] for row in rows] for f in fields])
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608 - names from the model
        f"SELECT {', '.join(select)} FROM unnest({', '.join(arrays)}) AS u({', '.join(f'c{n}' for n in range(len(fields)))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _delete(model, pks: list[int]) -> None:
    """Delete rows by id: one statement, or as many as SQLite's parameter limit needs. On PostgreSQL the ids
    travel as one array: quoting thousands of parameters into the statement cost more than running it."""
    if not pks:
        return
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {quote(model._meta.db_table)} WHERE {quote(model._meta.pk.column)} = ANY(%s::bigint[])",  # noqa: S608 - names from the model
                [list(pks)],
            )
        return
    size = connection.features.max_query_params or len(pks) or 1
    for start in range(0, len(pks), size):
        model.objects.filter(pk__in=pks[start : start + size]).delete()


def _recompute(days: Marked, clock: WorkClock, through: date | None) -> None:
    """Bring the daily rows of the marked buckets in line with the case table, and the monthly rows that hold
    them (the days before ``through``) by what the daily rows lost and gained: a fixed number of statements
    for the whole pass. Rows that come out the same are left alone (most rows of a marked grid's day did
    not change), so the writes follow the changes."""
    fresh = _fresh_rows(days, clock)
    months, gone = MonthDelta(), []
    stale = DailyRollup.objects.filter(_rows_of(days)).order_by().values("pk", *DAILY_COLUMNS)
    # Compared as tuples, without a dict per stored row: a marked day at five million cases is 20,000 rows.
    counted, keyed = itemgetter(*DAILY_COLUMNS[:-1]), len(DAILY_KEY) + 1
    for stored in _fetch(stale, ["pk", *DAILY_COLUMNS]):
        key, kept = stored[1:keyed], _kept_values(stored[-1])
        now = fresh.get(key)
        if now is not None and counted(now) == stored[1:-1] and now["handle_us"] == kept:
            del fresh[key]  # unchanged: neither deleted nor written again
            continue
        gone.append(stored[0])
        if through is not None and key[0] < through:
            row = dict(zip(DAILY_COLUMNS, stored[1:], strict=True))
            row["handle_us"] = kept
            months.add(row, -1)
    for row in fresh.values():
        if through is not None and row["day"] < through:
            months.add(row, 1)
    _delete(DailyRollup, gone)
    _insert(DailyRollup, DAILY_COLUMNS, list(fresh.values()))
    months.apply()


# --- the monthly level ---------------------------------------------------------------
def month_key(row: dict) -> tuple:
    """The monthly row a daily row (as ``MONTH_SOURCE`` values) belongs to."""
    return (
        first_of_month(row["day"]),
        row["area_path"][:MONTH_PATH_LENGTH],
        row["category_id"],
        row["handling_department_id"],
    )


class MonthDelta:
    """Changes to monthly rows gathered from daily rows added (+1) and taken away (-1), written by ``apply``:
    the work follows the changed daily rows, never the size of the month."""

    def __init__(self):
        self.sums: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(SUMMED, 0))
        self.values: dict[tuple, Counter] = defaultdict(Counter)

    def __bool__(self):
        return bool(self.sums)

    def add(self, row: dict, sign: int) -> None:
        key = month_key(row)
        sums = self.sums[key]
        for name in SUMMED:
            sums[name] += sign * (row[name] or 0)
        if row["handle_us"]:
            values = self.values[key]
            for value in row["handle_us"]:
                values[value] += sign

    def _existing(self) -> dict[tuple, tuple[int, dict]]:
        """The monthly rows of the changed keys, key -> (pk, sums), in one statement: the rows of the changed
        months and communities (an index range each), without their kept values."""
        months = {key[0] for key in self.sums}
        paths = {key[1] for key in self.sums}
        rows = (
            MonthlyRollup.objects.filter(month__in=sorted(months), area_path__in=sorted(paths))
            .order_by()
            .values("pk", *MONTH_KEY, *SUMMED)
        )
        size = len(MONTH_KEY)
        existing = {}
        for pk, *row in _fetch(rows, ["pk", *MONTH_KEY, *SUMMED]):
            key = tuple(row[:size])
            if key in self.sums:
                existing[key] = (pk, dict(zip(SUMMED, row[size:], strict=True)))
        return existing

    @staticmethod
    def _kept_of(keys: dict[int, tuple]) -> dict[tuple, list[int]]:
        """The kept values of the rows ``keys`` (pk -> key), by key: one statement."""
        rows = MonthlyRollup.objects.filter(pk__in=sorted(keys)).order_by().values("pk", "handle_us")
        return {keys[pk]: _kept_values(raw) for pk, raw in _fetch(rows, ["pk", "handle_us"])}

    def apply(self, *, fresh: bool = False) -> None:
        """Write the changed monthly rows (``fresh``: none exist yet). A row whose kept values change is read
        with them, deleted and inserted again; a row whose counts alone change (most do: a step changes counts,
        not a handled case's working time) gets them updated in place, its values neither read nor written
        (parsing and writing back a month's lists was most of a refresh at a million cases)."""
        if not self.sums:
            return
        coarse = _CoarseDelta(self.sums, self.values)
        listed = {key for key, counter in self.values.items() if any(counter.values())}
        existing = {} if fresh else self._existing()
        relisted = {existing[key][0]: key for key in listed if key in existing}
        # The changes stay as they are (the coarse level reads them): the kept values are added to a copy.
        kept = self._kept_of(relisted) if relisted else {}
        gone, updated, new = [], {}, []
        for key, delta in self.sums.items():
            pk, before = existing.get(key, (None, None))
            sums = delta if before is None else {name: before[name] + delta[name] for name in SUMMED}
            values = self.values.get(key, Counter())
            if key in kept:
                values = Counter(kept[key])
                values.update(self.values[key])
            if any(n < 0 for n in values.values()) or any(v < 0 for v in sums.values()):
                raise RuntimeError(f"Monthly roll-up {key} would go negative: run rebuild_rollups.")
            if not sums["reported"]:
                gone += [pk] if pk is not None else []  # every figure counts reported cases: none left, no row
            elif pk is not None and key not in listed:
                if any(delta.values()):
                    updated[pk] = sums
            else:
                gone += [pk] if pk is not None else []
                new.append(dict(zip(MONTH_KEY, key, strict=True), **sums, handle_us=sorted(values.elements())))
        _delete(MonthlyRollup, gone)
        _update(MonthlyRollup, updated)
        _insert(MonthlyRollup, MONTHLY_COLUMNS, new)
        self.sums.clear()
        self.values.clear()
        coarse.apply()


COARSE_KEY = ["month", "area_path", "by_department", "handling_department_id"]
COARSE_COLUMNS = [*COARSE_KEY, "depth", *SUMMED, "kept", "handle_us", "samples", "sample_step", *PENDING]


def coarse_keys(month_key: tuple) -> list[tuple]:
    """The CoarseRollup rows (month, path, by_department, department) a monthly row is summed into, one a level."""
    month, path, _category, department = month_key
    return [
        (month, path[:cut], by_department, department if by_department else None) for by_department, cut in _COARSE_CUTS
    ]


def pending_after(gained: list[int], lost: list[int], change: Counter) -> tuple[list[int], list[int]]:
    """A coarse row's pending values (sorted) after ``change`` (count > 0: gained, < 0: lost). A value lost
    and gained again, or gained and lost again, since the last merge cancels out, so no value is in both."""
    plus, minus = Counter(gained), Counter(lost)
    for value, n in change.items():
        back = min(abs(n), (minus if n > 0 else plus)[value])
        if n > 0:
            minus[value] -= back
            plus[value] += n - back
        elif n < 0:
            plus[value] -= back
            minus[value] += -n - back
    return sorted(plus.elements()), sorted(minus.elements())


class _CoarseDelta:
    """The changes MonthDelta makes to monthly rows, carried to the coarse rows holding them. Counts are
    updated in place, and so are an existing row's pending values (``compact`` merges them into its list
    later); a new row (a rebuild) is summed from the monthly rows. Merging here cost most of a refresh that
    changed working times at five million cases: a district's month is some 400,000 values to sort again."""

    def __init__(self, sums: dict, values: dict):
        self.sums: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(SUMMED, 0))
        for key, delta in sums.items():
            for coarse in coarse_keys(key):
                into = self.sums[coarse]
                for name in SUMMED:
                    into[name] += delta[name]
        # The monthly rows' changes of kept values (MonthDelta's counters: it never changes them).
        self.changes = {key: counter for key, counter in values.items() if any(counter.values())}
        self.rebuilt = {coarse for key in self.changes for coarse in coarse_keys(key)}

    def _value_changes(self, keys: set) -> dict[tuple, Counter]:
        """The values each coarse row of ``keys`` gains (count > 0) and loses (count < 0)."""
        changes: dict[tuple, Counter] = defaultdict(Counter)
        for key, counter in self.changes.items():
            for coarse in coarse_keys(key):
                if coarse in keys:
                    changes[coarse].update(counter)
        return changes

    def apply(self) -> None:
        keys = {key for key, sums in self.sums.items() if any(sums.values())} | self.rebuilt
        if not keys:
            return
        months = sorted({key[0] for key in keys})
        where = _in_districts({key[1] for key in keys}) & Q(month__in=months)
        existing = {}
        rows = CoarseRollup.objects.filter(where).order_by().values("pk", *COARSE_KEY, *SUMMED, "kept", *PENDING)
        for pk, *row in _fetch(rows, ["pk", *COARSE_KEY, *SUMMED, "kept", *PENDING]):
            key = (row[0], row[1], bool(row[2]), row[3])
            if key in keys:
                counts = dict(zip(SUMMED, row[len(COARSE_KEY) : len(COARSE_KEY) + len(SUMMED)], strict=True))
                existing[key] = (pk, counts, row[-4], row[-3], row[-2])
        changes = self._value_changes(self.rebuilt & existing.keys())
        zero = dict.fromkeys(SUMMED, 0)
        gone, updated, new, pending = [], {}, [], {}
        for key in keys:
            if key in self.rebuilt and key not in existing:
                continue  # summed from the monthly rows below
            delta = self.sums.get(key, zero)
            pk, before, kept, gained, lost = existing.get(key, (None, zero, 0, None, None))
            sums = {name: before[name] + delta[name] for name in SUMMED}
            if any(v < 0 for v in sums.values()) or (pk is None and sums["handle_us_sum"]):
                raise RuntimeError(f"Coarse roll-up {key} does not match its monthly rows: run rebuild_rollups.")
            if not sums["reported"]:
                gone += [pk] if pk else []
            elif pk is None:
                new.append(_coarse_row(key, sums, []))
            elif key in changes and any(changes[key].values()):
                gained, lost = pending_after(_kept_values(gained), _kept_values(lost), changes[key])
                if kept + len(gained) < len(lost):
                    raise RuntimeError(f"Coarse roll-up {key} does not match its monthly rows: run rebuild_rollups.")
                pending[pk] = {
                    **sums,
                    "pending_gained": gained,
                    "pending_lost": lost,
                    "pending": len(gained) + len(lost),
                }
            elif any(delta.values()):
                updated[pk] = sums
        _delete(CoarseRollup, gone)
        _update(CoarseRollup, updated)
        _update(CoarseRollup, pending)
        _insert(CoarseRollup, COARSE_COLUMNS, new)
        fresh = self.rebuilt - existing.keys()
        if fresh and connection.vendor == "postgresql":
            self._rebuild_in_database(months, fresh)
        elif fresh:
            _insert(CoarseRollup, COARSE_COLUMNS, self._rebuilt(months, fresh))

    HANDLED_AT = len(MONTH_KEY) + SUMMED.index("handled")

    def _rebuilt(self, months: list, keys: set) -> list[dict]:
        """The rows of ``keys``, summed from every monthly row of their months and districts."""
        sums = {key: dict.fromkeys(SUMMED, 0) for key in keys}
        values = {key: [] for key in keys}
        source = MonthlyRollup.objects.filter(_in_districts({key[1] for key in keys}), month__in=months).order_by()
        names = [*MONTH_KEY, *SUMMED, "handle_us"]
        for row in _fetch(source.values(*names), names):
            for key in coarse_keys(row[:4]):
                if key in sums:
                    into = sums[key]
                    for name, value in zip(SUMMED, row[4:-1], strict=True):
                        into[name] += value
                    if row[self.HANDLED_AT]:
                        values[key].extend(_kept_values(row[-1]))
        return [_coarse_row(key, sums[key], values[key]) for key in keys if sums[key]["reported"]]

    def _rebuild_in_database(self, months: list, keys: set) -> None:
        """``_rebuilt`` in one INSERT ... SELECT on PostgreSQL: the values never travel to Python, and the lists
        are sorted by PostgreSQL (a month of a district at five million cases is some 400,000 values a level)."""
        wanted = sorted(keys, key=repr)
        levels = ", ".join(
            f"({'true' if d else 'false'}, {depth}, {cut})"
            for (d, depth), (_d, cut) in zip(COARSE_LEVELS, _COARSE_CUTS, strict=True)
        )
        districts = sorted({key[1][:DISTRICT_PATH_LENGTH] for key in wanted})
        sums = ", ".join(f"sum(m.{name}) AS {name}" for name in SUMMED)
        names = ", ".join(SUMMED)
        depth_of = "CASE length(w.path) " + " ".join(f"WHEN {n} THEN {d}" for n, d in DEPTH_OF_LENGTH.items()) + " END"
        # Rows are matched to the wanted keys once, without their values; the values are then read by id and
        # grouped by the key's number: sorting 750,000 values by text paths took most of the time at 5M.
        sql = f"""
            WITH lv(by_department, depth, cut) AS (VALUES {levels}),
            wanted AS MATERIALIZED (
                SELECT month, path, per_department, coalesce(dept, -1) AS dept, n::int AS n
                FROM unnest(%s::date[], %s::text[], %s::bool[], %s::bigint[])
                     WITH ORDINALITY AS w(month, path, per_department, dept, n)
            ),
            chosen AS MATERIALIZED (
                SELECT m.id, m.month, left(m.area_path, lv.cut) AS path, lv.by_department AS per_department,
                       CASE WHEN lv.by_department THEN coalesce(m.handling_department_id, -1) ELSE -1 END AS dept,
                       m.handled
                FROM metrics_monthlyrollup m CROSS JOIN lv
                WHERE m.month = ANY(%s::date[]) AND left(m.area_path, {DISTRICT_PATH_LENGTH}) = ANY(%s::text[])
            ),
            c AS MATERIALIZED (
                SELECT chosen.id, chosen.handled, wanted.n FROM chosen JOIN wanted USING (month, path, per_department, dept)
            ),
            counted AS MATERIALIZED (
                SELECT c.n, {sums} FROM c JOIN metrics_monthlyrollup m ON m.id = c.id GROUP BY c.n
            ),
            listed AS MATERIALIZED (
                SELECT c.n, array_agg(v ORDER BY v) AS a
                FROM c JOIN metrics_monthlyrollup m ON m.id = c.id, unnest(m.handle_us) AS v
                WHERE c.handled > 0 GROUP BY c.n
            )
            INSERT INTO metrics_coarserollup
                (month, area_path, by_department, handling_department_id, depth, {names},
                 kept, handle_us, samples, sample_step, pending_gained, pending_lost, pending)
            SELECT w.month, w.path, w.per_department, nullif(w.dept, -1), {depth_of},
                   {", ".join(f"k.{name}" for name in SUMMED)},
                   coalesce(cardinality(l.a), 0), coalesce(l.a, '{{}}'),
                   coalesce(ARRAY(SELECT l.a[i] FROM generate_series(1, cardinality(l.a), st.step) AS i), '{{}}'),
                   st.step, '{{}}', '{{}}', 0
            FROM counted k
            JOIN wanted w USING (n)
            LEFT JOIN listed l USING (n)
            CROSS JOIN LATERAL (SELECT greatest(1, (coalesce(cardinality(l.a), 0) + %s - 1) / %s) AS step) st
            WHERE k.reported > 0
        """  # noqa: S608 - names and numbers from the code
        sample_count = percentiles.SAMPLES
        params = [
            [key[0] for key in wanted],
            [key[1] for key in wanted],
            [key[2] for key in wanted],
            [key[3] for key in wanted],
            months,
            districts,
            sample_count,
            sample_count,
        ]
        with connection.cursor() as cursor:
            # The months' values are sorted in memory, not in temporary files (this transaction only).
            cursor.execute("SELECT set_config('work_mem', '256MB', true)")
            cursor.execute(sql, params)


def _update(model, rows: dict[int, dict]) -> None:
    """Set the given columns of rows by id. On PostgreSQL one statement, each column travelling as one array
    (as _insert); elsewhere one statement executed for every row. A CASE per column over hundreds of rows
    cost seconds of Django's expression building, and a statement a row 80 ms for a refresh's 900 rows."""
    if not rows:
        return
    names = list(next(iter(rows.values())))
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    ordered = sorted(rows.items())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays, values, params = _column_arrays(fields, [[v[name] for _p, v in ordered] for name in names])
            columns = ", ".join(f"c{n}" for n in range(len(fields)))
            sql = (
                f"UPDATE {table} SET {', '.join(f'{quote(f.column)} = {v}' for f, v in zip(fields, values, strict=True))} "  # noqa: S608 - names from the model
                f"FROM unnest(%s::bigint[], {', '.join(arrays)}) AS u(id, {columns}) WHERE {table}.{pk} = u.id"
            )
            cursor.execute(sql, [_array_literal(model._meta.pk, [p for p, _values in ordered]), *params])
            return
        fields_and_names = list(zip(fields, names, strict=True))
        sql = f"UPDATE {table} SET {', '.join(f'{quote(f.column)} = %s' for f in fields)} WHERE {pk} = %s"  # noqa: S608 - names from the model
        cursor.executemany(
            sql,
            [
                [f.get_db_prep_value(values[name], connection) for f, name in fields_and_names] + [p]
                for p, values in ordered
            ],
        )


def _in_districts(paths) -> Q:
    return Q(*[Q(area_path__startswith=d) for d in sorted({p[:DISTRICT_PATH_LENGTH] for p in paths})], _connector=Q.OR)


def _coarse_row(key: tuple, sums: dict, values: list[int]) -> dict:
    values.sort()
    return dict(
        zip(COARSE_KEY, key, strict=True),
        depth=DEPTH_OF_LENGTH[len(key[1])],
        **sums,
        kept=len(values),
        handle_us=values,
        samples=samples_of(values),
        sample_step=sample_step(len(values)),
        pending_gained=[],
        pending_lost=[],
        pending=0,
    )


# --- merging the coarse rows' pending values ---------------------------------------------------------------
def compact(*, everything: bool = False) -> int:
    """Merge the coarse rows' pending values into their lists, replacing each row; returns how many rows. Only
    the rows whose pending values are more than COMPACT_AT and a COMPACT_FRACTION-th of their list
    (``everything``: every row with any). The beat's task runs it after each refresh, in a transaction of
    its own: the refresh has already made the figures current, this keeps what their readers read whole
    short. Skipped while a refresh or rebuild holds the state row (both write these rows)."""
    with transaction.atomic():
        if _locked_state() is None:
            return 0
        due = CoarseRollup.objects.filter(pending__gt=0)
        if not everything:
            due = due.filter(Q(pending__gt=COMPACT_AT) & Q(pending__gt=F("kept") / COMPACT_FRACTION))
        ids = list(due.order_by("pk").values_list("pk", flat=True))
        if ids:
            (_compact_in_database if connection.vendor == "postgresql" else _compact_in_python)(ids)
        return len(ids)


def pending_values() -> int:
    """How many working times wait to be merged into the coarse lists: a number that only grows while the
    merges stop (readers read them whole)."""
    return CoarseRollup.objects.aggregate(n=Sum("pending"))["n"] or 0


def _compact_in_python(ids: list[int]) -> None:
    new = []
    for row in CoarseRollup.objects.filter(pk__in=ids).values(*COARSE_KEY, *SUMMED, "handle_us", *PENDING[:2]):
        values = Counter(row["handle_us"])
        values.update(row["pending_gained"])
        values.subtract(row["pending_lost"])
        key = tuple(row[name] for name in COARSE_KEY)
        if any(n < 0 for n in values.values()):
            raise RuntimeError(f"Coarse roll-up {key} does not match its monthly rows: run rebuild_rollups.")
        new.append(_coarse_row(key, {name: row[name] for name in SUMMED}, list(values.elements())))
    _delete(CoarseRollup, ids)
    _insert(CoarseRollup, COARSE_COLUMNS, new)


def _compact_in_database(ids: list[int]) -> None:
    """Replace each row in one statement: its list less the values lost, plus those gained, sorted again by
    PostgreSQL; the values never travel to Python. Checked: each list ends as long as the counts say."""
    names = ", ".join(SUMMED)
    sql = f"""
        WITH old AS (
            DELETE FROM metrics_coarserollup c WHERE c.id = ANY(%s::bigint[])
            RETURNING c.month, c.area_path, c.by_department, c.handling_department_id, c.depth,
                      {", ".join(f"c.{name}" for name in SUMMED)}, c.handle_us AS before,
                      c.pending_gained AS gained, c.pending_lost AS lost,
                      c.kept + cardinality(c.pending_gained) - cardinality(c.pending_lost) AS expected
        ),
        merged AS MATERIALIZED (
            SELECT old.*, coalesce((
                SELECT array_agg(v ORDER BY v) FROM (
                    SELECT unnest(old.before) WHERE cardinality(old.lost) = 0
                    UNION ALL (SELECT unnest(old.before) WHERE cardinality(old.lost) > 0
                               EXCEPT ALL SELECT unnest(old.lost))
                    UNION ALL SELECT unnest(old.gained)
                ) AS x(v)
            ), '{{}}') AS a
            FROM old
        ),
        inserted AS (
            INSERT INTO metrics_coarserollup
                (month, area_path, by_department, handling_department_id, depth, {names},
                 kept, handle_us, samples, sample_step, pending_gained, pending_lost, pending)
            SELECT month, area_path, by_department, handling_department_id, depth, {names},
                   cardinality(a), a,
                   coalesce(ARRAY(SELECT a[i] FROM generate_series(1, cardinality(a), st.step) AS i), '{{}}'),
                   st.step, '{{}}', '{{}}', 0
            FROM merged CROSS JOIN LATERAL (SELECT greatest(1, (cardinality(a) + %s - 1) / %s) AS step) st
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM merged WHERE cardinality(a) <> expected)
    """  # noqa: S608 - names from the code
    with connection.cursor() as cursor:
        # The lists are sorted in memory, not in temporary files (this transaction only).
        cursor.execute("SELECT set_config('work_mem', '256MB', true)")
        cursor.execute(sql, [ids, percentiles.SAMPLES, percentiles.SAMPLES])
        replaced, wrong = cursor.fetchone()
    if replaced != len(ids) or wrong:
        raise RuntimeError("Coarse roll-ups do not match their monthly rows: run rebuild_rollups.")


def _add_days(delta: MonthDelta, first: date | None, last: date) -> None:
    """Add the daily rows of ``first`` (None: the first there is) up to ``last`` to the monthly level."""
    rows = DailyRollup.objects.filter(day__lte=last).order_by()
    if first is not None:
        rows = rows.filter(day__gte=first)
    for row in rows.values(*MONTH_SOURCE).iterator(chunk_size=5000):
        delta.add(row, 1)


def _locked_state():
    """RollupState locked for this transaction, or None while another refresh or rebuild holds it."""
    RollupState.current()
    return RollupState.objects.select_for_update(skip_locked=True).filter(pk=1).first()


@contextmanager
def _without_cycle_collection():
    """A refresh allocates tens of thousands of rows, lists and tuples and makes no reference cycles, yet
    Python's cycle collector went over every object of the process again and again meanwhile: a sixth of a
    refresh at five million cases. Reference counting still frees everything; a cycle made meanwhile waits
    for the next collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@transaction.atomic
def refresh(*, limit: int = 20000) -> int:
    """Recompute the buckets marked since the last refresh; returns how many (day, grid) buckets.

    One pass over all the marked buckets (a few for a calendar edit's whole days): a fixed number of
    statements however many days and grids are marked. Marks are removed by id, so a mark committed
    meanwhile stays for the next refresh (every statement here reads after the marks were read, so
    what a removed mark stood for is counted); the state row's lock keeps two refreshes from writing
    the same bucket."""
    state = _locked_state()
    if state is None:
        return 0
    with _without_cycle_collection():
        return _refresh(state, limit)


def _refresh(state: RollupState, limit: int) -> int:
    marks = list(DirtyBucket.objects.order_by("pk").values_list("pk", "day", "area_path")[:limit])
    by_day: Marked = {}
    for _pk, day, path in marks:
        if path == WHOLE_DAY:
            by_day[day] = None
        elif by_day.get(day, set()) is not None:
            by_day.setdefault(day, set()).add(path)
    through, today = state.months_through, timezone.localdate()
    if by_day:
        clock = clock_from(min(by_day))
        for days in _passes(by_day):
            _recompute(days, clock, through)
        _delete(DirtyBucket, [pk for pk, _day, _path in marks])
    if through is None or through < today:
        # A new day (or the first refresh since the monthly level was added): the whole days before
        # today join it, from their daily rows.
        months = MonthDelta()
        _add_days(months, through, today - timedelta(days=1))
        months.apply(fresh=through is None)
    state.refreshed_at = timezone.now()
    state.months_through = today
    state.buckets = sum(len(p) if p is not None else 1 for p in by_day.values())
    state.save(update_fields=["refreshed_at", "buckets", "months_through"])
    return state.buckets


@transaction.atomic
def rebuild(*, progress=None) -> int:
    """Recompute every day from the first case to today; returns the number of roll-up rows."""
    state = _locked_state()
    if state is None:
        raise RuntimeError("A refresh or rebuild is running; try again when it is done.")
    seen = list(DirtyBucket.objects.values_list("pk", flat=True))
    first = Case.objects.aggregate(first=models.Min("reported_at"))["first"]
    DailyRollup.objects.all().delete()
    MonthlyRollup.objects.all().delete()
    CoarseRollup.objects.all().delete()
    today = timezone.localdate()
    if first is not None:
        day = local_day(first)
        clock = clock_from(day)
        months = MonthDelta()
        while day <= today:
            rows = list(_fresh_rows({day: None}, clock).values())
            _insert(DailyRollup, DAILY_COLUMNS, rows)
            if day < today:
                for row in rows:
                    months.add(row, 1)
            if (day + timedelta(days=1)).day == 1 or day == today:
                months.apply(fresh=True)  # a month at a time: only one month's values in memory
            if progress and day.day == 1:
                progress(day)
            day += timedelta(days=1)
    DirtyBucket.objects.filter(pk__in=seen).delete()
    state.refreshed_at = state.rebuilt_at = timezone.now()
    state.months_through = today
    state.save(update_fields=["refreshed_at", "rebuilt_at", "months_through"])
    return DailyRollup.objects.count()


def lag_seconds(now=None) -> float:
    """How far behind the roll-ups are: the age of the oldest mark not yet recomputed (0 when none)."""
    oldest = DirtyBucket.objects.aggregate(oldest=models.Min("marked_at"))["oldest"]
    return 0.0 if oldest is None else max(((now or timezone.now()) - oldest).total_seconds(), 0.0)


# --- reading ----------------------------------------------------------------------
def _split(period: Period, previous: Period, today: date):
    """The whole past days to read from roll-ups, and whether today falls in the two periods."""
    last_rolled = min(period.end, today - timedelta(days=1))
    rolled = (previous.start, last_rolled) if previous.start <= last_rolled else None
    return rolled, previous.start <= today <= period.end


def _today_cases(where: Q, today: date):
    return Case.objects.filter(
        where, reported_at__gte=start_of_day(today), reported_at__lt=start_of_day(today + timedelta(1))
    )


# Filters and groupings the monthly level answers exactly: its path is cut at the community, so a
# path filter or grouping may be no longer than that; category and handling department are kept whole.
_WHOLE_FIELDS = ("category", "handling_department")


def _lookups(where: Q):
    """Every (lookup, value) of a Q, nested ones included."""
    for child in where.children:
        if isinstance(child, Q):
            yield from _lookups(child)
        else:
            yield child


def _monthly_filter(where: Q) -> bool:
    for lookup, value in _lookups(where):
        if lookup == "area_path__startswith":
            if not isinstance(value, str) or len(value) > MONTH_PATH_LENGTH:
                return False
        elif lookup.split("__")[0].removesuffix("_id") not in _WHOLE_FIELDS:
            return False
    return True


def _monthly_group(group) -> bool:
    if group is None:
        return True
    if isinstance(group, F):
        return group.name.removesuffix("_id") in _WHOLE_FIELDS
    if isinstance(group, Substr):
        source, start, length = [*group.get_source_expressions(), None][:3]
        return (
            isinstance(source, F)
            and source.name == "area_path"
            and getattr(start, "value", None) == 1
            and isinstance(getattr(length, "value", None), int)
            and length.value <= MONTH_PATH_LENGTH
        )
    return False


_pinned: ContextVar[tuple | None] = ContextVar("months_through", default=None)


def _read_through() -> date | None:
    return RollupState.objects.filter(pk=1).values_list("months_through", flat=True).first()


@contextmanager
def one_extent():
    """Read how far the monthly level reaches once for all the reads inside (a dashboard's several figures)."""
    token = _pinned.set((_read_through(),))
    try:
        yield
    finally:
        _pinned.reset(token)


def months_through(where: Q, group=None) -> date | None:
    """The first day the monthly level does not hold, or None when it cannot answer this filter and grouping."""
    if not (_monthly_filter(where) and _monthly_group(group)):
        return None
    pinned = _pinned.get()
    return pinned[0] if pinned is not None else _read_through()


@dataclass
class Plan:
    """Where the days first..last come from: whole months from the monthly level, and day ranges of the
    daily level added (``plus``) or taken away (``minus``, the days a monthly row holds beyond the range)."""

    months: list[date] = field(default_factory=list)
    plus: list[tuple[date, date]] = field(default_factory=list)
    minus: list[tuple[date, date]] = field(default_factory=list)

    @staticmethod
    def _q(ranges):
        q = Q()
        for start, end in ranges:
            q |= Q(day__gte=start, day__lte=end)
        return q

    @property
    def days(self) -> Q | None:
        ranges = self.plus + self.minus
        return self._q(ranges) if ranges else None

    def sign(self):
        """+1 for added days, -1 for taken-away ones."""
        if not self.minus:
            return Value(1)
        return models.Case(
            models.When(self._q(self.minus), then=Value(-1)), default=Value(1), output_field=models.IntegerField()
        )


def _days(start: date, end: date) -> int:
    return (end - start).days + 1 if end >= start else 0


def plan(first: date, last: date, *, split: date | None, through: date | None, minus: bool = True) -> Plan:
    """Read each month of first..last from whichever level touches fewer days' rows: a monthly row (held
    up to the day before ``through``) corrected by the days it holds beyond the range or lacks, or the
    daily rows. A month across ``split`` (the current period's start) is read from daily rows.

    ``minus=False``: never take days away from a monthly row (the kept values of the time to handle:
    netting them value by value costs more than reading the month's daily rows)."""
    result = Plan()
    month = first_of_month(first)
    while month <= last:
        month_end = add_months(month, 1) - timedelta(days=1)
        want = (max(first, month), min(last, month_end))
        held_end = min(month_end, through - timedelta(days=1)) if through else None
        across = split is not None and month < split <= month_end
        if held_end is not None and held_end >= month and not across:
            away = [r for r in ((month, want[0] - timedelta(1)), (want[1] + timedelta(1), held_end)) if _days(*r)]
            plus = [r for r in ((held_end + timedelta(1), want[1]),) if _days(*r)]
            if (minus or not away) and 1 + sum(_days(*r) for r in away + plus) < _days(*want):
                result.months.append(month)
                result.minus += away
                result.plus += plus
                month = add_months(month, 1)
                continue
        result.plus.append(want)
        month = add_months(month, 1)
    return result


def _union(parts: list):
    """The rows of the grouped querysets ``parts`` (same columns) in one statement; sums as ints."""
    if not parts:
        return []
    rows = _combined(parts)
    keys = {"s", "g", "b", "m", "category_id"}
    return [
        {k: v if k in keys else int(v or 0) if isinstance(v, Decimal | None) else v for k, v in row.items()}
        for row in rows
    ]


def _bucket(in_current: Q):
    return models.Case(
        models.When(in_current, then=Value(CURRENT)), default=Value(PREVIOUS), output_field=models.IntegerField()
    )


def _signed(name: str, sign, where: Q | None = None):
    """The sum of ``name`` times ``sign`` (None over no rows)."""
    if isinstance(sign, Value) and sign.value == 1 and where is None:
        return Sum(name)
    value = ExpressionWrapper(F(name) * sign, output_field=models.BigIntegerField())
    return Sum(value, filter=where)


def _sources(
    where: Q, rolled, split: date | None, *, through: date | None, minus: bool = True, group=None, by_category=False
):
    """Querysets over the levels for the days ``rolled``, each annotated ``sign``: whole months from the coarse
    rows where they answer the filter and ``group`` (not ``by_category``), else from the monthly rows."""
    days = plan(*rolled, split=split, through=through, minus=minus)
    sources = []
    if days.months:
        level = None if by_category else _coarse_level(where, group)
        months = MonthlyRollup.objects.filter(where) if level is None else _coarse_rows(where, level)
        sources.append(("month", months.filter(month__in=days.months).order_by(), Value(1)))
    if days.days is not None:
        sources.append(("day", DailyRollup.objects.filter(where).filter(days.days).order_by(), days.sign()))
    return sources


@dataclass(frozen=True)
class Ask:
    """One set of figures for ``figures_of``: the cases matching ``where`` (a Q on fields the case and the
    roll-up share: area_path, category, handling_department), per ``group`` (an expression on them; None: all
    as one), with their ``total`` over the groups under TOTAL when grouped."""

    where: Q
    group: object = None
    total: bool = False

    def key(self, several: bool):
        """The group's expression in the reads: as text when several asks share a statement (their groups'
        types differ: a path, a department's id)."""
        key = self.group if self.group is not None else Value(0)
        return Cast(key, models.TextField()) if several else key

    def group_of(self, g, several: bool):
        """The group as ``key`` read it, back in its own type."""
        if self.group is None:
            return None
        if several and g is not None and isinstance(self.group, F):
            field = DailyRollup._meta.get_field(self.group.name)
            if field.is_relation or isinstance(field, models.IntegerField):
                return int(g)
        return g


def figures(
    where: Q,
    period: Period,
    *,
    group=None,
    previous: Period | None = None,
    clock: WorkClock | None = None,
    hours: bool = True,
    total: bool = False,
    today: date | None = None,
) -> dict:
    """``metrics.kpis.compute`` over the cases matching ``where`` (a Q on fields the case and the roll-up
    share: area_path, category, handling_department), from roll-ups of whole past days (whole months
    from the monthly level where it can answer) and today's cases: the same keys and the same figures."""
    ask = Ask(where, group, total)
    return figures_of([ask], period, previous=previous, clock=clock, hours=hours, today=today)[0]


def figures_of(
    asks: list[Ask],
    period: Period,
    *,
    previous: Period | None = None,
    clock: WorkClock | None = None,
    hours: bool = True,
    today: date | None = None,
) -> list[dict]:
    """``figures`` of each of ``asks`` over the same period, read together: the counts, the coarse rows' lists,
    the days' working times and the lists' slices are each one statement for all of them (a dashboard's
    figures of its area and of its departments)."""
    previous = previous or period.previous()
    today = today or timezone.localdate()
    rolled, with_today = _split(period, previous, today)
    several = len(asks) > 1
    if several and rolled and _pinned.get() is None:
        with one_extent():  # one reading of the monthly level's extent for all of them
            return figures_of(asks, period, previous=previous, clock=clock, hours=hours, today=today)
    counts = [defaultdict(lambda: ({}, {})) for _ask in asks]  # per ask: key -> (current, before)
    throughs = [months_through(ask.where, ask.group) if rolled else None for ask in asks]
    parts = []
    for n, (ask, through) in enumerate(zip(asks, throughs, strict=True)):
        sources = []
        if rolled:
            sources = _sources(ask.where, rolled, period.start, through=through, group=ask.group)
        tagged = {"s": Value(n), "g": ask.key(several)}
        # One row per (group, period): 16 plain sums, not 32 filtered ones (Django's per-expression work
        # was most of a read's time).
        for level, rows, sign in sources:
            start = Q(**{"month__gte" if level == "month" else "day__gte": period.start})
            parts.append(
                rows.annotate(**tagged, b=_bucket(start))
                .values("s", "g", "b")
                .annotate(**{name: _signed(name, sign) for name in COUNTS})
            )
        if with_today:
            start = Q(reported_at__gte=start_of_day(period.start))
            live = _today_cases(ask.where, today).order_by().annotate(**tagged, b=_bucket(start))
            parts.append(live.values("s", "g", "b").annotate(**count_aggregates()))
    # Monthly rows, daily rows and today's cases of every ask in one statement: one snapshot, one round trip.
    for row in _union(parts):
        ask = asks[row["s"]]
        current, before = counts[row["s"]][ask.group_of(row["g"], several)]
        for name in COUNTS:
            target = current if row["b"] == CURRENT else before
            target[name] = target.get(name, 0) + (row.get(name) or 0)
    results = []
    for ask, found in zip(asks, counts, strict=True):
        if ask.group is not None:
            # A group whose rows cancel out (a case moved away from it) is no group, as in the case table.
            for gone in [k for k, (c, b) in found.items() if not c.get("reported") and not b.get("reported")]:
                del found[gone]
        else:
            found[None]  # noqa: B018 - one group, present even when empty, as compute gives it
        result = {key: Kpis(period, previous, current=dict(c), before=dict(b)) for key, (c, b) in found.items()}
        if ask.group is not None and ask.total:
            result[TOTAL] = Kpis.summed(list(result.values()), period, previous)
        results.append(result)
    if hours:
        _add_handling_hours(asks, results, period, previous, clock, rolled, with_today, today, throughs)
    return results


def _add_handling_hours(asks, results, period, previous, clock, rolled, with_today, today, throughs) -> None:
    """The mean and 90th percentile of the working hours to handle into each ask's ``results``.

    Whole months' times are counted in the coarse rows' sorted lists (a month less some days: those days'
    values taken away). Where no coarse level answers, every kept value is read from whole monthly rows and
    daily rows, never a month less some days: netting values one by one there cost more than the days' rows."""
    counted = {}
    for n, (ask, through) in enumerate(zip(asks, throughs, strict=True)):
        days = plan(*rolled, split=period.start, through=through) if rolled else Plan()
        level = _coarse_level(ask.where, ask.group) if days.months else None
        if level is not None:
            counted[n] = (days, level)
    found_of = _handling_hours_counted(asks, counted, period, previous, clock, with_today, today) if counted else {}
    for n, (ask, through) in enumerate(zip(asks, throughs, strict=True)):
        found = found_of.get(n)
        if found is None:
            sources = []
            if rolled:
                sources = _sources(ask.where, rolled, period.start, through=through, minus=False, group=ask.group)
            found = _handling_hours(
                ask.where,
                period,
                previous,
                ask.group,
                clock,
                sources,
                with_today,
                today,
                total=ask.group is not None and ask.total,
            )
        for (key, bucket), (mean, p90) in found.items():
            kpis = results[n].setdefault(key, Kpis(period, previous))
            (kpis.current if bucket == CURRENT else kpis.before).update(mean_hours=mean, p90_hours=p90)


def _todays_times(where, period, previous, group, clock, today) -> list[tuple]:
    """(group, bucket, microseconds) of today's handled cases, from the live table."""
    which = CURRENT if today >= period.start else PREVIOUS
    clock = clock or clock_from(previous.start)
    live = _today_cases(where, today).filter(HANDLED, assigned_at__isnull=False, handled_at__isnull=False)
    fields = ["g"] if group is not None else []
    if group is not None:
        live = live.annotate(g=group)
    found = []
    for row in live.order_by().values(*fields, "assigned_at", "handled_at"):
        us = handling_us(clock, row["assigned_at"], row["handled_at"])
        if us is not None:
            found.append((row.get("g"), which, us))
    return found


def _coarse_level(where: Q, group) -> tuple[bool, int] | None:
    """The coarse level (COARSE_LEVELS) with the fewest rows that answers this filter and grouping exactly:
    path filters and grouping no longer than its cut, per department when a department is filtered or
    grouped by; None when none does (a category, a grid)."""
    paths, by_department = [], isinstance(group, F)
    for lookup, value in _lookups(where):
        if lookup == "area_path__startswith" and isinstance(value, str):
            paths.append(len(value))
        elif lookup.split("__")[0].removesuffix("_id") == "handling_department":
            by_department = True
        else:
            return None
    if isinstance(group, F) and group.name.removesuffix("_id") != "handling_department":
        return None
    if group is not None and not isinstance(group, F):
        if not (isinstance(group, Substr) and _monthly_group(group)):
            return None
        paths.append(group.get_source_expressions()[2].value)
    longest = max(paths, default=0)
    for level, (_d, cut) in zip(COARSE_LEVELS, _COARSE_CUTS, strict=True):
        if level[0] == by_department and longest <= cut:
            return level
    return None


def _coarse_rows(where: Q, level: tuple[bool, int]):
    by_department, depth = level
    return CoarseRollup.objects.filter(where, by_department=by_department, depth=depth)


def _handling_hours_counted(asks, counted: dict, period, previous, clock, with_today, today) -> dict:
    """``_handling_hours`` of the asks in ``counted`` (ask index -> (days, coarse level)) over the whole months
    of their days from the coarse rows' lists, by counting in their samples and reading only the slices near
    the 90th percentile (metrics.percentiles); the days a month's list holds beyond the period taken away and
    the days outside whole months added, from the daily rows, and today's cases from the live table. Each
    read is one statement for all the asks. An ask is missing from the result when a list it reads was
    replaced between the two reads."""
    several = len(asks) > 1
    lists: dict[tuple, list[SortedList]] = defaultdict(list)
    sums: dict[tuple, int] = defaultdict(int)
    # A row's pending values are read whole: those gained as one more list, those lost taken away from its list.
    gained: dict[tuple, list[int]] = defaultdict(list)
    lost: dict[tuple, list[int]] = defaultdict(list)
    plus: dict[tuple, list[int]] = defaultdict(list)
    away: dict[tuple, list[int]] = defaultdict(list)
    names = ["s", "pk", "g", "bucket", "sign", "kept", "handle_us_sum", "samples", "sample_step", *PENDING[:2]]
    listed, daily = [], []
    for n, (days, level) in counted.items():
        ask = asks[n]
        key = ask.key(several) if ask.group is not None else Value(None, output_field=models.CharField())
        listed.append(
            _coarse_rows(ask.where, level)
            .filter(Q(kept__gt=0) | Q(pending__gt=0), month__in=days.months)
            .order_by()
            .annotate(s=Value(n), g=key, bucket=_bucket(Q(month__gte=period.start)), sign=Value(1))
            .values(*names)
        )
        if days.days is not None:
            # The days' values in the same read, as rows without an id: their values whole in ``samples``.
            daily.append(
                DailyRollup.objects.filter(ask.where, days.days, handled__gt=0)
                .order_by()
                .annotate(
                    s=Value(n),
                    pk_=Value(None, output_field=models.BigIntegerField()),
                    g=key,
                    bucket=_bucket(Q(day__gte=period.start)),
                    sign=days.sign(),
                    kept_=Value(0),
                    handle_us_sum_=Value(0, output_field=models.BigIntegerField()),
                    samples_=F("handle_us"),
                    sample_step_=Value(None, output_field=models.IntegerField()),
                    gained_=Value(None, output_field=MicrosecondsField()),
                    lost_=Value(None, output_field=MicrosecondsField()),
                )
                .values(
                    "s",
                    "pk_",
                    "g",
                    "bucket",
                    "sign",
                    "kept_",
                    "handle_us_sum_",
                    "samples_",
                    "sample_step_",
                    "gained_",
                    "lost_",
                )
            )
    # Keys below are (ask, group, bucket). Coarse rows first: the days' rows' blank columns take their types.
    for n, pk, g, which, sign, length, total_us, samples, step, plus_us, minus_us in _fetch(
        _combined(listed + daily), names
    ):
        k = (n, asks[n].group_of(g, several), which)
        if pk is None:
            # The days outside whole months, whole: added (plus) or taken away from a month's list (minus).
            (plus if sign > 0 else away)[k].extend(_kept_values(samples))
            continue
        if length:
            lists[k].append(SortedList(ref=pk, length=length, samples=_kept_values(samples), step=step))
        sums[k] += total_us
        gained[k].extend(_kept_values(plus_us))
        lost[k].extend(_kept_values(minus_us))
    if with_today:
        for n in counted:
            for g, which, us in _todays_times(asks[n].where, period, previous, asks[n].group, clock, today):
                plus[(n, g, which)].append(us)
    for k, values in plus.items():
        values.sort()
        lists[k].append(SortedList(ref=None, length=len(values), samples=values, step=1))
        sums[k] += sum(values)
    for k, values in away.items():
        sums[k] -= sum(values)
    # Counted in the rows' sums already.
    for k, values in gained.items():
        if values:
            values.sort()
            lists[k].append(SortedList(ref=None, length=len(values), samples=values, step=1))
    for k, values in lost.items():
        away[k].extend(values)
    for (n, g, which), found in list(lists.items()):
        if asks[n].group is not None and asks[n].total:
            lists[(n, TOTAL, which)].extend(found)
            away[(n, TOTAL, which)].extend(away.get((n, g, which), ()))
            sums[(n, TOTAL, which)] += sums[(n, g, which)]
    by_key = {k: Percentile(found, 0.9, away.get(k, ())) for k, found in lists.items()}
    fetched = _slices({request for p in by_key.values() for request in p.requests})
    result = {n: {} for n in counted}
    for k, p in by_key.items():
        n, g, which = k
        if result.get(n) is None:
            continue
        if any(request not in fetched for request in p.requests):
            result[n] = None  # a refresh replaced a list between the two reads: this ask reads every value instead
            continue
        if p.length:
            result[n][(g, which)] = (float(sums[k]) / p.length / US_PER_HOUR, p.value(fetched) / US_PER_HOUR)
    return {n: found for n, found in result.items() if found is not None}


def _combined(parts: list):
    """The querysets ``parts`` (same columns) as one: a UNION ALL of them when there are several."""
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


def _slices(requests) -> dict[tuple, list[int]]:
    """(CoarseRollup id, start, end) -> its kept values from start to end (1-based, inclusive): one statement.
    A list rebuilt since its samples were read is missing (rows are replaced, never updated)."""
    if not requests:
        return {}
    requests = sorted(requests)
    rows = CoarseRollup.objects.filter(pk__in={r[0] for r in requests})
    if connection.vendor != "postgresql":
        kept = dict(rows.values_list("pk", "handle_us"))
        return {(pk, start, end): kept[pk][start - 1 : end] for pk, start, end in requests if pk in kept}
    with connections[rows.db].cursor() as cursor:
        cursor.execute(
            "SELECT t.n, m.handle_us[t.s:t.e] FROM metrics_coarserollup m JOIN "
            "unnest(%s::bigint[], %s::int[], %s::int[], %s::int[]) AS t(id, s, e, n) ON m.id = t.id",
            [[r[0] for r in requests], [r[1] for r in requests], [r[2] for r in requests], list(range(len(requests)))],
        )
        return {requests[n]: values for n, values in cursor.fetchall()}


def _handling_hours(where, period, previous, group, clock, sources, with_today, today, *, total) -> dict:
    """(group, bucket) -> (mean, 90th percentile) working hours from assignment to handling, exact: over
    every handled case's microseconds kept in the roll-ups (``sources`` add rows, never take them away)
    and today's cases from the live table."""
    grouped = group is not None
    fields = ["g"] if grouped else []
    rows = []
    for level, queryset, _sign in sources:
        start = "month__gte" if level == "month" else "day__gte"
        bucket = models.Case(
            models.When(Q(**{start: period.start}), then=Value(CURRENT)),
            default=Value(PREVIOUS),
            output_field=models.IntegerField(),
        )
        queryset = queryset.filter(handled__gt=0)
        if grouped:
            queryset = queryset.annotate(g=group)
        rows.append(queryset.annotate(bucket=bucket).values(*fields, "bucket", "handle_us"))
    todays = _todays_times(where, period, previous, group, clock, today) if with_today else []
    if rows and connection.vendor == "postgresql":
        return _handling_hours_sql(rows, todays, grouped, total)
    samples = defaultdict(Counter)
    for queryset in rows:
        for row in queryset:
            for value in row["handle_us"]:
                samples[(row.get("g"), row["bucket"])][value] += 1
    for key, which, us in todays:
        samples[(key, which)][us] += 1
    if total:
        for (_key, which), values in list(samples.items()):
            samples[(TOTAL, which)].update(values)
    result = {}
    for key, values in samples.items():
        found = sorted(values.elements())
        if found:
            result[key] = (sum(found) / len(found) / US_PER_HOUR, percentile([v / US_PER_HOUR for v in found], 0.9))
    return result


def _handling_hours_sql(rows, todays, grouped, total) -> dict:
    # In the database: the kept values never travel to Python; today's few join them as arrays.
    g = "p.g, " if grouped else ""
    parts, params = [], []
    for queryset in rows:
        inner, inner_params = queryset.query.sql_with_params()
        parts.append(
            # unnest in the select list: as a lateral join PostgreSQL memoized it on the whole array (slower).
            f"SELECT {g}p.bucket, unnest(p.handle_us) AS v FROM ({inner}) p"  # noqa: S608 - Django's compiled SQL
        )
        params += inner_params
    if todays:
        keys = [t[0] for t in todays]
        kind = "bigint" if any(isinstance(k, int) for k in keys) else "text"
        parts.append(
            f"SELECT {'t.g, ' if grouped else ''}t.bucket, t.v FROM unnest(%s::{kind}[], %s::int[], "  # noqa: S608
            "%s::bigint[]) AS t(g, bucket, v)"
        )
        params += [keys, [t[1] for t in todays], [t[2] for t in todays]]
    values = " UNION ALL ".join(parts)
    if grouped:
        select = "q.g, GROUPING(q.g), q.bucket"
        group_by = "GROUPING SETS ((q.g, q.bucket), (q.bucket))" if total else "q.g, q.bucket"
    else:
        select, group_by = "NULL, 0, q.bucket", "q.bucket"
    sql = (
        f"SELECT {select}, count(*), sum(q.v), percentile_cont(0.9) WITHIN GROUP (ORDER BY q.v) "  # noqa: S608
        f"FROM ({values}) q GROUP BY {group_by}"
    )
    with analytic_queries() as db, db.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    result = {}
    for key, is_total, which, n, total_us, p90 in fetched:
        if n:
            result[(TOTAL if is_total else key, which)] = (float(total_us) / n / US_PER_HOUR, p90 / US_PER_HOUR)
    return result


def monthly_counts(
    where: Q, first_month: date, last_month: date, names=None, today: date | None = None
) -> dict[date, dict]:
    """``metrics.kpis.monthly_counts`` from roll-ups of whole past days and today's cases: one statement."""
    today = today or timezone.localdate()
    names = list(COUNTS) if names is None else names
    first = first_of_month(first_month)
    end = add_months(first_of_month(last_month), 1)
    last_rolled = min(end - timedelta(days=1), today - timedelta(days=1))
    parts = []
    if first <= last_rolled:
        sources = _sources(where, (first, last_rolled), None, through=months_through(where))
        for level, rows, sign in sources:
            month = F("month") if level == "month" else TruncMonth("day", output_field=models.DateField())
            parts.append(rows.annotate(m=month).values("m").annotate(**{n: _signed(n, sign) for n in names}))
    if first <= today < end:
        live = count_aggregates()
        this_month = Value(first_of_month(today), output_field=models.DateField())
        parts.append(
            _today_cases(where, today)
            .order_by()
            .annotate(m=this_month)
            .values("m")
            .annotate(**{n: live[n] for n in names})
        )
    result: dict[date, dict] = defaultdict(lambda: dict.fromkeys(names, 0))
    for row in _union(parts):
        month = row.pop("m")
        month = date.fromisoformat(month[:10]) if isinstance(month, str) else month
        into = result[month]
        for n in names:
            into[n] += row[n] or 0
    return {month: values for month, values in result.items() if values.get("reported", 1)}


def category_volumes(where: Q, period: Period, today: date | None = None) -> dict[int, int]:
    """Cases reported in ``period`` per category id: one statement."""
    today = today or timezone.localdate()
    last_rolled = min(period.end, today - timedelta(days=1))
    parts = []
    if period.start <= last_rolled:
        sources = _sources(where, (period.start, last_rolled), None, through=months_through(where), by_category=True)
        for _level, rows, sign in sources:
            parts.append(rows.values("category_id").annotate(n=_signed("reported", sign)))
    if period.start <= today <= period.end:
        parts.append(_today_cases(where, today).order_by().values("category_id").annotate(n=models.Count("pk")))
    volumes: dict[int, int] = defaultdict(int)
    for row in _union(parts):
        volumes[row["category_id"]] += row["n"]
    return {pk: n for pk, n in volumes.items() if n}


def categories_by_volume(where: Q, *, period: Period, limit: int = 10, total: int | None = None) -> list[dict]:
    """The largest categories of the period with their share of all its cases (``total`` if known): one
    statement (the categories' names are kept per process, metrics.names)."""
    volumes = category_volumes(where, period)
    named = names.category_names(volumes)
    ordered = sorted((pk for pk in volumes if pk in named), key=lambda pk: (-volumes[pk], named[pk][0]))[:limit]
    if total is None:
        total = sum(volumes.values()) if ordered else 0
    return [
        {
            "name": named[pk][0],
            "group": named[pk][1],
            "cases": volumes[pk],
            "share": round(100 * volumes[pk] / total, 1) if total else None,
        }
        for pk in ordered
    ]
