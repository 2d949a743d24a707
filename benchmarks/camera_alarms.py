"""A burst of video alarms through gunicorn: alarms per second, cases filed, occurrences, duplicates, errors.

Run (PostgreSQL and Redis; the database named in DATABASE_URL is dropped and made afresh, unless
BENCH_REUSE_DB=1 keeps one this script seeded before and only removes the last run's alarms and cases):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_bench_cameras REDIS_URL=redis://127.0.0.1:6379/4 \
        .venv/bin/python benchmarks/camera_alarms.py

The demo district is seeded (its 17,000 cameras and five event types, no sample cases), a video platform
is registered as an external system, and gunicorn serves the platform. Then CLIENTS threads post ALARMS
alarms from CAMERAS cameras to POST /api/v1/intake/, in shuffled order so that alarms of one camera
arrive at once on different connections: each camera reports two of the event types, its alarms all
within a few minutes, so each (camera, category) pair must file exactly one case and every further
alarm is an occurrence of it. "duplicates" counts cases beyond one per pair (must be 0); "errors" the
responses other than 201/200 and failed connections (must be 0).
"""

import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
ALARMS = int(os.environ.get("BENCH_ALARMS", "10000"))
CAMERAS = int(os.environ.get("BENCH_CAMERAS", "2000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "16"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
PORT = int(os.environ.get("BENCH_PORT", "8104"))
# Keep a database this script seeded before: its cameras stay, the alarms and video cases of the last run go.
REUSE = os.environ.get("BENCH_REUSE_DB") == "1"


def fresh_database():
    """Drop and create the database DATABASE_URL names (it must be a benchmark's own)."""
    import psycopg

    url = urlparse(os.environ.get("DATABASE_URL", ""))
    if url.scheme not in ("postgres", "postgresql"):
        sys.exit("Run on PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_bench_cameras")
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


if not REUSE:
    fresh_database()
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import setup, wait_until_serving  # noqa: E402

setup()

from django.core.management import call_command  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.utils import timezone  # noqa: E402

from cases import external  # noqa: E402
from cases.models import CameraAlarm, Case, Category, EventType, ExternalSystem, Source  # noqa: E402
from demo.district import seed_demo  # noqa: E402
from grids.models import Area, Camera  # noqa: E402


def prepare():
    started = time.monotonic()
    call_command("migrate", verbosity=0)
    system = ExternalSystem.objects.filter(code="video").first()
    if REUSE and system is not None and Camera.objects.exists():
        CameraAlarm.objects.all().delete()
        Case.objects.filter(source=Source.VIDEO).delete()
        print(f"kept the seeded district, removed the last run's alarms in {time.monotonic() - started:.0f} s")
        return external.rotate_key(actor=None, system=system)
    seed_demo()
    print(f"migrated and seeded the demo district in {time.monotonic() - started:.0f} s")
    system = ExternalSystem(name="视频监控平台", code="video", sources=[Source.VIDEO])
    key = external.register_system(
        actor=None,
        system=system,
        areas=[Area.objects.get(parent__isnull=True)],
        categories=list(Category.objects.filter(parent__isnull=True)),
    )
    return key


def alarms():
    """(external_id, camera, event type, occurred_at) in shuffled order: CAMERAS cameras, two event types each."""
    rng = random.Random(2026)
    codes = list(Camera.objects.filter(status="online").order_by("code").values_list("code", flat=True)[:CAMERAS])
    kinds = list(EventType.objects.order_by("code").values_list("code", flat=True))
    start = timezone.now() - timedelta(minutes=15)
    burst = []
    for n in range(ALARMS):
        i = n % len(codes)
        kind = kinds[(i + (n // len(codes)) % 2) % len(kinds)]
        at = start + timedelta(seconds=rng.randrange(600))
        burst.append((f"BENCH-{n:06d}", codes[i], kind, at.isoformat()))
    rng.shuffle(burst)
    return burst


def serve():
    env = {
        **os.environ,
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "API_THROTTLE_INTAKE": "10000000/min",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "gov_platform.wsgi",
            "-w",
            str(WORKERS),
            "-b",
            f"127.0.0.1:{PORT}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    return wait_until_serving(server, PORT)


def burst(key, items):
    work = queue.Queue()
    for item in items:
        work.put(item)
    counts = {"201": 0, "200": 0, "errors": 0}
    first_errors, lock = [], threading.Lock()

    def client():
        while True:
            try:
                external_id, camera, kind, at = work.get_nowait()
            except queue.Empty:
                return
            body = json.dumps({"external_id": external_id, "camera": camera, "event_type": kind, "occurred_at": at})
            request = urllib.request.Request(
                f"http://127.0.0.1:{PORT}/api/v1/intake/",
                data=body.encode(),
                method="POST",
                headers={"Authorization": f"System {key}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
                    outcome = str(response.status)
            except urllib.error.HTTPError as exc:
                outcome = f"HTTP {exc.code}: {exc.read()[:200]!r}"
            except OSError as exc:
                outcome = f"{exc.__class__.__name__}: {exc}"
            with lock:
                if outcome in counts:
                    counts[outcome] += 1
                else:
                    counts["errors"] += 1
                    if len(first_errors) < 5:
                        first_errors.append(outcome)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts, first_errors, time.monotonic() - started


def main():
    key = prepare()
    items = alarms()
    pairs = len({(camera, kind) for _id, camera, kind, _at in items})
    server = serve()
    try:
        counts, first_errors, elapsed = burst(key, items)
    finally:
        server.terminate()
        server.wait(timeout=30)
    cases = Case.objects.filter(source=Source.VIDEO).count()
    per_pair = (
        CameraAlarm.objects.filter(opened_case=True)
        .values("camera", "category")
        .annotate(n=Count("case", distinct=True))
        .filter(n__gt=1)
    )
    result = {
        "name": f"camera alarms via gunicorn ({WORKERS} workers, {CLIENTS} clients)",
        "alarms_sent": len(items),
        "cameras": CAMERAS,
        "alarms_per_second": round(len(items) / elapsed, 1),
        "seconds": round(elapsed, 1),
        "responses_201": counts["201"],
        "responses_200": counts["200"],
        "cases_created": cases,
        "cases_expected": pairs,
        "alarms_stored": CameraAlarm.objects.count(),
        "occurrences": CameraAlarm.objects.filter(opened_case=False).count(),
        "duplicates": sum(row["n"] - 1 for row in per_pair),
        "errors": counts["errors"],
    }
    for name, value in result.items():
        print(f"{name:>16}: {value}")
    for error in first_errors:
        print("  e.g.", error)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "camera-alarms.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
