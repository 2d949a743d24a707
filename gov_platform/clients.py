"""Who is on the other end of a request."""

from django.conf import settings


def client_ip(request) -> str:
    """The client's address; behind N trusted proxies (the login lockout's setting), the Nth from the right."""
    proxies = getattr(settings, "AXES_IPWARE_PROXY_COUNT", None) or 0
    if proxies:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")
