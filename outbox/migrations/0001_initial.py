"""The Notification model moves here from cases, rows and all: the state is taken over, the
table (made by cases' migrations 0003, 0007 and 0009) is left as it is; 0002 renames it.

The content type moves too, so the permissions, their groups and the admin log entries of
the existing rows follow the model instead of being made anew."""

import django.db.models.deletion
import django.db.models.fields.json
import django.db.models.functions.comparison
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import outbox.registry


def move_content_type(apps, schema_editor, source="cases", target="outbox"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    # A database where the target already has one (it cannot, short of a hand-made row) keeps both.
    if not types.filter(app_label=target, model="notification").exists():
        types.filter(app_label=source, model="notification").update(app_label=target)
    ContentType.objects.clear_cache()


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="outbox", target="cases")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("cases", "0010_privacy_officer_group"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Notification",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(choices=outbox.registry.kind_choices, max_length=32, verbose_name="kind")),
                        ("channel", models.CharField(choices=[("email", "Email"), ("sms", "SMS")], default="email", max_length=8, verbose_name="channel")),
                        ("to_address", models.CharField(max_length=254, verbose_name="address")),
                        ("context", models.JSONField(default=dict, verbose_name="content")),
                        ("status", models.CharField(choices=[("pending", "Pending"), ("sending", "Sending"), ("sent", "Sent"), ("failed", "Failed")], default="pending", max_length=8, verbose_name="status")),
                        ("attempts", models.PositiveSmallIntegerField(default=0, verbose_name="attempts")),
                        ("next_attempt_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="next attempt")),
                        ("last_error", models.TextField(blank=True, verbose_name="last error")),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="created at")),
                        ("claimed_at", models.DateTimeField(blank=True, null=True, verbose_name="claimed at")),
                        ("sent_at", models.DateTimeField(blank=True, null=True, verbose_name="sent at")),
                        ("dedupe_key", models.CharField(blank=True, max_length=80, null=True, unique=True, verbose_name="dedupe key")),
                        ("recipient", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="notifications", to=settings.AUTH_USER_MODEL, verbose_name="recipient")),
                    ],
                    options={
                        "verbose_name": "notification",
                        "verbose_name_plural": "notifications",
                        "ordering": ["-id"],
                        "db_table": "cases_notification",
                        "indexes": [
                            models.Index(condition=models.Q(("status", "pending")), fields=["next_attempt_at"], name="notification_pending_idx"),
                            models.Index(django.db.models.functions.comparison.Cast(django.db.models.fields.json.KeyTextTransform("case", "context"), models.BigIntegerField()), condition=models.Q(("recipient__isnull", True), models.Q(("to_address", ""), _negated=True)), name="notification_resident_idx"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
