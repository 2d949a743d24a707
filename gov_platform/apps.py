from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GovPlatformConfig(AppConfig):
    name = "gov_platform"
    verbose_name = _("Platform")
