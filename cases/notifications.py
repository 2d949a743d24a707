"""The one notification path: an outbox table written in the caller's transaction,
delivered by a Celery task with retries, never lost while the broker or the mail
server is down, and never sent twice by the platform itself.
"""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from . import selectors, sms
from .models import (
    Case,
    Escalation,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationStatus,
    WorkflowSettings,
)

logger = logging.getLogger(__name__)

# A row claimed this long ago and not finished: its worker died. Whether the
# mail left is unknown, so it is marked failed for a person to resend, never resent blindly.
STALE_CLAIM = timedelta(minutes=10)

TEMPLATES = {
    NotificationKind.ESCALATION_DIGEST: "emails/escalation_digest",
    NotificationKind.WARNING_DIGEST: "emails/escalation_digest",
    NotificationKind.CASE_ASSIGNED: "emails/case_event",
    NotificationKind.CASE_RETURNED: "emails/case_event",
    NotificationKind.CASE_REWORK: "emails/case_event",
    NotificationKind.RATING_INVITATION: "emails/rating_invitation",
    NotificationKind.REWORK_LIMIT: "emails/rework_limit",
}
SMS_TEMPLATES = {
    NotificationKind.RATING_INVITATION: "sms/rating_invitation.txt",
}
# Context entries that work as a credential (a rating link): dropped once the message
# has left, so the outbox table does not keep usable links around.
SECRET_CONTEXT_KEYS = {"link_token"}


def _hidden():
    return gettext("(hidden)")


def redacted_context(context: dict) -> str:
    """A row's context for the outbox list: the credentials in it replaced by a placeholder."""
    shown = {key: _hidden() if key in SECRET_CONTEXT_KEYS else value for key, value in context.items()}
    return json.dumps(shown, ensure_ascii=False, sort_keys=True)


def redacted_text(text: str, notification: Notification) -> str:
    """``text`` (e.g. a delivery error) without the row's address or any credential of its context."""
    if notification.to_address:
        text = text.replace(notification.to_address, selectors.mask_address(notification.to_address))
    for key in SECRET_CONTEXT_KEYS:
        secret = notification.context.get(key)
        if secret:
            text = text.replace(str(secret), _hidden())
    return text


def queue(*, kind, recipients, context, dedupe=None):
    """Write one outbox row per recipient; call inside the change's transaction.

    A recipient is a user (a dict with user_id and email), or a resident without an
    account (a dict with channel, "email" or "sms", and address)."""
    rows = []
    for person in recipients:
        address = person.get("address") or person.get("email")
        if not address:
            continue
        user_id = person.get("user_id")
        key = f"{dedupe}:{user_id or address}" if dedupe else None
        rows.append(
            Notification(
                kind=kind,
                channel=person.get("channel", NotificationChannel.EMAIL),
                recipient_id=user_id,
                to_address=address,
                context=context,
                dedupe_key=key,
            )
        )
    Notification.objects.bulk_create(rows, ignore_conflicts=bool(dedupe), batch_size=500)
    if rows:
        transaction.on_commit(kick_delivery)
    return len(rows)


def queue_each(items) -> int:
    """One outbox row per (kind, recipient dict, context, dedupe key) item, in one INSERT: for digests."""
    rows = [
        Notification(
            kind=kind,
            recipient_id=person["user_id"],
            to_address=person["email"],
            context=context,
            dedupe_key=f"{dedupe}:{person['user_id']}",
        )
        for kind, person, context, dedupe in items
        if person.get("email")
    ]
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    if rows:
        transaction.on_commit(kick_delivery)
    return len(rows)


def kick_delivery():
    """Ask a worker to deliver now; with the broker down the periodic delivery picks the rows up later."""
    from .tasks import deliver_notifications

    try:
        deliver_notifications.apply_async(retry=False, ignore_result=True)
    except Exception as exc:  # the broker may be down: the outbox keeps the rows
        logger.warning("Notification delivery not queued (%s); the next periodic run delivers.", exc)


def _context(notification: Notification) -> dict:
    context = dict(notification.context)
    context["site_url"] = settings.SITE_URL.rstrip("/")
    context["kind"] = notification.kind
    if "escalations" in context:
        rows = (
            Escalation.objects.filter(pk__in=context["escalations"])
            .select_related("case__grid", "case__category")
            .order_by("case__current_deadline", "pk")
        )
        context["items"] = list(rows[:500])
        context["more"] = max(0, len(context["escalations"]) - 500)
    if "case" in context:
        context["case_obj"] = Case.objects.select_related("grid", "category").filter(pk=context["case"]).first()
    if "link_token" in context:
        context["rate_url"] = context["site_url"] + reverse("residents:rate", args=[context["link_token"]])
    context["now"] = timezone.now()
    return context


def _render(notification: Notification):
    template = TEMPLATES[notification.kind]
    context = _context(notification)
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        text = render_to_string(f"{template}.txt", context)
        html = render_to_string(f"{template}.html", context)
    return " ".join(subject.split()), text, html


def _render_sms(notification: Notification) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        text = render_to_string(SMS_TEMPLATES[notification.kind], _context(notification))
    return " ".join(text.split())


def _send(notification: Notification) -> None:
    if notification.channel == NotificationChannel.SMS:
        sms.send(notification.to_address, _render_sms(notification))
        return
    subject, text, html = _render(notification)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [notification.to_address])
    message.attach_alternative(html, "text/html")
    message.send()


def _claim(notification_id, now):
    return (
        Notification.objects.filter(pk=notification_id, status=NotificationStatus.PENDING).update(
            status=NotificationStatus.SENDING, claimed_at=now
        )
        == 1
    )


def deliver_pending(*, limit=200, now=None) -> dict:
    """Send due rows. Each row is claimed by a conditional UPDATE, so two workers never send the same one."""
    now = now or timezone.now()
    policy = WorkflowSettings.current()
    stale = Notification.objects.filter(status=NotificationStatus.SENDING, claimed_at__lt=now - STALE_CLAIM).update(
        status=NotificationStatus.FAILED, last_error="Delivery interrupted; it may or may not have been sent."
    )
    due = list(
        Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = failed = retried = 0
    for pk in due:
        if not _claim(pk, now):
            continue
        notification = Notification.objects.get(pk=pk)
        try:
            _send(notification)
        except Exception as exc:  # any mail, SMS or render error: retry later, keep the reason
            attempts = notification.attempts + 1
            final = attempts >= policy.max_delivery_attempts
            Notification.objects.filter(pk=pk).update(
                status=NotificationStatus.FAILED if final else NotificationStatus.PENDING,
                attempts=attempts,
                last_error=f"{exc.__class__.__name__}: {exc}"[:2000],
                next_attempt_at=now + timedelta(minutes=2**attempts),
            )
            failed += final
            retried += not final
        else:
            Notification.objects.filter(pk=pk).update(
                status=NotificationStatus.SENT,
                sent_at=timezone.now(),
                attempts=notification.attempts + 1,
                last_error="",
                context={k: v for k, v in notification.context.items() if k not in SECRET_CONTEXT_KEYS},
            )
            sent += 1
    return {"sent": sent, "retried": retried, "failed": failed, "stale": stale}


def resend(*, actor, notifications) -> int:
    """Put failed rows back in the queue (admin action)."""
    count = notifications.filter(status=NotificationStatus.FAILED).update(
        status=NotificationStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error=""
    )
    if count:
        transaction.on_commit(kick_delivery)
    return count
