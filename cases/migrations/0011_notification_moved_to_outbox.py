"""Notification now belongs to the outbox app (outbox 0001 takes over the same table): state only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("cases", "0010_privacy_officer_group"), ("outbox", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="Notification")]),
    ]
