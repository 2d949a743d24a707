"""Writing to the outbox: queue messages in the caller's transaction, put failed ones back.

Every app sends through ``queue`` (or ``queue_each`` for many kinds at once); the
kind must be registered with ``outbox.registry`` by the app that sends it.
"""

import logging

from django.db import transaction
from django.utils import timezone

from . import delivery, tasks
from .models import Notification, NotificationChannel, NotificationStatus

logger = logging.getLogger(__name__)


def _inapp(kind, user_id, context, subject, dedupe, now) -> Notification:
    """The in-app copy of a message to a user: in their inbox at once, no worker delivers it."""
    return Notification(
        kind=kind,
        channel=NotificationChannel.INAPP,
        recipient_id=user_id,
        to_address="",
        context=context,
        subject=subject,
        status=NotificationStatus.SENT,
        sent_at=now,
        dedupe_key=f"{dedupe}:{user_id}:inapp" if dedupe else None,
    )


def queue(*, kind, recipients, context, dedupe=None, loaded=None) -> int:
    """Write one outbox row per recipient; call inside the change's transaction.

    A recipient is a user (a dict with user_id and email), or a person without an
    account (a dict with channel, "email" or "sms", and address). Every user also gets the
    message in their in-app inbox, with or without an email address. ``loaded``: objects the
    caller holds that the kind's build_context would otherwise read again to render the in-app
    subject (e.g. the case just saved); never stored. Returns the rows to deliver."""
    rows, inbox, subject, now = [], [], None, timezone.now()
    for person in recipients:
        user_id = person.get("user_id")
        if user_id:
            if subject is None:
                subject = delivery.render_subject(kind, context, loaded=loaded)
            inbox.append(_inapp(kind, user_id, context, subject, dedupe, now))
        address = person.get("address") or person.get("email")
        if not address:
            continue
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
    Notification.objects.bulk_create(rows + inbox, ignore_conflicts=bool(dedupe), batch_size=500)
    if rows:
        transaction.on_commit(kick_delivery)
    return len(rows)


def queue_each(items) -> int:
    """One outbox row per (kind, recipient dict, context, dedupe key) item, in one INSERT: for digests.
    Each user also gets the in-app copy (subjects from the kind's cheap subject context)."""
    now = timezone.now()
    rows, inbox = [], []
    for kind, person, context, dedupe in items:
        inbox.append(_inapp(kind, person["user_id"], context, delivery.render_subject(kind, context), dedupe, now))
        if person.get("email"):
            rows.append(
                Notification(
                    kind=kind,
                    recipient_id=person["user_id"],
                    to_address=person["email"],
                    context=context,
                    dedupe_key=f"{dedupe}:{person['user_id']}",
                )
            )
    Notification.objects.bulk_create(rows + inbox, ignore_conflicts=True, batch_size=500)
    if rows:
        transaction.on_commit(kick_delivery)
    return len(rows)


def kick_delivery():
    """Ask a worker to deliver now, unless a request to deliver is already queued and not yet started: that one
    reads the due rows after this transaction committed, so it sends these too (a report no longer sends a
    Celery message of its own when twenty others just did). With the broker down the periodic delivery picks
    the rows up later."""
    if not delivery.claim_kick():
        return
    try:
        tasks.deliver_notifications.apply_async(retry=False, ignore_result=True)
    except Exception as exc:  # the broker may be down: the outbox keeps the rows
        delivery.kick_taken()  # nothing is queued: the next commit asks again
        logger.warning("Notification delivery not queued (%s); the next periodic run delivers.", exc)


def resend(*, actor, notifications) -> int:
    """Put failed rows back in the queue (admin action)."""
    now = timezone.now()
    count = notifications.filter(status=NotificationStatus.FAILED).update(
        status=NotificationStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        resent_by=actor,
        resent_at=now,
    )
    if count:
        transaction.on_commit(kick_delivery)
    return count


@transaction.atomic
def mark_read(*, actor, ids=None) -> int:
    """Mark the actor's own in-app rows read (all unread when ``ids`` is None); others' rows are untouched."""
    rows = Notification.objects.filter(recipient=actor, channel=NotificationChannel.INAPP, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return rows.update(read_at=timezone.now())
