"""Helpers shared by the REST API tests: token clients, isolated throttling, error shapes."""

import uuid

from django.core.cache.backends.locmem import LocMemCache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle


def isolate_throttling(monkeypatch):
    """Give throttling a private cache, so the per-user counters of one test never reach another
    (or another process sharing the file or Redis cache)."""
    monkeypatch.setattr(SimpleRateThrottle, "cache", LocMemCache(f"api-tests-{uuid.uuid4().hex}", {}))


def token_client(user=None) -> APIClient:
    """An API client speaking English, logged in with a real token when ``user`` is given."""
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
