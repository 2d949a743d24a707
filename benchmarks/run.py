"""The benchmark suite: `make bench` (PostgreSQL; DATABASE_URL, default a database gov_bench_suite).

At each volume (10,000, 100,000, 1,000,000 cases unless BENCH_VOLUMES says
otherwise) it measures, in process through Django's full request stack,
p50/p95 server time and query count of the admin case list (default and each
filter), the admin case page, the API list (default and each filter), detail
and a transition, the escalation sweep, the dashboard and the KPI API; and beside
each API list request, in alternation request by request (same load on both), a
bare DRF ListAPIView over the same table: "vs bare" is the ratio of their p95s.
Bulk-seeded cases are rolled up (metrics.rollups.rebuild) before measuring. Then eight officials at
once through gunicorn (two workers) on the district dashboard, the KPI API and the admin case list
(p50/p95, requests per second). Intake throughput is benchmarks/intake.py (`make bench` runs it after this,
on a database of its own: it adds cases).
Prints a table per volume and writes benchmarks/results/bench-<volume>.json.
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, setup, wait_until_serving  # noqa: E402

setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.twofactor import otp_required  # noqa: E402
from cases.escalation import sweep  # noqa: E402
from cases.models import Case, Category  # noqa: E402
from demo.bulk import seed_bulk  # noqa: E402
from grids.models import Area  # noqa: E402
from metrics import rollups  # noqa: E402
from metrics.models import DailyRollup  # noqa: E402
from tests.conftest import pass_code_step  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "25"))
VOLUMES = [int(v) for v in os.environ.get("BENCH_VOLUMES", "10000,100000,1000000").split(",")]
RESULTS = ROOT / "benchmarks" / "results"


class Rollback(Exception):
    pass


def percentile(values, p):
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def measure(label, request, runs=RUNS):
    """p50/p95 of ``request()`` in ms and the query count of one run."""
    request()  # warm caches and connections
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = request()
        times.append((time.perf_counter() - started) * 1000)
        status = getattr(response, "status_code", 200)
        if status >= 400:
            raise RuntimeError(f"{label}: HTTP {status}")
    with CaptureQueriesContext(connection) as queries:
        request()
    return {
        "name": label,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "queries": len(queries),
    }


def measure_against_bare(label, request, bare, runs=RUNS):
    """p50/p95 of ``request()`` and of the bare view, measured in alternation request by request, so both
    see the same machine load; the ratio is of the p95s of the same run."""
    request(), bare()  # warm caches and connections
    mine, theirs = [], []
    for _ in range(runs):
        for target, times in ((request, mine), (bare, theirs)):
            started = time.perf_counter()
            response = target()
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code >= 400:
                raise RuntimeError(f"{label}: HTTP {response.status_code}")
    with CaptureQueriesContext(connection) as queries:
        request()
    return {
        "name": label,
        "p50_ms": round(statistics.median(mine), 1),
        "p95_ms": round(percentile(mine, 0.95), 1),
        "queries": len(queries),
        "bare_p95_ms": round(percentile(theirs, 0.95), 1),
        "vs_bare_p95": round(percentile(mine, 0.95) / percentile(theirs, 0.95), 2),
    }


def login(username):
    """A fully logged-in admin session: past the two-factor code step for roles that require it
    (district staff), as the test suite does, so the rows measure the real pages."""
    client = Client()
    user = User.objects.get(username=username)
    client.force_login(user)
    if otp_required(user):
        pass_code_step(client, user)
    return client


def api_client(username):
    token, _ = Token.objects.get_or_create(user=User.objects.get(username=username))
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def request_benchmarks():
    rows = []
    district, community = login("district"), login("community001")
    api = api_client("district")
    street = Area.objects.get(code="370702001")
    category = Category.objects.filter(parent__isnull=False).first()
    sample = Case.objects.order_by("-pk").first()
    admin_list = "/admin/cases/case/"
    for label, query in [
        ("default (waiting for me)", ""),
        ("all", "?view=all"),
        ("status", "?view=all&status__exact=assigned"),
        ("area", f"?view=all&area={street.code}"),
        ("overdue", "?view=all&overdue=yes"),
        ("category", f"?view=all&category__id__exact={category.pk}"),
        ("source", "?view=all&source__exact=resident"),
        ("search number", f"?view=all&q={sample.number}"),
        ("date range", "?view=all&reported_at__gte=2026-01-01"),
    ]:
        rows.append(measure(f"admin list: {label}", lambda q=query: district.get(admin_list + q)))
    rows.append(measure("admin list: community staff default", lambda: community.get(admin_list)))
    rows.append(measure("admin case page", lambda: district.get(f"/admin/cases/case/{sample.pk}/change/")))
    bare = measure("bare ListAPIView", lambda: api.get("/bare/cases/"))

    def bare_list():
        return api.get("/bare/cases/")

    for label, query in [
        ("default", ""),
        ("status", "?status=assigned"),
        ("area", f"?area={street.code}"),
        ("overdue", "?overdue=true"),
        ("category", f"?category={category.pk}"),
        ("source", "?source=resident"),
        ("search number", f"?q={sample.number}"),
        ("waiting", "?waiting=true"),
        ("date range", "?reported_from=2026-01-01&reported_to=2026-12-31"),
    ]:
        rows.append(
            measure_against_bare(f"API list: {label}", lambda q=query: api.get("/api/v1/cases/" + q), bare_list)
        )
    rows.append(bare)
    rows.append(measure("API detail", lambda: api.get(f"/api/v1/cases/{sample.pk}/")))
    rows.append(transition_benchmark())
    rows.append(sweep_benchmark())
    rows.append(measure("dashboard (admin index)", lambda: district.get("/admin/")))
    rows.append(measure("KPI API (district, this month)", lambda: api.get("/api/v1/metrics/kpis/")))
    return rows


def transition_benchmark():
    """assess on fresh reported cases in the district's scope, through the API; rolled back."""
    api = api_client("district")
    times, counts = [], []
    try:
        with transaction.atomic():
            targets = list(Case.objects.filter(status="reported").values_list("pk", flat=True)[: RUNS + 1])
            if len(targets) < 2:
                raise Rollback
            for i, pk in enumerate(targets):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = api.post(f"/api/v1/cases/{pk}/transitions/assess/", {}, content_type="application/json")
                    elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise RuntimeError(f"transition: HTTP {response.status_code} {response.content[:200]}")
                if i:  # the first warms up
                    times.append(elapsed)
                    counts.append(len(queries))
            raise Rollback
    except Rollback:
        pass
    if not times:
        return {"name": "API transition (assess)", "p50_ms": None, "p95_ms": None, "queries": None}
    return {
        "name": "API transition (assess)",
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "queries": max(counts),
    }


def sweep_benchmark():
    """One sweep over the open cases as they are (rolled back, so it repeats)."""
    times, counts, recorded = [], [], None
    for _ in range(3):
        try:
            with transaction.atomic():
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    result = sweep()
                    times.append((time.perf_counter() - started) * 1000)
                counts.append(len(queries))
                recorded = result.recorded
                raise Rollback
        except Rollback:
            pass
    return {
        "name": f"escalation sweep (recorded {sum(recorded.values())})",
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(max(times), 1),
        "queries": max(counts),
    }


def start_gunicorn(port, workers, **extra_env):
    """gunicorn on loopback with ``workers`` workers, once it answers (any HTTP status counts: /healthz/ may
    be 503 without a beat)."""
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1,localhost", "API_THROTTLE_USER": "1000000/min", **extra_env}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "gov_platform.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
        + ["--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    return wait_until_serving(server, port)


def hammer(url, headers, *, seconds, clients):
    """``clients`` threads requesting ``url`` in a loop for ``seconds``: response times (ms) of the 200s, errors,
    elapsed seconds."""
    times, errors, lock = [], [0], threading.Lock()

    def one():
        request = urllib.request.Request(url, headers=headers)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
                response.read()
                good = response.status == 200
        except OSError:
            good = False
        return good, (time.perf_counter() - started) * 1000

    for _ in range(2):
        one()  # warm both workers' connections
    stop = time.monotonic() + seconds

    def client():
        while time.monotonic() < stop:
            good, elapsed = one()
            with lock:
                if good:
                    times.append(elapsed)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors[0], time.monotonic() - started


def concurrent_benchmark(seconds=None, workers=2, clients=8):
    """Eight officials at once through gunicorn (two workers): each target is requested by ``clients`` threads
    in a loop for ``seconds``; p50/p95 of the response times and requests per second."""
    seconds = seconds or float(os.environ.get("BENCH_CONCURRENT_SECONDS", "20"))
    port = 8766
    session = login("district").cookies["sessionid"].value
    token, _ = Token.objects.get_or_create(user=User.objects.get(username="district"))
    targets = [
        ("district dashboard (admin index)", "/admin/", {"Cookie": f"sessionid={session}"}),
        ("KPI API (district, this month)", "/api/v1/metrics/kpis/", {"Authorization": f"Token {token.key}"}),
        ("admin case list (district)", "/admin/cases/case/", {"Cookie": f"sessionid={session}"}),
    ]
    server = start_gunicorn(port, workers)
    rows = []
    try:
        for label, path, headers in targets:
            times, errors, elapsed = hammer(f"http://127.0.0.1:{port}{path}", headers, seconds=seconds, clients=clients)
            rows.append(
                {
                    "name": f"{clients} officials, {workers} workers: {label}",
                    "p50_ms": round(statistics.median(times), 1) if times else None,
                    "p95_ms": round(percentile(times, 0.95), 1) if times else None,
                    "requests_per_second": round(len(times) / elapsed, 2),
                    "errors": errors,
                }
            )
    finally:
        server.terminate()
        server.wait(timeout=20)
    return rows


def grow_to(volume):
    missing = volume - Case.objects.count()
    if missing > 0:
        started = time.monotonic()
        seed_bulk(cases=missing)
        print(f"seeded {missing} cases in {time.monotonic() - started:.0f} s")
    if missing > 0 or not DailyRollup.objects.exists():
        # The seeder writes past the services, so its cases are rolled up here, as after any bulk load.
        started = time.monotonic()
        rows = rollups.rebuild()
        print(f"rebuilt {rows} roll-up rows in {time.monotonic() - started:.0f} s")


def print_table(volume, rows):
    print(f"\n== {volume:,} cases")
    print(f"{'measurement':<48}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}{'vs bare':>9}")
    for row in rows:
        if "requests_per_second" in row:
            print(
                f"{row['name']:<48}{row['p50_ms']!s:>9}{row['p95_ms']!s:>9}{'':>9}{'':>9}  "
                f"{row['requests_per_second']} req/s, errors {row['errors']}"
            )
            continue
        print(
            f"{row['name']:<48}{row['p50_ms']!s:>9}{row['p95_ms']!s:>9}{row['queries']!s:>9}"
            f"{row.get('vs_bare_p95', '')!s:>9}"
        )


def main():
    call_command("migrate", verbosity=0)
    if not Area.objects.exists():
        call_command("seed_demo", verbosity=0)
    RESULTS.mkdir(exist_ok=True)
    for volume in VOLUMES:
        grow_to(volume)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        with override_settings(ROOT_URLCONF="bench_urls", ALLOWED_HOSTS=["*"]):
            rows = request_benchmarks()
        rows += concurrent_benchmark()
        print_table(volume, rows)
        (RESULTS / f"bench-{volume}.json").write_text(json.dumps({"volume": volume, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
