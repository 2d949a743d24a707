from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0006_appraisal_decisions_and_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="metricssettings",
            name="community_staff_household_quota",
            field=models.PositiveSmallIntegerField(
                default=20, verbose_name="community staff: households visited a month"
            ),
        ),
        migrations.AddField(
            model_name="metricssettings",
            name="community_staff_patrol_quota",
            field=models.PositiveSmallIntegerField(default=4, verbose_name="community staff: patrols a month"),
        ),
        migrations.AddField(
            model_name="metricssettings",
            name="grid_worker_household_quota",
            field=models.PositiveSmallIntegerField(default=80, verbose_name="grid worker: households visited a month"),
        ),
        migrations.AddField(
            model_name="metricssettings",
            name="grid_worker_patrol_quota",
            field=models.PositiveSmallIntegerField(default=20, verbose_name="grid worker: patrols a month"),
        ),
        migrations.AddField(
            model_name="metricssettings",
            name="street_leader_household_quota",
            field=models.PositiveSmallIntegerField(
                default=10, verbose_name="street leader: households visited a month"
            ),
        ),
        migrations.AddField(
            model_name="metricssettings",
            name="street_leader_patrol_quota",
            field=models.PositiveSmallIntegerField(default=4, verbose_name="street leader: patrols a month"),
        ),
    ]
