from django.db import migrations

# The decisions the model district uses; the district edits the list in the admin.
DECISIONS = ["提醒谈话", "通报批评", "诫勉谈话", "移交纪委"]


def seed_decisions(apps, schema_editor):
    Decision = apps.get_model("metrics", "AccountabilityDecision")
    for order, name in enumerate(DECISIONS, start=1):
        Decision.objects.get_or_create(name=name, defaults={"order": order})


def role_permissions(apps, schema_editor):
    from accounts.roles import apply_role_permissions

    apply_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("metrics", "0005_appraisal_accountability"), ("accounts", "0009_audit_appraisal_kinds")]

    operations = [
        migrations.RunPython(seed_decisions, migrations.RunPython.noop),
        migrations.RunPython(role_permissions, migrations.RunPython.noop),
    ]
