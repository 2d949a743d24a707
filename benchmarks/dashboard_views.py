"""The dashboard page (the admin index) as officials meet it: the first view after the kept figures expired,
against a view after beat renewed them (``metrics.tasks.warm_dashboards``).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_bench_1m REDIS_URL=redis://127.0.0.1:6379/9 \\
        .venv/bin/python benchmarks/dashboard_views.py

For the district (``district``) and a street (``street1``), each logged in past the two-factor step, the
default page (this month so far): BENCH_RUNS (15) rounds after one warm-up, the two kinds of view
alternating within each round so all meet the same load. "Expired": the area's kept dashboard is deleted
before the view, as when FIGURES_CACHE_SECONDS have passed since anyone read it; its first reader computes
it. "Renewed": beat's task has just stored a fresh one with its page's shared fragments (not timed); the view
is the first to read it. "Kept": a view after that one, as most are. Prints p50 and p95 with the statements of one view and the load
average; writes benchmarks/results/dashboard_views.json.
"""

import json
import os
import statistics
import time

from _setup import ROOT, setup

setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from run import login, percentile  # noqa: E402

from metrics import selectors, tasks  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def expire_every_dashboard():
    # The dashboards' keys hold the area, period, day and language: drop every one of them (and the held
    # copies' stamps), as their expiry would.
    keys = list(cache.get(selectors.WANTED_KEY) or {})
    cache.delete_many(keys + [f"{key}:stamp" for key in keys])


def timed_view(client):
    started = time.perf_counter()
    response = client.get("/admin/")
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200 or "kpi-cards" not in response.content.decode():
        raise SystemExit(f"the dashboard page failed: HTTP {response.status_code}")
    return elapsed


def statements(client, before):
    before()
    with CaptureQueriesContext(connection) as queries:
        timed_view(client)
    return len(queries)


def main():
    if not settings.FIGURES_CACHE_SECONDS or not settings.DASHBOARD_WARM_SECONDS:
        raise SystemExit("set FIGURES_CACHE_SECONDS and DASHBOARD_WARM_SECONDS above 0")
    rows = []
    load_before = os.getloadavg()[0]
    for label, username in (("district", "district"), ("street", "street1")):
        client = login(username)
        timed_view(client)  # lists the page's dashboard for beat, and warms this process
        kinds = {"expired": expire_every_dashboard, "renewed": tasks.warm_dashboards, "kept": lambda: None}
        times = {kind: [] for kind in kinds}
        for _ in range(RUNS):
            for kind, before in kinds.items():
                before()
                times[kind].append(timed_view(client))
        for kind, before in kinds.items():
            rows.append(
                {
                    "name": f"{label} dashboard page, {kind}",
                    "p50_ms": round(statistics.median(times[kind]), 1),
                    "p95_ms": round(percentile(times[kind], 0.95), 1),
                    "statements": statements(client, before),
                }
            )
    result = {"runs": RUNS, "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}
    result["rows"] = rows
    print(f"load average {result['load_before']} before, {result['load_after']} after; {RUNS} runs each")
    for row in rows:
        print(
            f"{row['name']:<40} p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  {row['statements']:3} statements"
        )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "dashboard_views.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
