import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import cases.models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0020_external_systems"),
        ("grids", "0002_linked_households"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Visit",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[("patrol", "Patrol"), ("household", "Household visit")],
                        max_length=16,
                        verbose_name="kind",
                    ),
                ),
                ("area_path", models.CharField(editable=False, max_length=255, verbose_name="area path")),
                ("address", models.CharField(blank=True, max_length=200, verbose_name="address")),
                ("started_at", models.DateTimeField(verbose_name="started at")),
                ("ended_at", models.DateTimeField(verbose_name="ended at")),
                (
                    "start_latitude",
                    models.DecimalField(
                        blank=True, decimal_places=6, max_digits=9, null=True, verbose_name="start latitude"
                    ),
                ),
                (
                    "start_longitude",
                    models.DecimalField(
                        blank=True, decimal_places=6, max_digits=9, null=True, verbose_name="start longitude"
                    ),
                ),
                (
                    "end_latitude",
                    models.DecimalField(
                        blank=True, decimal_places=6, max_digits=9, null=True, verbose_name="end latitude"
                    ),
                ),
                (
                    "end_longitude",
                    models.DecimalField(
                        blank=True, decimal_places=6, max_digits=9, null=True, verbose_name="end longitude"
                    ),
                ),
                (
                    "households",
                    models.PositiveSmallIntegerField(
                        default=0,
                        help_text="Household visit: households visited; patrol: places checked.",
                        verbose_name="households or places visited",
                    ),
                ),
                (
                    "people_met",
                    models.PositiveSmallIntegerField(
                        default=0, help_text="A count, no names.", verbose_name="people met"
                    ),
                ),
                ("findings", models.TextField(blank=True, max_length=5000, verbose_name="findings")),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="recorded at"),
                ),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "building",
                    models.ForeignKey(
                        blank=True,
                        limit_choices_to={"tier": "building"},
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="grids.area",
                        verbose_name="building / alley",
                    ),
                ),
                (
                    "grid",
                    models.ForeignKey(
                        limit_choices_to={"tier": "grid"},
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="visits",
                        to="grids.area",
                        verbose_name="grid",
                    ),
                ),
                (
                    "party_household",
                    models.ForeignKey(
                        blank=True,
                        help_text="When the visit was made by a party-member household: it counts for the household.",
                        limit_choices_to={"kind": "member_household"},
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="visits",
                        to="grids.partyorganization",
                        verbose_name="party-member household",
                    ),
                ),
                (
                    "recorded_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="visits",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="recorded by",
                    ),
                ),
            ],
            options={
                "verbose_name": "patrol or visit",
                "verbose_name_plural": "patrols and visits",
                "ordering": ["-started_at", "-id"],
            },
        ),
        migrations.AddField(
            model_name="case",
            name="visit",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="cases",
                to="cases.visit",
                verbose_name="patrol or visit",
            ),
        ),
        migrations.CreateModel(
            name="VisitPhoto",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("image", models.ImageField(upload_to=cases.models.visit_photo_path, verbose_name="photo")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="uploaded at")),
                (
                    "uploaded_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="uploaded by",
                    ),
                ),
                (
                    "visit",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="photos",
                        to="cases.visit",
                        verbose_name="patrol or visit",
                    ),
                ),
            ],
            options={
                "verbose_name": "visit photo",
                "verbose_name_plural": "visit photos",
                "ordering": ["created_at", "id"],
            },
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(fields=["area_path", "started_at"], name="visit_path_started_idx"),
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(fields=["recorded_by", "started_at"], name="visit_worker_started_idx"),
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(fields=["party_household", "started_at"], name="visit_party_started_idx"),
        ),
        migrations.AddConstraint(
            model_name="visit",
            constraint=models.CheckConstraint(
                condition=models.Q(("ended_at__gte", models.F("started_at"))), name="visit_ends_after_start"
            ),
        ),
    ]
