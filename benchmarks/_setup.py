"""Django setup for benchmark scripts: they run against DATABASE_URL (PostgreSQL, a database of their own)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def setup():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gov_platform.settings")
    if "postgres" not in os.environ.get("DATABASE_URL", ""):
        sys.exit("Benchmarks run on PostgreSQL: set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/gov_bench")
    import django

    django.setup()


def wait_until_serving(server, port: int):
    """``server`` (a started gunicorn) once it answers on loopback; any HTTP status counts, since /healthz/
    may say 503 about the services around it. Stops it and exits when it never answers."""
    import time
    import urllib.error
    import urllib.request

    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz/", timeout=2)  # noqa: S310 - loopback
            return server
        except urllib.error.HTTPError:
            return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    sys.exit("gunicorn did not start")
