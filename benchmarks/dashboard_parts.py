"""Where a computed district dashboard's time goes, panel by panel, read-only (nothing is cached or written).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_bench_1m .venv/bin/python benchmarks/dashboard_parts.py

Times, as the district's superuser, each panel `metrics.selectors._area_dashboard` computes for the last full
month (the figures with and without the exact times to handle, the departments, the trend, the categories, the
safety ranking, staffing, inspections, patrol coverage), the whole dashboard, a street's whole dashboard, a
year of district KPIs (the last twelve whole months against the twelve before) and the public page's data,
uncached; median and worst of BENCH_RUNS (7) after one warm-up, with the statements of one run and the load
average. Prints a table and writes benchmarks/results/dashboard_parts.json.
"""

import json
import os
import statistics
import time
from datetime import timedelta

from _setup import ROOT, setup

setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from cases.models import Case  # noqa: E402
from gov_platform.db_router import analytic_queries, replica_reads  # noqa: E402
from grids.models import Area, Tier  # noqa: E402
from metrics import rollups, selectors  # noqa: E402
from metrics.kpis import Period, add_months, clock_for, first_of_month  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def timed(fn):
    fn()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        fn()
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1), "queries": len(queries)}


def main():
    user = User.objects.filter(is_superuser=True).order_by("pk").first()
    district = Area.objects.get(tier=Tier.DISTRICT)
    street = Area.objects.filter(tier=Tier.STREET).order_by("path").first()
    today = timezone.localdate()
    month = Period.month(add_months(first_of_month(today), -1))
    year = Period(add_months(first_of_month(today), -12), first_of_month(today) - timedelta(days=1))
    clock = clock_for(month)
    where = selectors.area_filter(district)
    parts = {
        "figures (district and its streets)": lambda: selectors.area_figures(
            user=user, area=district, period=month, clock=clock
        ),
        "figures without the times to handle": lambda: rollups.figures(where, month, hours=False),
        "departments": lambda: selectors.department_kpis(user=user, area=district, period=month, clock=clock),
        "12-month trend": lambda: selectors.monthly_trend(where, today=today),
        "categories": lambda: selectors.categories_by_volume(where, period=month),
        "safety ranking": lambda: selectors.safety_ranking(user=user, area=district),
        "staffing": lambda: selectors.staffing(user=user, area=district),
        "inspections": lambda: selectors.inspection_table(user=user, area=district, today=today),
        "patrol coverage": lambda: selectors.visit_coverage.coverage(area=district, month=month.start, today=today),
        "the whole dashboard (hotspots from their shared list)": lambda: selectors._area_dashboard(
            user=user, area=district, period=month, today=today
        ),
        "the whole dashboard of a street": lambda: selectors._area_dashboard(
            user=user, area=street, period=month, today=today
        ),
        "a year of district KPIs": lambda: rollups.figures(where, year),
        "a year of district KPIs without the times to handle": lambda: rollups.figures(where, year, hours=False),
    }
    rows = {"cases": Case.objects.count(), "month": f"{month.start:%Y-%m}", "load": os.getloadavg()[0]}
    with replica_reads(), rollups.one_extent(), analytic_queries(parallel=False):
        for label, fn in parts.items():
            rows[label] = timed(fn)
    rows["public page data, uncached"] = timed(lambda: selectors.public_disclosure())
    rows["load after"] = os.getloadavg()[0]
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "dashboard_parts.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    for label, row in rows.items():
        if isinstance(row, dict):
            print(f"{label:56s} {row['median_ms']:8.1f} ms (worst {row['max_ms']:8.1f}) {row['queries']:3d} statements")
        else:
            print(f"{label:56s} {row}")


if __name__ == "__main__":
    main()
