"""The one way to write the security audit log.

Call ``record`` inside the transaction of the change it describes, so the log
row and the change land (or roll back) together.
"""

from .models import SecurityEvent

Kind = SecurityEvent.Kind


def client_ip(request) -> str | None:
    if request is None:
        return None
    # Behind the production proxy REMOTE_ADDR is the proxy; the runbook's
    # gunicorn --forwarded-allow-ips makes the proxy set it to the client.
    return request.META.get("REMOTE_ADDR") or None


def record(kind: str, *, actor=None, request=None, target_user=None, target: str = "", **detail) -> SecurityEvent:
    if actor is None and request is not None and getattr(request, "user", None) is not None:
        actor = request.user if request.user.is_authenticated else None
    return SecurityEvent.objects.create(
        kind=kind,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else detail.pop("username", ""),
        target_user=target_user,
        target=(target or (str(target_user) if target_user is not None else ""))[:200],
        ip_address=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:300],
        detail=detail,
    )
