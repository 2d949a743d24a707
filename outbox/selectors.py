"""Reading the outbox: whose rows a user sees, and rows as shown below the superuser."""

import json

from django.utils.translation import gettext

from gov_platform.masking import mask_address

from . import delivery, registry
from .models import Notification, NotificationChannel


def notifications_for(user, qs=None):
    """The outbox keepers (change permission) see every row; anyone else only their own."""
    qs = Notification.objects.all() if qs is None else qs
    if user.has_perm("outbox.change_notification"):
        return qs
    return qs.filter(recipient=user)


def inbox_for(user):
    """A user's own in-app notices, newest first: nobody reads another person's inbox."""
    return Notification.objects.filter(recipient=user, channel=NotificationChannel.INAPP).order_by("-id")


UNREAD_CAP = 99


def unread_count(user) -> str:
    """The bell's number, counted over at most UNREAD_CAP + 1 rows ("99+")."""
    n = inbox_for(user).filter(read_at__isnull=True)[: UNREAD_CAP + 1].count()
    return f"{UNREAD_CAP}+" if n > UNREAD_CAP else str(n) if n else ""


def readable_subject(notification: Notification) -> str:
    """What a row says, as its recipient reads it: the in-app subject, or the subject rendered now."""
    if notification.subject:
        return notification.subject
    try:
        return delivery.render_subject(notification.kind, notification.context)
    except Exception:  # a kind no app registers any more, or a row whose case is gone
        return str(notification.get_kind_display())


def _hidden():
    return gettext("(hidden)")


def redacted_context(context: dict) -> str:
    """A row's context for the outbox list: the credentials in it replaced by a placeholder."""
    secrets = registry.secret_keys()
    shown = {key: _hidden() if key in secrets else value for key, value in context.items()}
    return json.dumps(shown, ensure_ascii=False, sort_keys=True)


def redacted_text(text: str, notification: Notification) -> str:
    """``text`` (e.g. a delivery error) without the row's address or any credential of its context."""
    if notification.to_address:
        text = text.replace(notification.to_address, mask_address(notification.to_address))
    for key in registry.secret_keys():
        secret = notification.context.get(key)
        if secret:
            text = text.replace(str(secret), _hidden())
    return text
