"""Seed the work calendar from chinese-calendar and give the role groups the case permissions."""

from django.db import migrations


def seed_calendar(apps, schema_editor):
    from cases.workcalendar_seed import calendar_entries

    WorkCalendarDay = apps.get_model("cases", "WorkCalendarDay")
    existing = set(WorkCalendarDay.objects.values_list("date", flat=True))
    WorkCalendarDay.objects.bulk_create(
        [WorkCalendarDay(date=d, is_workday=w, name=n) for d, w, n in calendar_entries() if d not in existing],
        batch_size=500,
    )


def role_permissions(apps, schema_editor):
    from accounts.roles import apply_role_permissions

    apply_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("accounts", "0002_role_groups"),
        ("django_fsm_log", "0004_auto_20190131_0341"),
    ]

    operations = [
        migrations.RunPython(seed_calendar, migrations.RunPython.noop),
        migrations.RunPython(role_permissions, migrations.RunPython.noop),
    ]
