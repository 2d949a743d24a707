"""PostgreSQL connections bind parameters on the server and prepare the statements they run again."""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

from cases.models import Category

ROOT = Path(__file__).resolve().parents[2]
PRINT_OPTIONS = "import django; django.setup(); from django.conf import settings as s; print(__import__('json').dumps(s.DATABASES['default'].get('OPTIONS', {})))"


def database_options(**env):
    """The default database's OPTIONS as the settings make them from this environment (and no DATABASE_* else)."""
    result = subprocess.run(
        [sys.executable, "-c", PRINT_OPTIONS],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")},
            "DJANGO_SETTINGS_MODULE": "gov_platform.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_postgresql_binds_on_the_server_and_prepares_by_default():
    options = database_options(DATABASE_URL="postgres://u@db.example:5432/gov")
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == 5


def test_behind_a_transaction_pooler_preparing_is_turned_off():
    options = database_options(DATABASE_URL="postgres://u@db.example:5432/gov", DATABASE_PREPARE_THRESHOLD="0")
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] is None
    options = database_options(DATABASE_URL="postgres://u@db.example:5432/gov", DATABASE_SERVER_SIDE_BINDING="0")
    assert options["server_side_binding"] is False
    assert "prepare_threshold" not in options


def test_the_embedded_database_has_neither():
    options = database_options(DATABASE_URL="sqlite:////tmp/never-opened.sqlite3")
    assert "server_side_binding" not in options and "prepare_threshold" not in options


def test_a_statement_run_again_is_prepared_once_with_its_values_sent_apart(postgres):
    for code in ["a'b", "x", "y", "z", "w", "v", "u"]:
        # A value with a quote reaches the server as a parameter, not as text spliced into the statement.
        assert list(Category.objects.filter(code=code).values_list("default_tier", "code", "pk")) == []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%"default_tier" AS "default_tier", "cases_category"."code"%'],
        )
        prepared = [row[0] for row in cursor.fetchall()]
    assert len(prepared) == 1
    assert "$1" in prepared[0] and "a'b" not in prepared[0]
