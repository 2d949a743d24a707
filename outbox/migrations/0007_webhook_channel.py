"""Webhooks are an outbox channel (outbox/backends/webhook.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("outbox", "0006_case_index")]

    operations = [
        migrations.AlterField(
            model_name="notification",
            name="channel",
            field=models.CharField(
                choices=[("email", "Email"), ("sms", "SMS"), ("inapp", "In-app"), ("webhook", "Webhook")],
                default="email",
                max_length=8,
                verbose_name="channel",
            ),
        ),
    ]
