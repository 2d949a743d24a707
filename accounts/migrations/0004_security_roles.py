from django.apps import apps as global_apps
from django.db import migrations


def create_security_roles(apps, schema_editor):
    from accounts.roles import apply_security_role_permissions

    apply_security_role_permissions(apps)


def remove_security_roles(apps, schema_editor):
    from accounts.roles import SECURITY_ROLE_PERMISSIONS

    apps.get_model("auth", "Group").objects.filter(name__in=list(SECURITY_ROLE_PERMISSIONS)).delete()


# The security administrator's permissions live in the two-factor and lockout apps: run after
# their tables exist, so their permissions can be given (an app not installed is skipped).
OPTIONAL = [("otp_totp", "django_otp.plugins.otp_totp"), ("otp_static", "django_otp.plugins.otp_static")]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_security_audit_log"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("axes", "__latest__"),
        *[(label, "__latest__") for label, module in OPTIONAL if global_apps.is_installed(module)],
    ]

    operations = [migrations.RunPython(create_security_roles, remove_security_roles)]
