"""Per-process copies of rarely edited rows that every report reads (the workflow settings, the work calendar),
dropped by every process as soon as any of them changes the rows.

Each copy is kept with the version it was read under. The version is a token in the shared cache (Redis in
production, the file cache on the demo), as for grids' boundaries (grids.signals); a process looks at it at
most once per CHECK_SECONDS (a cache read costs about half a database query, and a report would read it
three times), so an edit counts at once in the process that made it and within a second in every other.
A change writes a new token when it is saved and again when its transaction commits: a process that read
the old row in between holds it under the first token and reads again after the second. A copy read inside
the transaction that changed the rows is not kept (that transaction may still roll back), and whatever
changes the rows past the ORM (raw SQL) counts within MAX_AGE_SECONDS. The database stays the truth:
without the cache the rows are read each time, nothing fails.
"""

import logging
import threading
import uuid
from time import monotonic

from django.core.cache import cache
from django.db import connection, transaction

logger = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 300


class SharedMemo:
    """Values computed from some tables, kept per process until ``changed()`` is called in any process."""

    def __init__(self, name: str, *, max_entries: int = 256):
        self.key = f"memo-version:{name}"
        self.max_entries = max_entries
        self._values: dict = {}
        self._version = None
        self._read_at = 0.0
        self._checked_at = -CHECK_SECONDS
        self._pending = threading.local()  # the commit callback of this thread's transaction that changed the rows

    def get(self, key, load):
        """The value kept for ``key``, or ``load()`` (kept when it is safe to keep)."""
        if self._inside_changing_transaction():
            return load()
        now = monotonic()
        values = self._values
        if self._version is None or now - self._checked_at >= CHECK_SECONDS:
            version = self._shared_version()
            if version is None:
                return load()
            self._checked_at = now
            if version != self._version or now - self._read_at > MAX_AGE_SECONDS:
                values = {}
                self._values, self._version, self._read_at = values, version, now
        try:
            return values[key]
        except KeyError:
            value = load()
            if len(values) >= self.max_entries:
                values.clear()
            values[key] = value
            return value

    def changed(self):
        """The rows changed (call it where they are saved or deleted): every process reads them again."""
        self.forget()
        self._new_version()
        if connection.in_atomic_block:

            def committed():
                self._new_version()

            transaction.on_commit(committed)
            self._pending.callback = committed

    def _inside_changing_transaction(self) -> bool:
        """Whether this thread is still in the transaction that changed the rows: its callback is still waiting
        for the commit (a commit runs it, a rollback drops it)."""
        callback = getattr(self._pending, "callback", None)
        if callback is None:
            return False
        if connection.in_atomic_block and any(entry[1] is callback for entry in connection.run_on_commit):
            return True
        self._pending.callback = None
        return False

    def forget(self):
        """Drop this process's copies (tests start each database afresh)."""
        self._values, self._version, self._checked_at = {}, None, -CHECK_SECONDS
        self._pending.callback = None

    def _shared_version(self):
        try:
            version = cache.get(self.key)
            if version is None:
                cache.add(self.key, uuid.uuid4().hex, timeout=None)
                version = cache.get(self.key)
            return version
        except Exception as exc:  # the cache is down: read the database each time rather than fail
            logger.warning("Shared memo %s not checked (%s); reading the database.", self.key, exc)
            return None

    def _new_version(self):
        try:
            cache.set(self.key, uuid.uuid4().hex, timeout=None)
        except Exception as exc:
            logger.warning("Shared memo %s not renewed (%s); other processes keep theirs a while.", self.key, exc)
