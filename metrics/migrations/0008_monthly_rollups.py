"""Monthly roll-ups by community, category and handling department; built by the next refresh from the daily rows."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("grids", "0001_initial"),
        ("metrics", "0007_visit_quotas"),
    ]

    operations = [
        migrations.AddField(
            model_name="rollupstate",
            name="months_through",
            field=models.DateField(null=True),
        ),
        migrations.CreateModel(
            name="MonthlyRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField(verbose_name="month reported")),
                ("area_path", models.CharField(max_length=255, verbose_name="area path")),
                ("reported", models.PositiveIntegerField(default=0)),
                ("accepted", models.PositiveIntegerField(default=0)),
                ("closed", models.PositiveIntegerField(default=0)),
                ("handled", models.PositiveIntegerField(default=0)),
                ("on_time", models.PositiveIntegerField(default=0)),
                ("reworked", models.PositiveIntegerField(default=0)),
                ("send_backs", models.PositiveIntegerField(default=0)),
                ("assignments", models.PositiveIntegerField(default=0)),
                ("rated", models.PositiveIntegerField(default=0)),
                ("satisfied", models.PositiveIntegerField(default=0)),
                ("unrated", models.PositiveIntegerField(default=0)),
                ("extended", models.PositiveIntegerField(default=0)),
                ("suspended", models.PositiveIntegerField(default=0)),
                ("on_time_original", models.PositiveIntegerField(default=0)),
                ("assists_done", models.PositiveIntegerField(default=0)),
                ("assists_on_time", models.PositiveIntegerField(default=0)),
                ("handle_us_sum", models.BigIntegerField(default=0)),
                ("handle_us", models.JSONField(default=list)),
                (
                    "category",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="cases.category",
                    ),
                ),
                (
                    "handling_department",
                    models.ForeignKey(
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="grids.department",
                    ),
                ),
            ],
            options={
                "verbose_name": "monthly roll-up",
                "verbose_name_plural": "monthly roll-ups",
                "indexes": [
                    models.Index(fields=["month", "area_path"], name="metrics_monthly_month_path"),
                    models.Index(fields=["handling_department", "month"], name="metrics_monthly_dept_month"),
                ],
            },
        ),
    ]
