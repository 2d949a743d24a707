import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("grids", "0002_linked_households")]

    operations = [
        migrations.CreateModel(
            name="Camera",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "code",
                    models.CharField(
                        help_text="The code the video platform uses for this camera in its alarms.",
                        max_length=64,
                        unique=True,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[A-Za-z0-9][A-Za-z0-9_.:-]*$", "A camera code is letters, digits and _ . : - only."
                            )
                        ],
                        verbose_name="camera code",
                    ),
                ),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                ("latitude", models.DecimalField(decimal_places=6, max_digits=9, verbose_name="latitude")),
                ("longitude", models.DecimalField(decimal_places=6, max_digits=9, verbose_name="longitude")),
                (
                    "status",
                    models.CharField(
                        choices=[("online", "Online"), ("offline", "Offline"), ("retired", "Retired")],
                        db_index=True,
                        default="online",
                        max_length=8,
                        verbose_name="status",
                    ),
                ),
                ("installed_at", models.DateField(blank=True, null=True, verbose_name="installed on")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "grid",
                    models.ForeignKey(
                        limit_choices_to={"tier": "grid"},
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="cameras",
                        to="grids.area",
                        verbose_name="grid",
                    ),
                ),
            ],
            options={"verbose_name": "camera", "verbose_name_plural": "cameras", "ordering": ["code"]},
        ),
    ]
