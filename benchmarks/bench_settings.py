"""The platform's settings with the benchmark URLs (bench_urls: the project's plus the bare DRF views), for the
gunicorn a benchmark starts: ``DJANGO_SETTINGS_MODULE=bench_settings gunicorn --pythonpath benchmarks ...``."""

from gov_platform.settings import *  # noqa: F403

ROOT_URLCONF = "bench_urls"
