from django.db import migrations


def role_permissions(apps, schema_editor):
    from accounts.roles import apply_role_permissions

    apply_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("cases", "0021_visits"), ("grids", "0002_linked_households")]

    operations = [migrations.RunPython(role_permissions, migrations.RunPython.noop)]
