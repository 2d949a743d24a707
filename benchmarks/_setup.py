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
