"""The responsibility list says which entries residents may report on the public form."""

from django.db import migrations, models

# Entries only officials file: people under care or supervision, and leads that need discretion.
OFFICIAL_ONLY = ["0701", "0702", "0801", "0802", "0902", "1301"]


def officials_only(apps, schema_editor):
    Category = apps.get_model("cases", "Category")
    Category.objects.filter(code__in=OFFICIAL_ONLY).update(public=False)
    Category.objects.filter(parent__isnull=True, code__in=["07", "08", "13"]).update(public=False)


class Migration(migrations.Migration):
    dependencies = [("cases", "0012_escalation_stage_choices_category_group")]

    operations = [
        migrations.AddField(
            model_name="category",
            name="public",
            field=models.BooleanField(
                default=True,
                help_text=(
                    "Offered on the public report form. Untick entries only officials file, such as community "
                    "correction or people under care."
                ),
                verbose_name="residents may report it",
            ),
        ),
        migrations.RunPython(officials_only, migrations.RunPython.noop),
    ]
