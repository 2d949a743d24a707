"""The messages cases sends through the outbox: their kinds, labels, templates and context.

``register_messages`` (called from ``CasesConfig.ready``) makes them known to
``outbox.registry``; the outbox then renders and delivers rows of these kinds without
importing cases. Queue them with ``outbox.services.queue``.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from gov_platform.masking import mask_name, mask_phone
from outbox import registry

from .models import Case, Escalation, Mediation, WorkflowSettings


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
    ASSIST_TASK = "assist_task", _("Assisting task")
    ASSIST_DONE = "assist_done", _("Assisting task done or waived")
    ASSIST_RETURNED = "assist_returned", _("Assisting task sent back")
    CASE_REPORTED = "case_reported", _("New report")
    SUPERVISION = "supervision", _("Supervision instruction")
    SUPERVISION_REPLY = "supervision_reply", _("Reply to supervision")
    MEDIATION_FOLLOW_UP = "mediation_follow_up", _("Mediation follow-up visit due")
    CASE_FOLLOWED = "case_followed", _("Following a case (tracking link)")
    CASE_UPDATE = "case_update", _("Update on a followed case")


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
    NotificationKind.ASSIST_TASK: "emails/case_event",
    NotificationKind.ASSIST_DONE: "emails/case_event",
    NotificationKind.ASSIST_RETURNED: "emails/case_event",
    NotificationKind.CASE_REPORTED: "emails/case_notice",
    NotificationKind.SUPERVISION: "emails/case_notice",
    NotificationKind.SUPERVISION_REPLY: "emails/case_notice",
    NotificationKind.MEDIATION_FOLLOW_UP: "emails/mediation_follow_up",
    NotificationKind.CASE_FOLLOWED: "emails/case_followed",
    NotificationKind.CASE_UPDATE: "emails/case_followed",
}
SMS_TEMPLATES = {
    NotificationKind.RATING_INVITATION: "sms/rating_invitation.txt",
    NotificationKind.CASE_FOLLOWED: "sms/case_followed.txt",
    NotificationKind.CASE_UPDATE: "sms/case_followed.txt",
}
# Messages to residents (no account): no inbox copy, no back-office link.
RESIDENT_KINDS = {NotificationKind.RATING_INVITATION, NotificationKind.CASE_FOLLOWED, NotificationKind.CASE_UPDATE}
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
    if "case" in context and "case_obj" not in context:  # in hand when the report was just saved
        context["case_obj"] = Case.objects.select_related("grid", "category").filter(pk=context["case"]).first()
    if "mediation" in context:
        # The parties masked whoever receives it: a message leaves the platform and stays in the outbox.
        mediation = Mediation.objects.filter(pk=context["mediation"]).first()
        context["mediation_obj"] = mediation
        context["parties"] = [
            {"name": mask_name(p.name), "phone": mask_phone(p.phone) if p.phone else ""}
            for p in (mediation.parties.all() if mediation is not None else [])
        ]
    if context.get("resident") and context.get("case_obj") is not None:
        code = context["case_obj"].tracking_code
        context["track_url"] = settings.SITE_URL.rstrip("/") + reverse("residents:track", args=[code])
    if "link_token" in context:
        context["rate_url"] = settings.SITE_URL.rstrip("/") + reverse("residents:rate", args=[context["link_token"]])
    return context


def digest_subject_context(context: dict) -> dict:
    """A digest's subject needs only how many cases it lists: no query (the sweep stays set-based)."""
    return {"items": context.get("escalations", [])}


def link(context: dict) -> str:
    """The back-office page a message is about: its case, or the escalation list for a digest."""
    if "case" in context:
        return reverse("admin:cases_case_change", args=[context["case"]])
    if "escalations" in context:
        return reverse("admin:cases_escalation_changelist") + "?acknowledged_at__isempty=1"
    return ""


DIGESTS = {NotificationKind.ESCALATION_DIGEST, NotificationKind.WARNING_DIGEST}


def register_messages() -> None:
    for kind in NotificationKind:
        registry.register(
            kind.value,
            label=kind.label,
            templates=TEMPLATES[kind],
            sms=SMS_TEMPLATES.get(kind),
            build_context=build_context,
            secret_keys=SECRET_CONTEXT_KEYS.get(kind, ()),
            subject_context=digest_subject_context if kind in DIGESTS else None,
            # A resident's rating invitation goes to no account: no inbox, no office link.
            link=None if kind in RESIDENT_KINDS else link,
        )
    # The number of attempts stays where officials set it: the workflow settings.
    registry.set_max_attempts(lambda: WorkflowSettings.current().max_delivery_attempts)
