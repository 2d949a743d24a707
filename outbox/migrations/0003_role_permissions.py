"""The role groups get the outbox's permissions (accounts.roles now names them outbox.*)."""

from django.db import migrations


def role_permissions(apps, schema_editor):
    from accounts.roles import apply_role_permissions

    apply_role_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [("outbox", "0002_notification_table"), ("accounts", "0004_security_roles")]

    operations = [migrations.RunPython(role_permissions, migrations.RunPython.noop)]
