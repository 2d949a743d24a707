"""The outbox's table takes the app's name: cases_notification → outbox_notification.

A rename, not a copy: no row moves, and on PostgreSQL it only changes the catalogue.
The constraints, indexes and the id sequence named after the old table are renamed
with it (PostgreSQL), so an error or a plan names the table the model uses; the
explicitly named indexes (notification_pending_idx, notification_resident_idx) keep their names."""

from django.db import migrations

OLD, NEW = "cases_notification", "outbox_notification"


def rename_derived_names(schema_editor, table, old_prefix, new_prefix):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return  # SQLite cannot rename an index; the names there are for no one's eyes.
    quote = schema_editor.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND conname LIKE %s",
            [table, old_prefix + "%"],
        )
        for (name,) in cursor.fetchall():
            new = new_prefix + name[len(old_prefix) :]
            cursor.execute(f"ALTER TABLE {quote(table)} RENAME CONSTRAINT {quote(name)} TO {quote(new[:63])}")
        cursor.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = %s::regclass AND i.relname LIKE %s",
            [table, old_prefix + "%"],
        )
        for (name,) in cursor.fetchall():
            new = new_prefix + name[len(old_prefix) :]
            cursor.execute(f"ALTER INDEX {quote(name)} RENAME TO {quote(new[:63])}")
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        (sequence,) = cursor.fetchone()
        if sequence and sequence.split(".")[-1].strip('"').startswith(old_prefix):
            name = sequence.split(".")[-1].strip('"')
            cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {quote(new_prefix + name[len(old_prefix) :])}")


def forwards(apps, schema_editor):
    rename_derived_names(schema_editor, NEW, OLD, NEW)


def backwards(apps, schema_editor):
    # Runs before the table gets its old name back.
    rename_derived_names(schema_editor, NEW, NEW, OLD)


class Migration(migrations.Migration):
    dependencies = [("outbox", "0001_initial"), ("cases", "0011_notification_moved_to_outbox")]

    operations = [
        migrations.AlterModelTable(name="notification", table=None),
        migrations.RunPython(forwards, backwards),
    ]
