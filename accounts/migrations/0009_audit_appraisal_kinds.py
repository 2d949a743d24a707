from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_user_language_db_default")]

    operations = [
        migrations.AlterField(
            model_name="securityevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("login", "Login"),
                    ("login_failed", "Failed login"),
                    ("lockout", "Account locked out"),
                    ("logout", "Logout"),
                    ("otp_verified", "Two-factor check passed"),
                    ("otp_failed", "Two-factor check failed"),
                    ("otp_device_added", "Two-factor device added"),
                    ("otp_device_removed", "Two-factor device removed"),
                    ("recovery_code_used", "Recovery code used"),
                    ("password_changed", "Password changed"),
                    ("password_reset", "Password set by an administrator"),
                    ("token_issued", "API token issued"),
                    ("token_revoked", "API token revoked"),
                    ("user_changed", "User changed"),
                    ("user_deactivated", "User deactivated"),
                    ("post_changed", "Post given or changed"),
                    ("post_removed", "Post removed"),
                    ("org_import", "Organisation imported"),
                    ("data_export", "Personal data exported"),
                    ("contact_viewed", "Unmasked contact viewed"),
                    ("contact_erased", "Resident contact erased"),
                    ("subject_request", "Data-subject request"),
                    ("settings_changed", "Settings changed"),
                    ("notice_resent", "Notifications sent again"),
                    ("appraisal", "Appraisal recorded or appealed"),
                    ("accountability", "Accountability record"),
                    ("denied", "Action refused"),
                ],
                db_index=True,
                max_length=32,
                verbose_name="event",
            ),
        ),
    ]
