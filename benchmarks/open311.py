"""Open311 GeoReport v2 reads (cases/open311) in process through Django's full request stack: p50/p95
server time, query count and size of the services list and of requests pages (100 and 1,000, JSON and
XML) over whatever cases the database holds (a seeded demo: `manage.py seed_demo`).

Run: VAR_DIR=<a seeded demo's VAR_DIR> .venv/bin/python benchmarks/open311.py   (or DATABASE_URL=...)
Reports numbers, asserts nothing. Throttling is given a private cache and a rate that never refuses.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gov_platform.settings")

import django  # noqa: E402

django.setup()

from django.core.cache.backends.locmem import LocMemCache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle  # noqa: E402

from cases.models import Case  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
PATHS = [
    "services.json",
    "services.xml",
    "requests.json",
    "requests.xml",
    "requests.json?status=open",
    "requests.json?page_size=1000",
    "requests.xml?page_size=1000",
]


def main():
    SimpleRateThrottle.cache = LocMemCache("open311-bench", {})
    AnonRateThrottle.rate = "1000000/min"
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.get("/open311/v2/requests.json")  # warm: content types, translations, the first connection
    print(f"{Case.objects.count()} cases; {RUNS} runs each")
    print(f"{'GET /open311/v2/…':34} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'bytes':>9}")
    for path in PATHS:
        times = []
        for _ in range(RUNS):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get("/open311/v2/" + path)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        print(
            f"{path:34} {statistics.median(times):8.0f} {p95:8.0f} {len(queries.captured_queries):8d} "
            f"{len(response.content):9d}"
        )


if __name__ == "__main__":
    main()
