"""The deadline sweep over 100,000 open cases of which 20,000 are newly overdue, twice: as they are,
and with a tenth of them moved (5,000 suspended, 5,000 extended past an old deadline whose warning
is on record), to show that moved clocks cost the sweep nothing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gov_bench .venv/bin/python benchmarks/sweep.py

Seeds the demo district and enough bulk cases if the database has fewer,
shapes 100,000 cases into open ones (20,000 past their deadline, 80,000 not
yet at 80%), sweeps once inside a transaction that is rolled back (so the
run repeats), and prints and writes the time and the number of queries.
"""

import json
import os
import time
from datetime import timedelta

from _setup import ROOT, setup

setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from cases.escalation import sweep  # noqa: E402
from cases.models import Case, Escalation  # noqa: E402
from demo.bulk import seed_bulk  # noqa: E402
from grids.models import Area  # noqa: E402

# SWEEP_OPEN scales the run down (a fifth of the open cases overdue, a tenth moved) when seeding 100,000 takes too long.
OPEN = int(os.environ.get("SWEEP_OPEN", 100_000))
OVERDUE = OPEN // 5
MOVED = OPEN // 10


class Rollback(Exception):
    pass


def main():
    # Migrate first: on a fresh database there is no area table to ask.
    call_command("migrate", verbosity=0)
    if not Area.objects.exists():
        call_command("seed_demo", verbosity=0)
    missing = OPEN - Case.objects.count()
    if missing > 0:
        seed_bulk(cases=missing)
    ids = list(Case.objects.order_by("-pk").values_list("pk", flat=True)[:OPEN])
    low, high = ids[-1], ids[0]
    now = timezone.now()
    # The scenario is committed and the table vacuumed, as in steady operation;
    # the sweep itself runs in a transaction that is rolled back so runs repeat.
    with transaction.atomic():
        Case.objects.exclude(pk__gte=low).filter(status__in=["reported", "assessed", "assigned", "handled"]).update(
            status="rated"
        )
        Case.objects.filter(pk__gte=low).update(
            status="assigned",
            stage_started_at=now - timedelta(days=4),
            current_deadline=now + timedelta(days=2),
            warn_at=now + timedelta(days=1),
            final_at=now + timedelta(days=3),
        )
        Case.objects.filter(pk__gte=low, pk__lt=low + OVERDUE).update(
            stage_started_at=now - timedelta(days=6),
            current_deadline=now - timedelta(hours=1),
            warn_at=now - timedelta(days=1),
            final_at=now + timedelta(days=1),
        )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM cases_escalation WHERE case_id >= %s", [low])
        cursor.execute("VACUUM ANALYZE cases_case")
        cursor.execute("VACUUM ANALYZE cases_escalation")
    result = {"plain": measure(low, high, now, moved=False), "moved": measure(low, high, now, moved=True)}
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


def move_clocks(low, now):
    """A tenth of the open cases with a moved clock, as the steps leave them: 5,000 suspended (no clock) and
    5,000 extended (the deadline a day later than the one replaced, whose warning the sweep recorded)."""
    suspended = range(low + OVERDUE, low + OVERDUE + MOVED // 2)
    extended = range(low, low + MOVED // 2)  # among the overdue: the extension replaced their deadline
    Case.objects.filter(pk__in=suspended).update(
        status="suspended",
        suspended_at=now - timedelta(days=1),
        suspended_until=(now + timedelta(days=20)).date(),
        suspended_remaining=timedelta(days=2),
        suspension_count=1,
        stage_started_at=None,
        current_deadline=None,
        warn_at=None,
        final_at=None,
    )
    old_deadline = now - timedelta(hours=1)
    Escalation.objects.bulk_create(
        [
            Escalation(case_id=pk, level=1, stage="handle", deadline=old_deadline, created_at=now, sweep="bench")
            for pk in extended
        ],
        batch_size=5000,
    )
    Case.objects.filter(pk__in=extended).update(
        stage_started_at=now - timedelta(days=6),
        current_deadline=now + timedelta(days=2),
        extended_until=now + timedelta(days=2),
        warn_at=now + timedelta(days=1),
        final_at=now + timedelta(days=3),
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")


def measure(low, high, now, *, moved):
    result = {}
    try:
        with transaction.atomic():
            if moved:
                move_clocks(low, now)
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                outcome = sweep(now=now)
                elapsed = time.perf_counter() - started
            again_started = time.perf_counter()
            rerun = sweep(now=now)
            again = time.perf_counter() - again_started
            result = {
                "cases": Case.objects.filter(pk__gte=low, pk__lte=high).count(),
                "suspended": Case.objects.filter(pk__gte=low, status="suspended").count(),
                "extended": Case.objects.filter(pk__gte=low, extended_until__isnull=False).count(),
                "newly_overdue": Case.objects.filter(pk__gte=low, status="assigned", current_deadline__lte=now).count(),
                "recorded": outcome.recorded,
                "digests_queued": outcome.notifications,
                "seconds": round(elapsed, 3),
                "queries": len(queries),
                "rerun_recorded": rerun.recorded,
                "rerun_seconds": round(again, 3),
            }
            raise Rollback
    except Rollback:
        pass
    return result


if __name__ == "__main__":
    main()
