"""Governance figures over 1,000,000 cases (BENCH_CASES): district KPIs, dashboards, the public page, the safety index.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_metrics_bench .venv/bin/python benchmarks/metrics.py

Seeds the demo district and enough bulk cases if the database has fewer (about
six and a half minutes for a million), rebuilds the roll-ups (the seeder writes past
the services), vacuums, then times each read from the roll-ups ("after") and, in
alternation run by run, the same read straight from the case table as before the
roll-ups ("before"); p50/p95 and the query count of each. Then the refresh of the
buckets of 1,000 changed cases. Snapshots and the refresh run in a transaction that
is rolled back, so runs repeat. Prints and writes benchmarks/results/metrics.json.

    BENCH_ONLY=refresh DATABASE_URL=... .venv/bin/python benchmarks/metrics.py

times only the refresh, best of three with the load average, on the database as it is
(no seeding; the marks and the refresh are rolled back, the data is left unchanged).
"""

import json
import os
import random
import statistics
import time
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

from _setup import ROOT, setup

setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count, F, Q  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from cases.models import Case  # noqa: E402
from demo.bulk import seed_bulk  # noqa: E402
from grids.models import Area, Tier  # noqa: E402
from metrics import rollups, safety, selectors, services  # noqa: E402
from metrics.kpis import (  # noqa: E402
    Period,
    add_months,
    analytic_queries,
    compute,
    first_of_month,
    monthly_counts,
    start_of_day,
)
from metrics.models import DailyRollup  # noqa: E402

CASES = int(os.environ.get("BENCH_CASES", "1000000"))
# BENCH_ONLY=refresh: only the refresh after 1,000 changes, on the database as it is (rolled back, as always).
ONLY = os.environ.get("BENCH_ONLY", "")
RUNS = int(os.environ.get("BENCH_RUNS", "7"))


class Rollback(Exception):
    pass


def p95(values):
    ordered = sorted(values)
    k = (len(ordered) - 1) * 0.95
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


@contextmanager
def live_reads():
    """The readers as they were before the roll-ups: every figure straight from the case table."""

    def figures(where, period, *, group=None, previous=None, clock=None, hours=True, total=False, today=None):
        return compute(
            Case.objects.filter(where), period, group=group, previous=previous, clock=clock, hours=hours, total=total
        )

    def trend(where, first, last, names=None, today=None):
        return monthly_counts(Case.objects.filter(where), first, last, names=names)

    def categories(where, *, period, limit=10, total=None):
        start, end = period.bounds()
        cases = Case.objects.filter(where, reported_at__gte=start, reported_at__lt=end).order_by()
        return list(cases.values("category__name").annotate(n=Count("pk")).order_by("-n", "category__name")[:limit])

    with (
        mock.patch.object(rollups, "figures", figures),
        mock.patch.object(rollups, "monthly_counts", trend),
        mock.patch.object(rollups, "categories_by_volume", categories),
    ):
        yield


def measured(fn):
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        fn()
        elapsed = (time.perf_counter() - started) * 1000
    return elapsed, len(captured)


def timed(name, fn, results, runs=RUNS, compare=True):
    """After (roll-ups) and before (live table), measured in alternation run by run after one warm-up of each."""
    after, before = [], []
    measured(fn)
    if compare:
        with live_reads():
            measured(fn)
    for _ in range(runs):
        after.append(measured(fn))
        if compare:
            with live_reads():
                before.append(measured(fn))
    row = {
        "after_p50_ms": round(statistics.median(t for t, _q in after), 1),
        "after_p95_ms": round(p95([t for t, _q in after]), 1),
        "after_queries": after[-1][1],
    }
    if compare:
        row.update(
            before_p50_ms=round(statistics.median(t for t, _q in before), 1),
            before_p95_ms=round(p95([t for t, _q in before]), 1),
            before_queries=before[-1][1],
        )
    results[name] = row
    line = (
        f"{name:46s} after p50 {row['after_p50_ms']:8.1f} p95 {row['after_p95_ms']:8.1f} ms {row['after_queries']:3d} q"
    )
    if compare:
        line += (
            f" | before p50 {row['before_p50_ms']:8.1f} p95 {row['before_p95_ms']:8.1f} ms {row['before_queries']:3d} q"
        )
    print(line, flush=True)


def year_of_kpis() -> float:
    """The best of three reads of the district's last twelve whole months of KPIs, as the dashboard reads them."""
    today = timezone.localdate()
    year = Period(add_months(first_of_month(today), -12), first_of_month(today) - timedelta(days=1))
    district = Area.objects.filter(tier=Tier.DISTRICT).order_by("path").first()
    where = Q(area_path__startswith=district.path) if district else Q()  # a fresh database has none
    times = []
    with analytic_queries():
        for _ in range(3):
            started = time.perf_counter()
            rollups.figures(where, year)
            times.append((time.perf_counter() - started) * 1000)
    return min(times)


def refresh_after_changes(results, changes=1000, *, handling=False):
    """The beat's refresh after ``changes`` cases of the last week changed (marked as the services mark them).

    Each case really changes (one more assignment, so its roll-up row differs) and is marked; the same
    cases every run (a fixed sample), so a run before a change to the code and one after it compare.
    ``handling``: the handled ones are also handled a minute later, so their kept working times change:
    the monthly rows' lists are rebuilt and the coarse rows gain pending values. Then, as the beat's task
    does after the refresh, the merge of those into the coarse lists (``compact``, every row with any)."""
    since = start_of_day(timezone.localdate() - timedelta(days=7))
    ids = sorted(Case.objects.filter(reported_at__gte=since).values_list("pk", flat=True))
    ids = random.Random(16).sample(ids, min(changes, len(ids)))
    times, statements, merges = [], 0, []
    reads = {"with pending values": [], "merged": []}
    for _ in range(3):
        try:
            with transaction.atomic():
                Case.objects.filter(pk__in=ids).update(assign_count=F("assign_count") + 1)
                if handling:
                    Case.objects.filter(pk__in=ids, handled_at__isnull=False).update(
                        handled_at=F("handled_at") + timedelta(minutes=1)
                    )
                for case in Case.objects.filter(pk__in=ids):
                    rollups.mark(case)
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    buckets = rollups.refresh()
                    times.append((time.perf_counter() - started) * 1000)
                statements = len(captured)
                reads["with pending values"].append(year_of_kpis())
                started = time.perf_counter()
                merged = rollups.compact(everything=True)
                merges.append((time.perf_counter() - started) * 1000)
                reads["merged"].append(year_of_kpis())
                raise Rollback
        except Rollback:
            pass
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    label = f"refresh after {changes} changes" + (", handling times among them" if handling else "")
    results[label] = {
        "buckets": buckets,
        "best_ms": round(min(times), 1),
        "runs_ms": [round(t, 1) for t in times],
        "statements": statements,
        "merged_rows": merged,
        "merge_best_ms": round(min(merges), 1),
        "year_of_district_kpis_best_ms": {name: round(min(t), 1) for name, t in reads.items()},
        "load": load,
    }
    print(
        f"{label} ({buckets} buckets): best {min(times):.1f} ms of "
        f"{', '.join(f'{t:.0f}' for t in times)}, {statements} statements; then merging {merged} coarse rows: "
        f"best {min(merges):.1f} ms; a year of district KPIs with the pending values / merged: "
        f"{min(reads['with pending values']):.1f} / {min(reads['merged']):.1f} ms; load average {load}",
        flush=True,
    )


def main():
    # Migrate first: on a fresh database there is no area table to ask.
    call_command("migrate", verbosity=0)
    if ONLY == "refresh":
        results = {"cases": Case.objects.count()}
        refresh_after_changes(results)
        refresh_after_changes(results, handling=True)
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return
    if not Area.objects.exists():
        call_command("seed_demo", verbosity=0)
    missing = CASES - Case.objects.count()
    if missing > 0:
        print(f"Seeding {missing} cases ...")
        seed_bulk(cases=missing)
    if missing > 0 or not DailyRollup.objects.exists():
        started = time.monotonic()
        rows = rollups.rebuild()
        print(f"Rebuilt {rows} roll-up rows in {time.monotonic() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE cases_case")
        cursor.execute("VACUUM ANALYZE metrics_dailyrollup")
    admin = User.objects.get(username="admin")
    district = Area.objects.get(parent__isnull=True)
    street = Area.objects.filter(parent=district).order_by("path").first()
    today = timezone.localdate()
    last_month = add_months(first_of_month(today), -1)
    month = Period.month(last_month)
    year = Period(today - timedelta(days=364), today)
    results = {"cases": Case.objects.count(), "month": f"{last_month:%Y-%m}"}

    def snapshot():
        try:
            with transaction.atomic():
                services.snapshot_safety_index(actor=None, month=last_month, force=True)
                raise Rollback
        except Rollback:
            pass

    timed(
        "district KPIs: last month and the month before",
        lambda: selectors.area_kpis(user=admin, area=district, period=month),
        results,
    )
    timed(
        "district KPIs: last 365 days (every case)",
        lambda: selectors.area_kpis(user=admin, area=district, period=year),
        results,
    )
    timed(
        "district and its 6 streets: last month",
        lambda: selectors.area_figures(user=admin, area=district, period=month),
        results,
    )
    timed(
        "one street and its communities: last month",
        lambda: selectors.area_figures(user=admin, area=street, period=month),
        results,
    )
    timed(
        "department ranking: last month",
        lambda: selectors.department_kpis(user=admin, area=district, period=month),
        results,
    )
    timed("safety index of all grids: computed", lambda: safety.compute_month(month=last_month), results, compare=False)
    timed("safety index of all grids: snapshot stored", snapshot, results, runs=2, compare=False)
    timed(
        "district dashboard (all of it, this month)",
        lambda: selectors.dashboard(user=admin, period=Period.month_to_date(today)),
        results,
    )
    timed(
        "street dashboard (all of it, this month)",
        lambda: selectors.dashboard(user=admin, area=street, period=Period.month_to_date(today)),
        results,
    )
    timed("public page data (streets, communities)", lambda: selectors.public_disclosure(today=today), results)
    refresh_after_changes(results)
    refresh_after_changes(results, handling=True)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
