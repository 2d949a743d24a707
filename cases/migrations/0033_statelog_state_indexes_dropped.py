"""django-fsm-log indexes each step's state and source state, twice on PostgreSQL (plain and for LIKE). Nothing
here reads the history by state: the case page, the public timeline and Open311 read it by case
(content type, object id). Each step wrote four index entries for nothing, and at a million cases they took
148 MB of the 956 MB history. The model's state is django-fsm-log's and is left as it is; should a later
django-fsm-log migration alter those columns, it recreates the indexes, which costs writes, not answers."""

from django.db import migrations

TABLE = "django_fsm_log_statelog"
# name -> (column, PostgreSQL only)
INDEXES = {
    "django_fsm_log_statelog_state_7a86232b": ("state", False),
    "django_fsm_log_statelog_state_7a86232b_like": ("state", True),
    "django_fsm_log_statelog_source_state_07608825": ("source_state", False),
    "django_fsm_log_statelog_source_state_07608825_like": ("source_state", True),
}


def drop(apps, schema_editor):
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def restore(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    for name, (column, pattern_ops) in INDEXES.items():
        if pattern_ops and not postgresql:
            continue
        opclass = " varchar_pattern_ops" if pattern_ops else ""
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "{TABLE}" ("{column}"{opclass})')


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0032_case_indexes_written_less"),
        ("django_fsm_log", "0004_auto_20190131_0341"),
    ]

    operations = [migrations.RunPython(drop, restore)]
