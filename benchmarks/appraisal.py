"""The monthly appraisal (考核) at scale: computing a month for every street, community, department and grid
worker, and reading a recorded month as the district.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_h5 BENCH_CASES=200000 .venv/bin/python benchmarks/appraisal.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_bench_1m BENCH_READ_ONLY=1 .venv/bin/python benchmarks/appraisal.py

With BENCH_READ_ONLY=1 the database is another's (already seeded and rolled up): every query runs in a
READ ONLY transaction, only the computation is timed, and nothing is recorded. Otherwise the demo district
and bulk cases up to BENCH_CASES are seeded if missing, the roll-ups rebuilt, last month's safety index and
appraisal recorded (replaced on each run), and then the computation and the read are timed: p50/p95 and
the query count of each. Prints and writes benchmarks/results/appraisal-<cases>.json.
"""

import json
import os
import statistics
import time

from _setup import ROOT, setup

setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Post, User  # noqa: E402
from accounts.roles import Role  # noqa: E402
from cases.models import Case  # noqa: E402
from metrics import appraisal  # noqa: E402
from metrics.kpis import add_months, first_of_month  # noqa: E402
from metrics.models import DailyRollup, SafetyIndexRun  # noqa: E402

CASES = int(os.environ.get("BENCH_CASES", "1000000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
READ_ONLY = os.environ.get("BENCH_READ_ONLY") == "1"


def p95(values):
    ordered = sorted(values)
    k = (len(ordered) - 1) * 0.95
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def timed(label, fn, runs):
    fn()  # warm caches and connections
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        fn()
    row = {
        "name": label,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(p95(times), 1),
        "queries": len(queries),
    }
    print(f"{label:<55} p50 {row['p50_ms']:>9} ms  p95 {row['p95_ms']:>9} ms  {row['queries']:>3} queries", flush=True)
    return row, result


def prepare() -> None:
    from django.core.management import call_command

    from demo.bulk import seed_bulk
    from metrics import rollups

    if not User.objects.filter(username="district").exists():
        call_command("seed_demo", cases=0, verbosity=0)
    have = Case.objects.count()
    if have < CASES:
        started = time.perf_counter()
        seed_bulk(cases=CASES - have, months=6)
        print(f"seeded {CASES - have} cases in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        rollups.rebuild()
        print(f"rebuilt the roll-ups in {time.perf_counter() - started:.0f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def main():
    month = add_months(first_of_month(timezone.localdate()), -1)
    if not READ_ONLY:
        prepare()
    cases = Case.objects.count()
    workers = Post.objects.filter(role=Role.GRID_WORKER).values("user_id").distinct().count()
    print(
        f"{cases} cases, {DailyRollup.objects.count()} roll-up rows, {workers} grid workers; month {month:%Y-%m}",
        flush=True,
    )
    results = {"cases": cases, "grid_workers": workers, "month": f"{month:%Y-%m}", "read_only": READ_ONLY, "rows": []}

    if READ_ONLY:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
            row, units = timed(
                "compute a month: every unit (read only)", lambda: appraisal.compute_month(month=month), RUNS
            )
        results["rows"].append(row)
        results["units"] = len(units)
    else:
        from metrics import services

        if not SafetyIndexRun.objects.filter(month=month).exists():
            services.snapshot_safety_index(actor=None, month=month)
        row, units = timed("compute a month: every unit", lambda: appraisal.compute_month(month=month), RUNS)
        results["rows"].append(row)
        results["units"] = len(units)
        row, _run = timed(
            "record a month (compute + store + audit row)",
            lambda: appraisal.record_month(actor=None, month=month, force=True),
            max(RUNS // 2, 1),
        )
        results["rows"].append(row)
        district = User.objects.get(username="district")
        district.scope  # noqa: B018 - computed once per request, before the page reads

        row, scores = timed(
            "read the recorded month as the district",
            lambda: appraisal.month_scores(user=district, month=month),
            RUNS * 4,
        )
        results["rows"].append(row)
        results["scores_read"] = len(scores)
    print(f"units appraised: {results['units']}", flush=True)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"appraisal-{cases}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
