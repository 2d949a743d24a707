from django.db import migrations


def role_permissions(apps, schema_editor):
    from accounts.roles import apply_role_permissions

    apply_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("cases", "0023_mediation_records"), ("accounts", "0010_training_courses_attendance")]

    operations = [migrations.RunPython(role_permissions, migrations.RunPython.noop)]
