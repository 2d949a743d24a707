"""The cases app: connects its signals and registers its messages with the outbox at start-up."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("Cases")

    def ready(self):
        from . import (  # noqa: F401 - signals connects the calendar cache invalidation
            cameras,  # noqa: F401 - registers the camera alarms' rows of the timeline
            clock_timeline,  # noqa: F401 - registers the moved clock's rows of the timeline
            mediation_timeline,  # noqa: F401 - registers the mediation rows of the timeline
            notifications,
            signals,
            webhooks,
        )

        notifications.register_messages()
        webhooks.register()
