"""The messages cases sends through the outbox: their kinds, labels, templates and context.

``register_messages`` (called from ``CasesConfig.ready``) makes them known to
``outbox.registry``; the outbox then renders and delivers rows of these kinds without
importing cases. Queue them with ``outbox.services.queue``.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from outbox import registry

from .models import Case, Escalation, WorkflowSettings


class NotificationKind(models.TextChoices):
    ESCALATION_DIGEST = "escalation_digest", _("Escalation digest")
    WARNING_DIGEST = "warning_digest", _("Warning digest")
    CASE_ASSIGNED = "case_assigned", _("Case assigned")
    CASE_RETURNED = "case_returned", _("Case sent back")
    CASE_REWORK = "case_rework", _("Case back for rework")
    RATING_INVITATION = "rating_invitation", _("Rating invitation")
    REWORK_LIMIT = "rework_limit", _("Dissatisfied past the rework limit")
    CLOCK_REQUEST = "clock_request", _("Extension or suspension to decide")
    CLOCK_DECISION = "clock_decision", _("Extension or suspension decided")
    CASE_RESUMED = "case_resumed", _("Suspended case resumed")


TEMPLATES = {
    NotificationKind.ESCALATION_DIGEST: "emails/escalation_digest",
    NotificationKind.WARNING_DIGEST: "emails/escalation_digest",
    NotificationKind.CASE_ASSIGNED: "emails/case_event",
    NotificationKind.CASE_RETURNED: "emails/case_event",
    NotificationKind.CASE_REWORK: "emails/case_event",
    NotificationKind.RATING_INVITATION: "emails/rating_invitation",
    NotificationKind.REWORK_LIMIT: "emails/rework_limit",
    NotificationKind.CLOCK_REQUEST: "emails/case_event",
    NotificationKind.CLOCK_DECISION: "emails/case_event",
    NotificationKind.CASE_RESUMED: "emails/case_event",
}
SMS_TEMPLATES = {
    NotificationKind.RATING_INVITATION: "sms/rating_invitation.txt",
}
# Context entries that work as a credential (a rating link): dropped once the message
# has left, so the outbox table does not keep usable links around.
SECRET_CONTEXT_KEYS = {NotificationKind.RATING_INVITATION: {"link_token"}}
# A digest lists at most this many cases; the rest are counted.
DIGEST_ITEMS = 500


def build_context(context: dict) -> dict:
    """A row's stored context (ids and a link token) → what the templates read."""
    if "escalations" in context:
        rows = (
            Escalation.objects.filter(pk__in=context["escalations"])
            .select_related("case__grid", "case__category")
            .order_by("case__current_deadline", "pk")
        )
        context["items"] = list(rows[:DIGEST_ITEMS])
        context["more"] = max(0, len(context["escalations"]) - DIGEST_ITEMS)
    if "case" in context:
        context["case_obj"] = Case.objects.select_related("grid", "category").filter(pk=context["case"]).first()
    if "link_token" in context:
        context["rate_url"] = settings.SITE_URL.rstrip("/") + reverse("residents:rate", args=[context["link_token"]])
    return context


def register_messages() -> None:
    for kind in NotificationKind:
        registry.register(
            kind.value,
            label=kind.label,
            templates=TEMPLATES[kind],
            sms=SMS_TEMPLATES.get(kind),
            build_context=build_context,
            secret_keys=SECRET_CONTEXT_KEYS.get(kind, ()),
        )
    # The number of attempts stays where officials set it: the workflow settings.
    registry.set_max_attempts(lambda: WorkflowSettings.current().max_delivery_attempts)
