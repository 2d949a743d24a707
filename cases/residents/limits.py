"""Abuse limits of the public pages, counted on the shared cache.

Redis (production, CI) makes ``add`` and ``incr`` atomic across every web
process. The embedded default is a file cache, shared by the processes of one
machine but without atomic updates, so there each update holds a file lock.
Identities (addresses, phone numbers, e-mail) are hashed before they become
keys: the cache never holds them in clear.
"""

import fcntl
import hashlib
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.filebased import FileBasedCache

PENDING = "pending"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]


@contextmanager
def _atomic(cache):
    if not isinstance(cache, FileBasedCache):
        yield
        return
    directory = Path(cache._dir)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "resident-limits.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass
class Verdict:
    allowed: bool
    retry_after: int = 0


def counter_key(name: str, identity: str, now: float | None = None) -> str:
    period = settings.RESIDENT_RATE_LIMITS[name][1]
    window = int((time.time() if now is None else now) // period)
    return f"resident-limit:{name}:{window}:{_digest(identity)}"


def hit(name: str, identity: str) -> Verdict:
    """Count one request of ``identity`` under limit ``name`` (a key of RESIDENT_RATE_LIMITS)."""
    limit, period = settings.RESIDENT_RATE_LIMITS[name]
    now = time.time()
    window = int(now // period)
    key = counter_key(name, identity, now)
    cache = caches["default"]
    with _atomic(cache):
        # The count first, and the key made only when there is none: two round trips to Redis either way
        # (Django's incr is an EXISTS and an INCRBY), where an add before every incr made three.
        try:
            count = cache.incr(key)
        except ValueError:  # the first request of this window: made here, or counted if another made it meanwhile
            count = 1 if cache.add(key, 1, timeout=period + 60) else cache.incr(key)
    if count <= limit:
        return Verdict(True)
    return Verdict(False, retry_after=max(1, int((window + 1) * period - now)))


def normalised(text: str) -> str:
    # Spacing and line breaks carry no meaning in Chinese text; a resubmit may differ only in them.
    return "".join(text.split()).casefold()


class DuplicateGuard:
    """ "The same text from the same contact within the window" is one report.

    ``claim`` reserves the (contact, text) pair atomically before the report is
    saved, so two quick submits cannot both pass; ``settle`` records the tracking
    code for later duplicates to point at, ``release`` frees the pair when saving failed.
    """

    def __init__(self, identity: str, text: str):
        self.key = f"resident-report:{_digest(identity, normalised(text))}"
        self.cache = caches["default"]

    def claim(self) -> str | None:
        """None when this submit may go ahead; else the first report's tracking code (or PENDING)."""
        with _atomic(self.cache):
            if self.cache.add(self.key, PENDING, timeout=settings.RESIDENT_DUPLICATE_WINDOW):
                return None
            return self.cache.get(self.key) or PENDING

    def settle(self, tracking_code: str) -> None:
        self.cache.set(self.key, tracking_code, timeout=settings.RESIDENT_DUPLICATE_WINDOW)

    def release(self) -> None:
        self.cache.delete(self.key)
