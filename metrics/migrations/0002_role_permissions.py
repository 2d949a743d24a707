from django.db import migrations


def role_permissions(apps, schema_editor):
    from accounts.roles import apply_role_permissions

    apply_role_permissions(apps)


class Migration(migrations.Migration):
    # After the cases migrations, so the groups are given every permission that exists by now.
    dependencies = [
        ("metrics", "0001_initial"),
        ("accounts", "0002_role_groups"),
        ("cases", "0006_trigram_search"),
    ]

    operations = [migrations.RunPython(role_permissions, migrations.RunPython.noop)]
