"""Roll-ups: the KPI counts of each whole past day by grid, category and handling department, kept current.

A case counts on the local day it was reported (metrics.kpis: a period's cases are the cases
reported in it), so a change to a case only touches the bucket (day, grid path) it was reported
in, and the old one when it moved between grids. The services send ``cases.changes.figures_changed``
in the writing transaction; the receiver here writes a DirtyBucket row in that same transaction;
``refresh`` (beat, every tick) recomputes only the marked buckets from the case table with the one
definition (metrics.kpis.count_aggregates); ``rebuild`` recomputes everything (``manage.py
rebuild_rollups``, after a bulk load or a repair).

Readers (``figures``, ``monthly_counts``, ``category_volumes``) sum the roll-ups of whole past
days and add today's cases from the live table, and give exactly what ``metrics.kpis.compute``
gives over the case table. Working time to handle is kept in whole microseconds per handled
case (the work clock's hours are whole days plus the difference of two moments, so this is
exact), which makes the mean and the 90th percentile exact too.
"""

from collections import defaultdict
from datetime import date, timedelta

from django.db import connection, models, transaction
from django.db.models import Q, Sum, Value
from django.db.models.functions import Coalesce
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from cases.changes import figures_changed
from cases.models import Case, Category, WorkCalendarDay

from .kpis import (
    COUNTS,
    CURRENT,
    HANDLED,
    PREVIOUS,
    TOTAL,
    Kpis,
    Period,
    add_months,
    compute,
    count_aggregates,
    first_of_month,
    start_of_day,
)
from .kpis import monthly_counts as live_monthly_counts
from .models import DailyRollup, DirtyBucket, RollupState
from .workhours import WorkClock, percentile

US_PER_HOUR = 3_600_000_000
BUCKET_FIELDS = ["area_path", "grid_id", "category_id", "handling_department_id"]
# A calendar edit changes the working hours of cases handled on that day: those reported up to this long before.
CALENDAR_REACH_DAYS = 400
WHOLE_DAY = ""  # a DirtyBucket path meaning every grid of the day


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


def clock_from(first: date) -> WorkClock:
    # Handling happens after reporting, up to now (and a margin for clocks slightly ahead): as metrics.kpis.
    return WorkClock.between(first, timezone.localdate() + timedelta(days=31))


def _day_rows(day: date, paths: set[str] | None, clock: WorkClock) -> list[DailyRollup]:
    """The roll-up rows of ``day`` for ``paths`` (None: every grid), from the case table: two queries."""
    cases = Case.objects.filter(reported_at__gte=start_of_day(day), reported_at__lt=start_of_day(day + timedelta(1)))
    if paths is not None:
        cases = cases.filter(area_path__in=paths)
    cases = cases.order_by()
    rows = {}
    for row in cases.values(*BUCKET_FIELDS).annotate(**count_aggregates()):
        key = tuple(row[f] for f in BUCKET_FIELDS)
        rows[key] = DailyRollup(
            day=day,
            area_path=row["area_path"],
            grid_id=row["grid_id"],
            category_id=row["category_id"],
            handling_department_id=row["handling_department_id"],
            **{name: row[name] for name in COUNTS},
        )
    handled = cases.filter(HANDLED, assigned_at__isnull=False, handled_at__isnull=False)
    for *key, assigned_at, handled_at in handled.values_list(*BUCKET_FIELDS, "assigned_at", "handled_at"):
        us = handling_us(clock, assigned_at, handled_at)
        if us is not None:
            rollup = rows[tuple(key)]
            rollup.handle_us.append(us)
            rollup.handle_us_sum += us
    for rollup in rows.values():
        rollup.handle_us.sort()
    return list(rows.values())


def _recompute(day: date, paths: set[str] | None, clock: WorkClock) -> None:
    fresh = _day_rows(day, paths, clock)
    stale = DailyRollup.objects.filter(day=day)
    if paths is not None:
        stale = stale.filter(area_path__in=paths)
    stale.delete()
    DailyRollup.objects.bulk_create(fresh, batch_size=1000)


def _locked_state():
    """RollupState locked for this transaction, or None while another refresh or rebuild holds it."""
    RollupState.current()
    return RollupState.objects.select_for_update(skip_locked=True).filter(pk=1).first()


@transaction.atomic
def refresh(*, limit: int = 20000) -> int:
    """Recompute the buckets marked since the last refresh; returns how many (day, grid) buckets.

    Marks are removed by id, so a mark committed meanwhile stays for the next refresh; the state
    row's lock keeps two refreshes from writing the same bucket."""
    state = _locked_state()
    if state is None:
        return 0
    marks = list(DirtyBucket.objects.order_by("pk").values_list("pk", "day", "area_path")[:limit])
    by_day: dict[date, set[str] | None] = {}
    for _pk, day, path in marks:
        if path == WHOLE_DAY:
            by_day[day] = None
        elif by_day.get(day, set()) is not None:
            by_day.setdefault(day, set()).add(path)
    if by_day:
        clock = clock_from(min(by_day))
        for day, paths in sorted(by_day.items()):
            _recompute(day, paths, clock)
        DirtyBucket.objects.filter(pk__in=[pk for pk, _day, _path in marks]).delete()
    state.refreshed_at = timezone.now()
    state.buckets = sum(len(p) if p is not None else 1 for p in by_day.values())
    state.save(update_fields=["refreshed_at", "buckets"])
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
    if first is not None:
        day, last = local_day(first), timezone.localdate()
        clock = clock_from(day)
        while day <= last:
            DailyRollup.objects.bulk_create(_day_rows(day, None, clock), batch_size=1000)
            if progress and day.day == 1:
                progress(day)
            day += timedelta(days=1)
    DirtyBucket.objects.filter(pk__in=seen).delete()
    state.refreshed_at = state.rebuilt_at = timezone.now()
    state.save(update_fields=["refreshed_at", "rebuilt_at"])
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
    share: area_path, category, handling_department), from roll-ups of whole past days and today's
    cases: the same keys and the same figures."""
    previous = previous or period.previous()
    today = today or timezone.localdate()
    rolled, with_today = _split(period, previous, today)
    grouped = group is not None
    counts: dict = defaultdict(lambda: ({}, {}))  # key -> (current, before)

    def add(key, target, values):
        for name in COUNTS:
            target[name] = target.get(name, 0) + (values.get(name) or 0)

    if rolled:
        in_current = Q(day__gte=period.start)
        aggregates = {}
        for name in COUNTS:
            aggregates["c_" + name] = Coalesce(Sum(name, filter=in_current), 0)
            aggregates["p_" + name] = Coalesce(Sum(name, filter=~in_current), 0)
        base = DailyRollup.objects.filter(where, day__gte=rolled[0], day__lte=rolled[1]).order_by()
        # Sums over kept rows: no session settings needed (unlike the live aggregates' per-case work).
        rows = (
            list(base.annotate(g=group).values("g").annotate(**aggregates))
            if grouped
            else [base.aggregate(**aggregates)]
        )
        for row in rows:
            current, before = counts[row.get("g")]
            add(None, current, {n: row["c_" + n] for n in COUNTS})
            add(None, before, {n: row["p_" + n] for n in COUNTS})
    if with_today:
        live = compute(_today_cases(where, today), period, group=group, previous=previous, hours=False)
        for key, kpis in live.items():
            if grouped and not kpis.current.get("reported") and not kpis.before.get("reported"):
                continue
            current, before = counts[key]
            add(key, current, kpis.current)
            add(key, before, kpis.before)
    if not grouped:
        counts[None]  # noqa: B018 - one group, present even when empty, as compute gives it

    results = {key: Kpis(period, previous, current=dict(c), before=dict(b)) for key, (c, b) in counts.items()}
    if grouped and total:
        results[TOTAL] = Kpis.summed(list(results.values()), period, previous)
    if hours:
        for (key, bucket), (mean, p90) in _handling_hours(
            where, period, previous, group, clock, rolled, with_today, today, total=grouped and total
        ).items():
            kpis = results.setdefault(key, Kpis(period, previous))
            (kpis.current if bucket == CURRENT else kpis.before).update(mean_hours=mean, p90_hours=p90)
    return results


def _handling_hours(where, period, previous, group, clock, rolled, with_today, today, *, total) -> dict:
    """(group, bucket) -> (mean, 90th percentile) working hours from assignment to handling, exact: over
    every handled case's microseconds kept in the roll-ups and today's cases from the live table."""
    grouped = group is not None
    fields = ["g"] if grouped else []
    rows = None
    if rolled:
        bucket = models.Case(
            models.When(day__gte=period.start, then=Value(CURRENT)),
            default=Value(PREVIOUS),
            output_field=models.IntegerField(),
        )
        rows = DailyRollup.objects.filter(where, day__gte=rolled[0], day__lte=rolled[1], handled__gt=0).order_by()
        if grouped:
            rows = rows.annotate(g=group)
        rows = rows.annotate(bucket=bucket).values(*fields, "bucket", "handle_us")
    todays = []  # (group, bucket, microseconds) of today's handled cases
    if with_today:
        which = CURRENT if today >= period.start else PREVIOUS
        clock = clock or clock_from(previous.start)
        live = _today_cases(where, today).filter(HANDLED, assigned_at__isnull=False, handled_at__isnull=False)
        if grouped:
            live = live.annotate(g=group)
        for row in live.order_by().values(*fields, "assigned_at", "handled_at"):
            us = handling_us(clock, row["assigned_at"], row["handled_at"])
            if us is not None:
                todays.append((row.get("g"), which, us))
    if rows is not None and connection.vendor == "postgresql":
        return _handling_hours_sql(rows, todays, grouped, total)
    samples = defaultdict(list)
    found = [(row.get("g"), row["bucket"], value) for row in (rows or []) for value in row["handle_us"]]
    for key, which, us in found + todays:
        samples[(key, which)].append(us)
        if total:
            samples[(TOTAL, which)].append(us)
    return {
        key: (sum(values) / len(values) / US_PER_HOUR, percentile([v / US_PER_HOUR for v in values], 0.9))
        for key, values in samples.items()
        if values
    }


def _handling_hours_sql(rows, todays, grouped, total) -> dict:
    # In the database: the kept values never travel to Python; today's few join them as arrays.
    inner, params = rows.query.sql_with_params()
    g = "p.g, " if grouped else ""
    union = ""
    if todays:
        keys = [t[0] for t in todays]
        kind = "bigint" if any(isinstance(k, int) for k in keys) else "text"
        union = (
            f" UNION ALL SELECT {'t.g, ' if grouped else ''}t.bucket, t.v FROM unnest(%s::{kind}[], %s::int[], "  # noqa: S608
            "%s::bigint[]) AS t(g, bucket, v)"
        )
        params = [*params, keys, [t[1] for t in todays], [t[2] for t in todays]]
    values = f"SELECT {g}p.bucket, e.v::bigint AS v FROM ({inner}) p CROSS JOIN LATERAL jsonb_array_elements_text(p.handle_us) AS e(v)"  # noqa: S608 - Django's compiled SQL and constants
    if grouped:
        select = "q.g, GROUPING(q.g), q.bucket"
        group_by = "GROUPING SETS ((q.g, q.bucket), (q.bucket))" if total else "q.g, q.bucket"
    else:
        select, group_by = "NULL, 0, q.bucket", "q.bucket"
    sql = (
        f"SELECT {select}, count(*), sum(q.v), percentile_cont(0.9) WITHIN GROUP (ORDER BY q.v) "  # noqa: S608
        f"FROM ({values}{union}) q GROUP BY {group_by}"
    )
    with connection.cursor() as cursor:
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
    """``metrics.kpis.monthly_counts`` from roll-ups of whole past days and today's cases: two queries."""
    today = today or timezone.localdate()
    names = list(COUNTS) if names is None else names
    first = first_of_month(first_month)
    end = add_months(first_of_month(last_month), 1)
    result: dict[date, dict] = {}
    last_rolled = min(end - timedelta(days=1), today - timedelta(days=1))
    if first <= last_rolled:
        month = models.functions.TruncMonth("day", output_field=models.DateField())
        rows = (
            DailyRollup.objects.filter(where, day__gte=first, day__lte=last_rolled)
            .order_by()
            .annotate(month=month)
            .values("month")
            .annotate(**{n: Coalesce(Sum(n), 0) for n in names})
        )
        for row in rows:
            result[row.pop("month")] = row
    if first <= today < end:
        live = live_monthly_counts(_today_cases(where, today), today, today, names=names)
        for month, values in live.items():
            if not values.get("reported"):
                continue
            into = result.setdefault(month, dict.fromkeys(names, 0))
            for n in names:
                into[n] += values.get(n) or 0
    return result


def category_volumes(where: Q, period: Period, today: date | None = None) -> dict[int, int]:
    """Cases reported in ``period`` per category id."""
    today = today or timezone.localdate()
    volumes: dict[int, int] = defaultdict(int)
    last_rolled = min(period.end, today - timedelta(days=1))
    if period.start <= last_rolled:
        for category_id, n in (
            DailyRollup.objects.filter(where, day__gte=period.start, day__lte=last_rolled)
            .order_by()
            .values("category_id")
            .annotate(n=Sum("reported"))
            .values_list("category_id", "n")
        ):
            volumes[category_id] += n
    if period.start <= today <= period.end:
        for category_id, n in (
            _today_cases(where, today)
            .order_by()
            .values("category_id")
            .annotate(n=models.Count("pk"))
            .values_list("category_id", "n")
        ):
            volumes[category_id] += n
    return volumes


def categories_by_volume(where: Q, *, period: Period, limit: int = 10, total: int | None = None) -> list[dict]:
    """The largest categories of the period with their share of all its cases (``total`` if known)."""
    volumes = {pk: n for pk, n in category_volumes(where, period).items() if n}
    names = {
        c.pk: (c.name, c.parent.name if c.parent_id else "")
        for c in Category.objects.filter(pk__in=list(volumes)).select_related("parent")
    }
    ordered = sorted((pk for pk in volumes if pk in names), key=lambda pk: (-volumes[pk], names[pk][0]))[:limit]
    if total is None:
        total = sum(volumes.values()) if ordered else 0
    return [
        {
            "name": names[pk][0],
            "group": names[pk][1],
            "cases": volumes[pk],
            "share": round(100 * volumes[pk] / total, 1) if total else None,
        }
        for pk in ordered
    ]
