"""Governance figures over 1,000,000 cases: district KPIs and the monthly safety index of every grid.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_metrics_bench .venv/bin/python benchmarks/metrics.py

Seeds the demo district and enough bulk cases if the database has fewer (about
three minutes for a million), vacuums, then times each read several times
(the best run is the steady state; the first shows a cold start) and counts its
queries. Snapshots run in a transaction that is rolled back, so runs repeat.
Prints and writes benchmarks/results/metrics.json. Target: each under 1 second.
"""

import json
import time
from datetime import timedelta

from _setup import ROOT, setup

setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from cases.models import Case  # noqa: E402
from demo.bulk import seed_bulk  # noqa: E402
from grids.models import Area  # noqa: E402
from metrics import safety, selectors, services  # noqa: E402
from metrics.kpis import Period, add_months, first_of_month  # noqa: E402

CASES = 1_000_000
RUNS = 3


class Rollback(Exception):
    pass


def timed(name, fn, results, runs=RUNS):
    times, queries = [], 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        queries = len(captured)
    results[name] = {"best_seconds": round(min(times), 3), "first_seconds": round(times[0], 3), "queries": queries}
    print(f"{name:48s} best {min(times):6.3f} s  first {times[0]:6.3f} s  {queries:3d} queries")


def main():
    # Migrate first: on a fresh database there is no area table to ask.
    call_command("migrate", verbosity=0)
    if not Area.objects.exists():
        call_command("seed_demo", verbosity=0)
    missing = CASES - Case.objects.count()
    if missing > 0:
        print(f"Seeding {missing} cases ...")
        seed_bulk(cases=missing)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE cases_case")
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
    timed("safety index of all grids: computed", lambda: safety.compute_month(month=last_month), results)
    timed("safety index of all grids: snapshot stored", snapshot, results)
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
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
