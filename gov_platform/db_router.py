"""A read replica for the reads that may lag a little: dashboards, KPI figures and exports.

With REPLICA_DATABASE_URL set, the "replica" alias exists and this router sends the reads made inside
``replica_reads()`` to it; every write, every migration and every read outside such a block go to
"default", so a request never reads its own writes from a replica that has not caught up yet. Without
the setting nothing changes: ``replica_reads()`` is a no-op."""

from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import connections, transaction

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


_tuned: ContextVar[frozenset] = ContextVar("analytic_aliases", default=frozenset())


@contextmanager
def analytic_queries(*, parallel: bool = True):
    """Settings for aggregate reads (figures, roll-ups, hotspots), for this transaction only (PostgreSQL);
    gives the connection to read from (the replica inside ``replica_reads``).

    JIT compilation costs more than it saves on these one-pass aggregates (at a million cases it
    took longer than the query itself); percentile_cont sorts every handled case of a period, in
    memory rather than temporary files; and computing each case's working hours is dearer than the
    planner assumes, so handing rows between parallel workers is worth it sooner. ``parallel=False``
    for many small reads (a dashboard's, over roll-ups): starting workers for each cost more than they
    saved, and on a two-core server they take the cores other requests wait for. Nested uses (a
    dashboard's several figures) keep the outermost settings."""
    alias = read_alias()
    db = connections[alias]
    if db.vendor != "postgresql" or alias in _tuned.get():
        yield db
        return
    with transaction.atomic(using=alias), db.cursor() as cursor:
        # set_config(..., true) is SET LOCAL, all of them in one statement.
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', '128MB', true), "
            "set_config('parallel_tuple_cost', '0.01', true), "
            "set_config('max_parallel_workers_per_gather', "
            "CASE WHEN %s THEN current_setting('max_parallel_workers_per_gather') ELSE '0' END, true)",
            [parallel],
        )
        token = _tuned.set(_tuned.get() | {alias})
        try:
            yield db
        finally:
            _tuned.reset(token)
