"""Roll-up columns for the moved-clock and assisting-task KPIs; every rolled day is marked for the next refresh."""

from django.db import migrations, models


def mark_every_day(apps, schema_editor):
    DailyRollup = apps.get_model("metrics", "DailyRollup")
    DirtyBucket = apps.get_model("metrics", "DirtyBucket")
    days = DailyRollup.objects.order_by().values_list("day", flat=True).distinct()
    # "" is metrics.rollups.WHOLE_DAY: the refresh recomputes the day's every grid with the new columns.
    DirtyBucket.objects.bulk_create([DirtyBucket(day=day, area_path="") for day in days], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("metrics", "0003_daily_rollups"), ("cases", "0019_case_kpi_clock_counters")]

    operations = [
        migrations.AddField(model_name="dailyrollup", name=name, field=models.PositiveIntegerField(default=0))
        for name in ["extended", "suspended", "on_time_original", "assists_done", "assists_on_time"]
    ] + [migrations.RunPython(mark_every_day, migrations.RunPython.noop)]
