"""Intake: reports per second through ``POST /api/v1/cases/`` on gunicorn, beside the bare floor.

Run (PostgreSQL and Redis, a database of its own; a fresh one is migrated and seeded with the demo district's
organisation here, and a database seeded before is used as it is):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_bench_intake REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python benchmarks/intake.py

First, in process, the SQL statements of one report through the API (a grid worker's token, an
Idempotency-Key, as the mobile client sends it), one resident report through ``/report/`` and one bare
insert (BENCH_STATEMENTS=1 lists them), and the CPU time this process spends on each (the median of 3
rounds of BENCH_CPU_REQUESTS=50 requests; the database's work not included). Then, for each gunicorn worker class in BENCH_WORKER_CLASSES
("sync,gthread"; BENCH_WORKERS=2 workers, BENCH_THREADS=4 threads for gthread, DEBUG off), BENCH_CLIENTS=16
clients — 16 grid workers, each with their own token, reporting in their own grid — post reports for
BENCH_SECONDS=20 to ``POST /api/v1/cases/`` and as long to a bare DRF CreateAPIView inserting the same row
(``bare/cases/new/`` in bench_urls.py: no rules, clock, number, history, notification or Idempotency-Key),
in alternating slices of BENCH_SLICE_SECONDS=5 so both meet the same machine load. For each: cases/s, p50
and p95 response time, errors (any answer but 201, failed connections), cases stored against 201s, duplicate
numbers, and the load average (1 min, as `uptime` shows it) over its slices. Asserts nothing; writes
benchmarks/results/intake.json.

BENCH_BASELINE=<another checkout of this repository> (e.g. a git worktree of an older commit, on the same
database schema) serves that checkout's code too, on the next port, and measures its ``POST /api/v1/cases/``
in the same alternation: before and after under the same load.
"""

import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import ROOT, setup, wait_until_serving  # noqa: E402

# The API's per-user limit is far above what the timing below sends, as it is for the servers' clients.
os.environ.setdefault("API_THROTTLE_USER", "1000000/min")
setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from accounts.models import Post  # noqa: E402
from accounts.roles import Role  # noqa: E402
from cases.models import Case, Category  # noqa: E402
from grids.models import Area, Tier  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
SLICE = float(os.environ.get("BENCH_SLICE_SECONDS", "5"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
WORKER_CLASSES = os.environ.get("BENCH_WORKER_CLASSES", "sync,gthread").split(",")
PORT = int(os.environ.get("BENCH_PORT", "8767"))
BASELINE = os.environ.get("BENCH_BASELINE", "")
CPU_REQUESTS = int(os.environ.get("BENCH_CPU_REQUESTS", "50"))
CPU_ROUNDS = 3
RUN = uuid.uuid4().hex[:8]
API, BARE = "/api/v1/cases/", "/bare/cases/new/"


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def prepare():
    """Migrate; seed the demo district's organisation (areas, people, categories) if there is none."""
    started = time.monotonic()
    call_command("migrate", verbosity=0)
    if not Area.objects.exists():
        from demo.district import seed_demo

        seed_demo()
        print(f"migrated and seeded the demo district in {time.monotonic() - started:.0f} s")
    category = (
        Category.objects.filter(parent__isnull=False, is_active=True, public=True, requires_mediation=False)
        .order_by("pk")
        .first()
    )
    posts = list(
        Post.objects.filter(role=Role.GRID_WORKER, area__tier=Tier.GRID, user__is_active=True)
        .select_related("user", "area")
        .order_by("user__username")[:CLIENTS]
    )
    if len(posts) < CLIENTS:
        sys.exit(f"{CLIENTS} clients need {CLIENTS} grid workers; the database has {len(posts)}")
    reporters = [(Token.objects.get_or_create(user=p.user)[0].key, p.area) for p in posts]
    return category, reporters


# --- statements, in process --------------------------------------------------------------------------------
def statements(category, reporters):
    """Statements of one API report, one resident report and one bare insert (each after two to warm up)."""
    token, grid = reporters[0]
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    resident = Client()
    sent = [0]

    def body(kind):
        sent[0] += 1
        title = f"intake-bench {RUN} statements {kind} {sent[0]}"
        return {"title": title, "description": "路面破损，影响通行", "category": category.pk, "grid": grid.code}

    def api_report():
        return api.post(API, body("api"), content_type="application/json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    def bare_insert():
        return api.post(BARE, body("bare"), content_type="application/json")

    def resident_report():
        sent[0] += 1
        return resident.post(
            "/report/",
            {
                "category": category.pk,
                "description": f"路灯不亮，晚上看不清路 {RUN}-{sent[0]}",
                "grid": grid.pk,
                "contact_phone": f"139{sent[0] % 100000:05d}{os.getpid() % 1000:03d}",
            },
        )

    limits = {name: (10**9, period) for name, (_limit, period) in _resident_limits().items()}
    rows = []
    with override_settings(ROOT_URLCONF="bench_urls", ALLOWED_HOSTS=["*"], RESIDENT_RATE_LIMITS=limits):
        for label, request, expected in (
            ("API report (POST /api/v1/cases/)", api_report, 201),
            ("resident report (POST /report/)", resident_report, 302),
            ("bare CreateAPIView insert", bare_insert, 201),
        ):
            request(), request()
            with CaptureQueriesContext(connection) as queries:
                response = request()
            if response.status_code != expected:
                sys.exit(f"{label}: HTTP {response.status_code} {response.content[:300]!r}")
            # Kept now: each later request starts a new log of the connection's queries (request_started).
            captured = list(queries.captured_queries)
            rows.append({"name": label, "statements": len(captured), "cpu_ms": cpu_per_request(request, expected)})
            if os.environ.get("BENCH_STATEMENTS") == "1":
                print(f"-- {label}")
                for n, query in enumerate(captured, 1):
                    print(f"{n:4}. {query['sql'][:200]}")
    return rows


def cpu_per_request(request, expected):
    """This process's CPU time per request (the test client's share included, the database's excluded): the
    median of CPU_ROUNDS rounds of CPU_REQUESTS requests, in process, with nothing else competing for it."""
    rounds = []
    for _ in range(CPU_ROUNDS):
        started = time.process_time()
        for _ in range(CPU_REQUESTS):
            if request().status_code != expected:
                sys.exit("a request failed while timing the CPU")
        rounds.append((time.process_time() - started) * 1000 / CPU_REQUESTS)
    return round(statistics.median(rounds), 1)


def _resident_limits():
    from django.conf import settings

    return settings.RESIDENT_RATE_LIMITS


# --- throughput through gunicorn ---------------------------------------------------------------------------
def serve(worker_class, *, root=ROOT, port=PORT, settings_module="bench_settings"):
    command = [sys.executable, "-m", "gunicorn", "gov_platform.wsgi", "--pythonpath", "benchmarks"]
    command += ["-w", str(WORKERS), "-k", worker_class, "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
    if worker_class == "gthread":
        command += ["--threads", str(THREADS)]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Each client is its own grid worker: the per-user limit is far above what one of them sends here.
        "API_THROTTLE_USER": "1000000/min",
    }
    server = subprocess.Popen(command, cwd=root, env=env)
    return wait_until_serving(server, port)


class Reporter:
    """One client: a grid worker posting reports of their grid on a connection of its own (kept open when the
    server allows it: gthread does, a sync worker closes it after each answer)."""

    def __init__(self, index, token, grid, category):
        self.index, self.token, self.grid, self.category = index, token, grid, category
        self.sent = 0
        self.connection = None
        self.port = None

    def post(self, port, path, label):
        self.sent += 1
        body = json.dumps(
            {
                "title": f"intake-bench {RUN} {label} {self.index}-{self.sent}",
                "description": "楼道堆放杂物，堵塞消防通道",
                "category": self.category.pk,
                "grid": self.grid.code,
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Authorization": f"Token {self.token}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        if self.connection is None or self.port != port:
            self.close()
            self.connection, self.port = http.client.HTTPConnection("127.0.0.1", port, timeout=60), port
        started = time.perf_counter()
        try:
            self.connection.request("POST", path, body=body, headers=headers)
            response = self.connection.getresponse()
            content = response.read()
            if response.will_close:
                self.close()
            outcome = response.status if response.status == 201 else f"HTTP {response.status}: {content[:200]!r}"
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            outcome = f"{exc.__class__.__name__}: {exc}"
        return outcome, (time.perf_counter() - started) * 1000

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def one_slice(reporters, target, seconds, tally):
    port, path, label = target["port"], target["path"], target["label"]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client(reporter):
        while time.monotonic() < stop:
            outcome, elapsed = reporter.post(port, path, label)
            with lock:
                if outcome == 201:
                    tally["times"].append(elapsed)
                else:
                    tally["errors"] += 1
                    if len(tally["examples"]) < 5:
                        tally["examples"].append(outcome)
        reporter.close()

    threads = [threading.Thread(target=client, args=(r,)) for r in reporters]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally["seconds"] += time.monotonic() - started
    tally["load"].append(load_average())


def stored(label):
    """Cases this run stored for ``label``: how many, how many without a number, duplicate numbers."""
    cases = Case.objects.filter(title__startswith=f"intake-bench {RUN} {label} ")
    total = cases.count()
    unnumbered = cases.filter(number__isnull=True).count()
    duplicates = cases.filter(number__isnull=False).values("number").annotate(n=Count("pk")).filter(n__gt=1).count()
    return total, unnumbered, duplicates


def throughput(worker_class, category, reporters):
    clients = [Reporter(i, token, grid, category) for i, (token, grid) in enumerate(reporters)]
    targets = [
        {"name": "POST /api/v1/cases/", "port": PORT, "path": API, "label": f"api-{worker_class}"},
        {"name": "bare CreateAPIView", "port": PORT, "path": BARE, "label": f"bare-{worker_class}"},
    ]
    servers = [serve(worker_class)]
    if BASELINE:
        revision = subprocess.run(
            ["git", "-C", BASELINE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        name = f"POST /api/v1/cases/ at {revision or BASELINE}"
        targets.insert(1, {"name": name, "port": PORT + 1, "path": API, "label": f"baseline-{worker_class}"})
        servers.append(serve(worker_class, root=Path(BASELINE), port=PORT + 1, settings_module="gov_platform.settings"))
    for target in targets:
        target["tally"] = {"times": [], "errors": 0, "examples": [], "seconds": 0.0, "load": []}
    try:
        warm = {"times": [], "errors": 0, "examples": [], "seconds": 0.0, "load": []}
        for target in targets:
            one_slice(clients, {**target, "label": f"warm-{worker_class}"}, 2, warm)
        for _ in range(max(1, round(SECONDS / SLICE))):
            for target in targets:
                one_slice(clients, target, SLICE, target["tally"])
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
    rows = []
    for target in targets:
        tally = target["tally"]
        total, unnumbered, duplicates = stored(target["label"])
        rows.append(
            {
                "name": f"{target['name']}, {worker_class}",
                "path": target["path"],
                "worker_class": worker_class,
                "workers": WORKERS,
                "threads": THREADS if worker_class == "gthread" else 1,
                "clients": CLIENTS,
                "cases_per_second": round(len(tally["times"]) / tally["seconds"], 1),
                "responses_201": len(tally["times"]),
                "cases_stored": total,
                "p50_ms": round(statistics.median(tally["times"]), 1) if tally["times"] else None,
                "p95_ms": round(percentile(tally["times"], 0.95), 1) if tally["times"] else None,
                "errors": tally["errors"],
                "error_examples": tally["examples"],
                "without_number": unnumbered,
                "duplicate_numbers": duplicates,
                "seconds": round(tally["seconds"], 1),
                "load_average": [min(tally["load"]), max(tally["load"])],
            }
        )
    return rows


def main():
    category, reporters = prepare()
    print(f"run {RUN}: load average {load_average()} before; {os.cpu_count()} cores")
    counted = statements(category, reporters)
    for row in counted:
        print(f"{row['name']:<44}{row['statements']:>4} statements{row['cpu_ms']:>8} ms CPU in process")
    rows = []
    for worker_class in WORKER_CLASSES:
        rows += throughput(worker_class, category, reporters)
    width = max(len(row["name"]) for row in rows) + 5
    print(
        f"\n{'intake through gunicorn':<{width}}{'cases/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}"
        f"{'stored/201':>13}{'dup. nos':>10}  load average (1 min)"
    )
    for row in rows:
        threads = f" ×{row['threads']}" if row["threads"] > 1 else ""
        numbered = row["path"] == API  # the bare insert gives no number
        print(
            f"{row['name'] + threads:<{width}}{row['cases_per_second']:>9}{row['p50_ms']!s:>9}{row['p95_ms']!s:>9}"
            f"{row['errors']:>8}{row['cases_stored']:>7}/{row['responses_201']:<5}"
            f"{row['duplicate_numbers'] if numbered else '-'!s:>10}  {row['load_average'][0]}–{row['load_average'][1]}"
        )
        for example in row["error_examples"]:
            print("    e.g.", example)
        if numbered and row["without_number"]:
            print(f"    {row['without_number']} cases without a number")
    print(f"({WORKERS} workers, {CLIENTS} clients, {SECONDS:.0f} s each in {SLICE:.0f}-s slices alternating)")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "intake.json").write_text(
        json.dumps({"run": RUN, "statements": counted, "rows": rows}, indent=2, ensure_ascii=False)
    )


if __name__ == "__main__":
    main()
