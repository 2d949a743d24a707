"""Counters the KPIs read (metrics.kpis): original handling deadline, times suspended, assisting tasks done."""

from django.db import migrations, models
from django.db.models import F, Min


def backfill(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    ClockRequest = apps.get_model("cases", "ClockRequest")
    AssistTask = apps.get_model("cases", "AssistTask")
    Case.objects.filter(handle_deadline__isnull=False).update(original_handle_deadline=F("handle_deadline"))
    # An approved extension moved the deadline: the first one's "before" is the original.
    for case_id, first in (
        ClockRequest.objects.filter(kind="extension", status="approved", old_deadline__isnull=False)
        .values("case_id")
        .annotate(first=Min("old_deadline"))
        .values_list("case_id", "first")
    ):
        Case.objects.filter(pk=case_id).update(original_handle_deadline=first)
    for case_id in (
        ClockRequest.objects.filter(kind="suspension", status="approved").values_list("case_id", flat=True).distinct()
    ):
        n = ClockRequest.objects.filter(case_id=case_id, kind="suspension", status="approved").count()
        Case.objects.filter(pk=case_id).update(suspension_count=n)
    for task in AssistTask.objects.filter(status="done", done_at__isnull=False).only("case_id", "deadline", "done_at"):
        Case.objects.filter(pk=task.case_id).update(
            assist_done_count=F("assist_done_count") + 1,
            assist_on_time_count=F("assist_on_time_count") + (1 if task.done_at <= task.deadline else 0),
        )


class Migration(migrations.Migration):
    dependencies = [("cases", "0018_role_permissions_response_templates")]

    operations = [
        migrations.AddField(
            model_name="case",
            name="original_handle_deadline",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="original handle deadline"),
        ),
        migrations.AddField(
            model_name="case",
            name="suspension_count",
            field=models.PositiveSmallIntegerField(default=0, editable=False, verbose_name="times suspended"),
        ),
        migrations.AddField(
            model_name="case",
            name="assist_done_count",
            field=models.PositiveSmallIntegerField(default=0, editable=False, verbose_name="assisting tasks done"),
        ),
        migrations.AddField(
            model_name="case",
            name="assist_on_time_count",
            field=models.PositiveSmallIntegerField(
                default=0, editable=False, verbose_name="assisting tasks done on time"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
