from django.db import migrations


def role_permissions(apps, schema_editor):
    from accounts.roles import apply_role_permissions

    apply_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("cases", "0025_camera_alarms")]

    operations = [migrations.RunPython(role_permissions, migrations.RunPython.noop)]
