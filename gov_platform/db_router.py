"""A read replica for the reads that may lag a little: dashboards, KPI figures and exports.

With REPLICA_DATABASE_URL set, the "replica" alias exists and this router sends the reads made inside
``replica_reads()`` to it; every write, every migration and every read outside such a block go to
"default", so a request never reads its own writes from a replica that has not caught up yet. Without
the setting nothing changes: ``replica_reads()`` is a no-op."""

from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings

REPLICA = "replica"
_reading: ContextVar[bool] = ContextVar("replica_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def replica_reads():
    """Reads inside go to the replica (when there is one): for figures a few seconds' lag cannot mislead."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def read_alias() -> str:
    return REPLICA if _reading.get() and replica_configured() else "default"


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        return read_alias()

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        # Rows read from the replica are the primary's rows: relating them is relating the same data.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"
