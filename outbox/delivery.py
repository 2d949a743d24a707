"""Delivering the outbox: claim each due row once, render it, send it, retry with backoff.

Never lost while the broker or the mail server is down, and never sent twice by the
platform itself: a row is claimed by a conditional UPDATE before it is sent.
"""

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone, translation

from . import registry
from .backends import sms, webhook
from .models import Notification, NotificationChannel, NotificationStatus

logger = logging.getLogger(__name__)

# A row claimed this long ago and not finished: its worker died. Whether the
# mail left is unknown, so it is marked failed for a person to resend, never resent blindly.
STALE_CLAIM = timedelta(minutes=10)


def _context(notification: Notification) -> dict:
    context = registry.kind(notification.kind).build_context(dict(notification.context))
    context["site_url"] = settings.SITE_URL.rstrip("/")
    context["kind"] = notification.kind
    context["now"] = timezone.now()
    return context


def _render(notification: Notification):
    template = registry.kind(notification.kind).templates
    context = _context(notification)
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        text = render_to_string(f"{template}.txt", context)
        html = render_to_string(f"{template}.html", context)
    return " ".join(subject.split()), text, html


def render_subject(code: str, context: dict, *, loaded=None) -> str:
    """The subject line of a kind's message for this stored context (the in-app copy's title); ``loaded``
    adds objects the caller already holds, for build_context to use instead of reading them."""
    kind = registry.kind(code)
    if not kind.templates:
        return str(kind.label)
    build = kind.subject_context or kind.build_context
    full = {
        **build({**context, **(loaded or {})}),
        "kind": code,
        "site_url": settings.SITE_URL.rstrip("/"),
        "now": timezone.now(),
    }
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string(f"{kind.templates}_subject.txt", full)
    return " ".join(subject.split())[:200]


def _render_sms(notification: Notification) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        text = render_to_string(registry.kind(notification.kind).sms, _context(notification))
    return " ".join(text.split())


def _send_webhook(notification: Notification) -> None:
    kind = registry.kind(notification.kind)
    secret = kind.webhook_secret(dict(notification.context)) if kind.webhook_secret else ""
    body = json.dumps(notification.context.get("payload", {}), ensure_ascii=False, sort_keys=True).encode()
    webhook.send(notification.to_address, body, secret=secret, delivery_id=notification.pk)


def _send(notification: Notification) -> None:
    if notification.channel == NotificationChannel.WEBHOOK:
        _send_webhook(notification)
        return
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


# Set while a delivery a commit asked for is queued and has not started: later commits need not ask again.
KICK_WAITING = "outbox.kick.waiting"
# How long a queued request is trusted to start; past it (a lost message, no worker) commits ask again.
KICK_WAITING_SECONDS = 30


def claim_kick() -> bool:
    """True when the caller should queue a delivery: none is waiting to start."""
    try:
        return cache.add(KICK_WAITING, 1, KICK_WAITING_SECONDS)
    except Exception:  # the cache is down: ask the worker, as before there was a mark
        return True


def kick_taken():
    """A queued delivery starts (or was never queued): the next commit asks for one again. Called before the
    due rows are read, so a row committed after that read finds the mark gone and queues its own delivery."""
    try:
        cache.delete(KICK_WAITING)
    except Exception:  # the cache is down: claim_kick answers True anyway
        logger.warning("Could not clear the outbox's delivery mark.", exc_info=True)


def deliver_pending(*, limit=200, now=None) -> dict:
    """Send due rows. Each row is claimed by a conditional UPDATE, so two workers never send the same one."""
    now = now or timezone.now()
    max_attempts = registry.max_attempts()
    secrets = registry.secret_keys()
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
            final = attempts >= max_attempts
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
                # A link that works as a credential does not stay in the table once the message has left.
                context={k: v for k, v in notification.context.items() if k not in secrets},
            )
            sent += 1
    return {"sent": sent, "retried": retried, "failed": failed, "stale": stale, "more": len(due) == limit}
