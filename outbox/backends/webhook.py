"""Webhooks: a JSON body POSTed to a subscriber's URL, signed so the subscriber knows it is ours and fresh.

The signature is HMAC-SHA256 with the subscription's secret over ``"<timestamp>.<body>"``, sent as
``X-Signature: sha256=<hex>`` with ``X-Timestamp: <unix seconds>``; ``X-Webhook-Id`` names the outbox row,
the same on every retry, so a subscriber can drop a delivery it already took. A retry is signed
afresh with a new timestamp. The same functions check the callbacks subscribers send back.

The transport is pluggable like SMS: ``settings.WEBHOOK_BACKEND`` names a class whose instances have
``post(url, body, headers)`` and raise on failure (the outbox retries with backoff)."""

import hashlib
import hmac
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.utils.module_loading import import_string

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
ID_HEADER = "X-Webhook-Id"
SCHEME = "sha256="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, "<timestamp>.<body>")."""
    message = timestamp.encode() + b"." + body
    return SCHEME + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_matches(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return bool(secret) and hmac.compare_digest(sign(secret, timestamp, body), signature or "")


def signed_headers(secret: str, body: bytes, *, delivery_id, now: float | None = None) -> dict:
    timestamp = str(int(now if now is not None else time.time()))
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "gov-platform-webhook/1",
        ID_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


class WebhookRefused(Exception):
    """The subscriber answered with a status other than 2xx."""


class HttpBackend:
    def post(self, url: str, body: bytes, headers: dict) -> int:
        if not url.startswith(("https://", "http://")):
            raise WebhookRefused("Only http and https URLs are called.")
        # The scheme is checked above; the URL is set by district staff in the admin.
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as exc:
            raise WebhookRefused(f"HTTP {exc.code}") from None


# Webhooks "sent" by MemoryBackend, for tests: (url, body, headers).
outbox: list[tuple[str, bytes, dict]] = []


class MemoryBackend:
    def post(self, url: str, body: bytes, headers: dict) -> int:
        outbox.append((url, body, headers))
        return 200


def get_backend():
    return import_string(settings.WEBHOOK_BACKEND)()


def send(url: str, body: bytes, *, secret: str, delivery_id) -> int:
    if not secret:
        raise WebhookRefused("No signing secret for this subscription.")
    return get_backend().post(url, body, signed_headers(secret, body, delivery_id=delivery_id))
