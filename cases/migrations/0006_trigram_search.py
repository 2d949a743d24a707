"""Trigram indexes for searching titles and addresses on PostgreSQL (other databases: nothing to do).

Django's icontains compares UPPER(column), so the indexes are on that expression.
Creating the extension needs a privileged role; without it the search still
works, only slower, and the migration says so instead of failing.
"""

import logging

from django.db import migrations

logger = logging.getLogger(__name__)

INDEXES = {
    "case_title_trgm_idx": 'UPPER("title"::text) gin_trgm_ops',
    "case_address_trgm_idx": 'UPPER("address"::text) gin_trgm_ops',
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        try:
            cursor.execute("SAVEPOINT trgm")
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cursor.execute("RELEASE SAVEPOINT trgm")
        except Exception as exc:  # no privilege: search stays correct, just unindexed
            cursor.execute("ROLLBACK TO SAVEPOINT trgm")
            logger.warning("pg_trgm not available (%s); case search will scan.", exc)
            return
        for name, expression in INDEXES.items():
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON cases_case USING gin ({expression})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("cases", "0005_case_deadline_state_from_clock")]

    operations = [migrations.RunPython(create, drop)]
