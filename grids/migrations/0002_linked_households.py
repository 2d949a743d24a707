import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("grids", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="LinkedHousehold",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "address",
                    models.CharField(
                        blank=True, help_text="E.g. unit 2, room 301.", max_length=100, verbose_name="address"
                    ),
                ),
                (
                    "households",
                    models.PositiveSmallIntegerField(
                        default=1, help_text="How many households this row stands for.", verbose_name="households"
                    ),
                ),
                (
                    "building",
                    models.ForeignKey(
                        limit_choices_to={"tier": "building"},
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="grids.area",
                        verbose_name="building / alley",
                    ),
                ),
                (
                    "party_household",
                    models.ForeignKey(
                        limit_choices_to={"kind": "member_household"},
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="linked_households",
                        to="grids.partyorganization",
                        verbose_name="party-member household",
                    ),
                ),
            ],
            options={
                "verbose_name": "household looked after",
                "verbose_name_plural": "households looked after",
                "ordering": ["party_household", "building", "address", "id"],
            },
        ),
    ]
