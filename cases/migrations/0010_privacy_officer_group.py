from django.db import migrations

GROUP = "privacy_officer"


def privacy_officer(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally made after all migrations; the group needs this one now.
    cases = apps.get_app_config("cases")
    cases.models_module = True
    create_permissions(cases, apps=apps, verbosity=0)
    cases.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(Permission.objects.get(content_type__app_label="cases", codename="handle_subject_request"))


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0009_contact_erased_at"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(privacy_officer, remove_group)]
