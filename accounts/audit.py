"""The one way to write the security audit log.

Call ``record`` inside the transaction of the change it describes, so the log
row and the change land (or roll back) together. Services need not carry the
request: ``AuditContextMiddleware`` keeps where the request came from for the
duration of the request, and ``record`` reads it.
"""

from contextvars import ContextVar

from .models import SecurityEvent

Kind = SecurityEvent.Kind

_origin: ContextVar[tuple[str | None, str] | None] = ContextVar("audit_origin", default=None)


def client_ip(request) -> str | None:
    # Behind the production proxy, gunicorn's --forwarded-allow-ips (runbook)
    # makes REMOTE_ADDR the client's address rather than the proxy's.
    return request.META.get("REMOTE_ADDR") or None if request is not None else None


def _origin_of(request) -> tuple[str | None, str]:
    if request is None:
        return _origin.get() or (None, "")
    return client_ip(request), request.META.get("HTTP_USER_AGENT", "")[:300]


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


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _origin.set(_origin_of(request))
        try:
            return self.get_response(request)
        finally:
            _origin.reset(token)
