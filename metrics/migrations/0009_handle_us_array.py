"""The roll-ups' kept working times become ``bigint[]`` on PostgreSQL (metrics.fields.MicrosecondsField).

On SQLite the column stays the same JSON text. On PostgreSQL a JSON list of whole numbers reads as an
array literal once its brackets are braces: ``[1, 2]`` -> ``{1, 2}``."""

from django.db import migrations

import metrics.fields

TABLES = ["metrics_dailyrollup", "metrics_monthlyrollup"]


def to_arrays(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"ALTER TABLE {table} ALTER COLUMN handle_us TYPE bigint[] "  # noqa: S608 - constant names
            "USING translate(handle_us::text, '[]', '{}')::bigint[]"
        )


def to_json(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"ALTER TABLE {table} ALTER COLUMN handle_us TYPE jsonb USING array_to_json(handle_us)::jsonb"  # noqa: S608
        )


class Migration(migrations.Migration):
    dependencies = [("metrics", "0008_monthly_rollups")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(to_arrays, to_json)],
            state_operations=[
                migrations.AlterField(
                    model_name="dailyrollup", name="handle_us", field=metrics.fields.MicrosecondsField()
                ),
                migrations.AlterField(
                    model_name="monthlyrollup", name="handle_us", field=metrics.fields.MicrosecondsField()
                ),
            ],
        )
    ]
