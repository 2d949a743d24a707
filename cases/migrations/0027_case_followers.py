"""Followers (关注) of a case: residents told of a case they did not report (cases/followers.py)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("cases", "0026_role_permissions_cameras")]

    operations = [
        migrations.CreateModel(
            name="CaseFollower",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(blank=True, max_length=50, verbose_name="contact name")),
                ("phone", models.CharField(blank=True, max_length=20, verbose_name="contact phone")),
                ("email", models.EmailField(blank=True, max_length=254, verbose_name="contact email")),
                ("contact_key", models.CharField(editable=False, max_length=64)),
                (
                    "via",
                    models.CharField(
                        choices=[
                            ("follow", "Followed it instead of reporting"),
                            ("merge", "Their report was merged into it"),
                        ],
                        default="follow",
                        max_length=8,
                        verbose_name="how",
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="since")),
                (
                    "invited_for",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="invited to rate the round of"
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="followers",
                        to="cases.case",
                        verbose_name="case",
                    ),
                ),
                (
                    "merged_from",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="cases.case",
                        verbose_name="merged from",
                    ),
                ),
            ],
            options={
                "verbose_name": "follower",
                "verbose_name_plural": "followers",
                "constraints": [models.UniqueConstraint(fields=("case", "contact_key"), name="case_follower_once")],
            },
        ),
    ]
