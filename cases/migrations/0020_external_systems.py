"""External systems as clients of the intake: the system, its refused calls, callback signatures seen,
and the (system, external id) a case was filed under; district staff get the new permissions."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def role_permissions(apps, schema_editor):
    from accounts.roles import apply_role_permissions

    apply_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0019_case_kpi_clock_counters"),
        ("grids", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ExternalSystem",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True, verbose_name="name")),
                (
                    "code",
                    models.SlugField(
                        help_text="Short Latin name, used in its service account.",
                        max_length=32,
                        unique=True,
                        verbose_name="code",
                    ),
                ),
                ("is_active", models.BooleanField(default=True, verbose_name="in use")),
                ("sources", models.JSONField(blank=True, default=list, verbose_name="sources it may use")),
                (
                    "key_prefix",
                    models.CharField(blank=True, editable=False, max_length=12, verbose_name="key starts with"),
                ),
                ("key_hash", models.CharField(editable=False, max_length=64, null=True, unique=True)),
                (
                    "key_issued_at",
                    models.DateTimeField(blank=True, editable=False, null=True, verbose_name="key issued at"),
                ),
                (
                    "webhook_url",
                    models.URLField(
                        blank=True,
                        help_text="Public state changes of the cases it filed are posted here, signed with the secret.",
                        verbose_name="webhook URL",
                    ),
                ),
                (
                    "webhook_secret",
                    models.CharField(blank=True, editable=False, max_length=128, verbose_name="webhook secret"),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                (
                    "areas",
                    models.ManyToManyField(
                        help_text="A case may land in a grid inside one of these areas.",
                        limit_choices_to={"tier__in": ["district", "street", "community", "grid"]},
                        related_name="external_systems",
                        to="grids.area",
                        verbose_name="areas it may file in",
                    ),
                ),
                (
                    "categories",
                    models.ManyToManyField(
                        help_text="A main category covers all its subcategories.",
                        related_name="external_systems",
                        to="cases.category",
                        verbose_name="categories it may file",
                    ),
                ),
                (
                    "service_user",
                    models.OneToOneField(
                        editable=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="external_system",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="service account",
                    ),
                ),
            ],
            options={
                "verbose_name": "external system",
                "verbose_name_plural": "external systems",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="IntakeRefusal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name="time"),
                ),
                ("endpoint", models.CharField(max_length=100, verbose_name="endpoint")),
                ("status_code", models.PositiveSmallIntegerField(verbose_name="HTTP status")),
                ("field", models.CharField(blank=True, max_length=50, verbose_name="input field")),
                ("reason", models.CharField(max_length=500, verbose_name="reason")),
                ("external_id", models.CharField(blank=True, max_length=64, verbose_name="external ID")),
                ("ip_address", models.GenericIPAddressField(blank=True, null=True, verbose_name="IP address")),
                (
                    "system",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="refusals",
                        to="cases.externalsystem",
                        verbose_name="external system",
                    ),
                ),
            ],
            options={
                "verbose_name": "refused intake call",
                "verbose_name_plural": "refused intake calls",
                "ordering": ["-at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="CallbackSignature",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("signature", models.CharField(max_length=64)),
                ("at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                (
                    "system",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="cases.externalsystem"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("system", "signature"), name="callback_signature_once")
                ],
            },
        ),
        migrations.AddField(
            model_name="case",
            name="external_system",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="cases",
                to="cases.externalsystem",
                verbose_name="external system",
            ),
        ),
        migrations.AddField(
            model_name="case",
            name="external_id",
            field=models.CharField(blank=True, default="", editable=False, max_length=64, verbose_name="external ID"),
        ),
        migrations.AddConstraint(
            model_name="case",
            constraint=models.UniqueConstraint(
                condition=models.Q(("external_system__isnull", False)),
                fields=("external_system", "external_id"),
                name="case_external_id_per_system",
            ),
        ),
        migrations.RunPython(role_permissions, migrations.RunPython.noop),
    ]
