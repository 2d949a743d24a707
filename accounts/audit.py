"""The one way to write the security audit log.

Call ``record`` inside the transaction of the change it describes, so the log
row and the change land (or roll back) together. Services need not carry the
request: ``AuditContextMiddleware`` keeps where the request came from for the
duration of the request, and ``record`` reads it.
"""

from contextvars import ContextVar
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy

from gov_platform.clients import client_ip

from .models import SecurityEvent
from .roles import Role

Kind = SecurityEvent.Kind

_origin: ContextVar[tuple[str | None, str] | None] = ContextVar("audit_origin", default=None)


def _ip(request) -> str | None:
    return (client_ip(request) or None) if request is not None else None


def _origin_of(request) -> tuple[str | None, str]:
    if request is None:
        return _origin.get() or (None, "")
    return _ip(request), request.META.get("HTTP_USER_AGENT", "")[:300]


def record(kind: str, *, actor=None, request=None, target_user=None, target: str = "", username: str = "", **detail):
    """Append one event. ``username`` names the actor when there is no account (a failed login)."""
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    ip, agent = _origin_of(request)
    return SecurityEvent.objects.create(
        kind=kind,
        actor=actor,
        actor_name=(actor.get_username() if actor is not None else username)[:150],
        target_user=target_user,
        target=(target or (str(target_user) if target_user is not None else ""))[:200],
        ip_address=ip,
        user_agent=agent,
        detail=detail,
    )


# How the keys and fixed values writers put into ``detail`` read to people (the admin and
# the export never show the codes). A writer adding a key adds its label here.
DETAIL_LABELS = {
    "via": pgettext_lazy("audit detail", "through"),
    "accepted": pgettext_lazy("audit detail", "accepted"),
    "created": pgettext_lazy("audit detail", "created"),
    "updated": pgettext_lazy("audit detail", "updated"),
    "unchanged": pgettext_lazy("audit detail", "unchanged"),
    "errors": pgettext_lazy("audit detail", "rows refused"),
    "reason": pgettext_lazy("audit detail", "reason"),
    "export": pgettext_lazy("audit detail", "exported"),
    "filters": pgettext_lazy("audit detail", "filter"),
    "rows": pgettext_lazy("audit detail", "rows"),
    "format": pgettext_lazy("audit detail", "format"),
    "delivery": pgettext_lazy("audit detail", "delivery"),
    "area": pgettext_lazy("audit detail", "area"),
    "department": pgettext_lazy("audit detail", "department"),
    "party": pgettext_lazy("audit detail", "party organisation"),
    "from": pgettext_lazy("audit detail", "from"),
    "to": pgettext_lazy("audit detail", "to"),
    "job": pgettext_lazy("audit detail", "export job"),
    "before": pgettext_lazy("audit detail", "before"),
    "after": pgettext_lazy("audit detail", "after"),
    "role": pgettext_lazy("audit detail", "role"),
    "supervisor": pgettext_lazy("audit detail", "supervisor"),
    "fields": pgettext_lazy("audit detail", "fields changed"),
    "settings": pgettext_lazy("audit detail", "settings"),
    "changed": pgettext_lazy("audit detail", "changed"),
    "count": pgettext_lazy("audit detail", "how many"),
    "followers": pgettext_lazy("audit detail", "followers removed"),
    "boundaries": pgettext_lazy("audit detail", "boundaries"),
    "camera": pgettext_lazy("audit detail", "camera"),
    "month": pgettext_lazy("audit detail", "month"),
    "unit": pgettext_lazy("audit detail", "unit"),
    "score": pgettext_lazy("audit detail", "score"),
    "decision": pgettext_lazy("audit detail", "decision"),
    "step": pgettext_lazy("audit detail", "step"),
    "record": pgettext_lazy("audit detail", "record"),
}
DETAIL_VALUES = {
    "web": pgettext_lazy("audit detail", "web pages"),
    "api": pgettext_lazy("audit detail", "API"),
    "cases": pgettext_lazy("audit detail", "case list"),
    "security_log": pgettext_lazy("audit detail", "security audit log"),
    "inline": pgettext_lazy("audit detail", "downloaded at once"),
    "worker": pgettext_lazy("audit detail", "built in the background"),
    "download": pgettext_lazy("audit detail", "file downloaded"),
    "external_system": pgettext_lazy("audit detail", "external system key"),
    "webhook": pgettext_lazy("audit detail", "webhook secret"),
    "appraisal_recorded": pgettext_lazy("audit detail", "appraisal month recorded"),
    "appeal_filed": pgettext_lazy("audit detail", "appeal filed"),
    "appeal_kept": pgettext_lazy("audit detail", "appeal decided: score kept"),
    "appeal_corrected": pgettext_lazy("audit detail", "appeal decided: score corrected"),
    "accountability_opened": pgettext_lazy("audit detail", "accountability record opened"),
    "accountability_decided": pgettext_lazy("audit detail", "accountability decided"),
    "accountability_acknowledged": pgettext_lazy("audit detail", "accountability acknowledged"),
    **dict(Role.choices),
}


def _describe(value) -> str:
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, dict):
        return ", ".join(f"{DETAIL_LABELS.get(k, k)} {_describe(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_describe(v) for v in value)
    if isinstance(value, str):
        return str(DETAIL_VALUES.get(value, value))
    return str(value)


def describe_detail(detail: dict) -> str:
    """An event's details in words, for the admin and the export."""
    return "; ".join(f"{DETAIL_LABELS.get(key, key)}: {_describe(value)}" for key, value in (detail or {}).items())


# 等保 2.0 level 3 requires the log to be kept at least this long; settings refuse less at startup.
MIN_RETENTION_DAYS = 180


def retention_days() -> int:
    days = settings.SECURITY_LOG_RETENTION_DAYS
    if days < MIN_RETENTION_DAYS:
        # Checked again here: a setting changed at run time must not delete what the law says to keep.
        raise ImproperlyConfigured(
            f"SECURITY_LOG_RETENTION_DAYS is {days}; the security audit log is kept at least {MIN_RETENTION_DAYS} days."
        )
    return days


@transaction.atomic
def purge_expired(*, now=None) -> int:
    """Delete events older than the retention period; returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=retention_days())
    deleted, _per_model = SecurityEvent.objects.filter(at__lt=cutoff).delete()
    return deleted


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _origin.set(_origin_of(request))
        try:
            return self.get_response(request)
        finally:
            _origin.reset(token)
