"""The one Celery app of the platform.

Tasks live in each app's ``tasks.py`` and are found by autodiscovery; the
beat schedule lives in settings (``CELERY_BEAT_SCHEDULE``) so later features
only add entries there.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gov_platform.settings")

app = Celery("gov_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
