"""The back office as officials open it all day, measured per role: the header to-do counts (counted, and
as a page serves them while they are kept), the case list's named views, a search, and the case page
(issue 11's list and header targets).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_bench_1m .venv/bin/python benchmarks/office.py

Runs against the database as it is (seed it with `make bench` or `seed_bulk`); on an empty database it
migrates and seeds the demo district first, so it also runs on a fresh one. Read-only: nothing it does
is kept. Prints p50/p95 server time and statements per row, and writes benchmarks/results/office-<n>.json.
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, setup  # noqa: E402

setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from run import RUNS, login, measure, percentile  # noqa: E402

from cases.models import Case  # noqa: E402
from cases.selectors import todo_counts  # noqa: E402
from cases.todo_badges import counts_for_page  # noqa: E402
from grids.models import Area  # noqa: E402

ROLES = ["district", "street1", "community001", "grid001", "dept_ga"]
VIEWS = [
    ("waiting for me", ""),
    ("my unit's", "?view=unit"),
    ("reported by me", "?view=mine"),
    ("overdue", "?view=overdue"),
    ("all I can see", "?view=all"),
]


def measure_counts(user, runs=RUNS):
    """todo_counts as the header computes it when it counts (its statement), server time and statements; then
    as a page serves it while the counts are kept (cases/todo_badges.py, TODO_CACHE_SECONDS)."""
    times = []
    with CaptureQueriesContext(connection) as queries:
        todo_counts(user)
    for _ in range(runs):
        started = time.perf_counter()
        todo_counts(user)
        times.append((time.perf_counter() - started) * 1000)
    request = RequestFactory().get("/admin/")
    request.user = user
    with override_settings(TODO_CACHE_SECONDS=30):
        counts_for_page(request)
        kept = []
        with CaptureQueriesContext(connection) as kept_queries:
            for _ in range(runs):
                started = time.perf_counter()
                counts_for_page(request)
                kept.append((time.perf_counter() - started) * 1000)
    return [
        {
            "name": f"header to-do counts: {user.username}",
            "p50_ms": round(percentile(times, 0.5), 1),
            "p95_ms": round(percentile(times, 0.95), 1),
            "queries": len(queries),
        },
        {
            "name": f"header to-do counts kept: {user.username}",
            "p50_ms": round(percentile(kept, 0.5), 1),
            "p95_ms": round(percentile(kept, 0.95), 1),
            "queries": len(kept_queries) // runs,
        },
    ]


def main():
    # A fresh database is set up here; a seeded one is only read (another run may be rebuilding its roll-ups).
    if "grids_area" not in connection.introspection.table_names():
        call_command("migrate", verbosity=0)
    if not Area.objects.exists():
        call_command("seed_demo", verbosity=0)
    volume = Case.objects.count()
    sample = Case.objects.order_by("-pk").only("pk", "number").first()
    rows = []
    with override_settings(ALLOWED_HOSTS=["*"]):
        for username in ROLES:
            client = login(username)
            rows.extend(measure_counts(_user(username)))
            for label, query in VIEWS:
                rows.append(
                    measure(f"list {label}: {username}", lambda c=client, q=query: c.get(f"/admin/cases/case/{q}"))
                )
            rows.append(
                measure(f"search a number: {username}", lambda c=client: c.get(f"/admin/cases/case/?q={sample.number}"))
            )
        district = login("district")
        rows.append(measure("case page: district", lambda: district.get(f"/admin/cases/case/{sample.pk}/change/")))
    print(f"\n== back office at {volume:,} cases")
    print(f"{'measurement':<44}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}")
    for row in rows:
        print(f"{row['name']:<44}{row['p50_ms']!s:>9}{row['p95_ms']!s:>9}{row['queries']!s:>9}")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / f"office-{volume}.json").write_text(json.dumps({"volume": volume, "rows": rows}, indent=2))


def _user(username):
    from accounts.models import User

    return User.objects.get(username=username)


if __name__ == "__main__":
    main()
