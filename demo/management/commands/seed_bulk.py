"""manage.py seed_bulk: add N cases in every state to the demo district, for benchmarks."""

import resource
import time

from django.core.management.base import BaseCommand, CommandError

from demo.bulk import seed_bulk
from metrics import rollups


class Command(BaseCommand):
    help = "Add N realistic cases (every state and category, with logs, escalations, ratings) to the demo district."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, required=True)
        parser.add_argument("--months", type=int, default=12)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, cases, months, seed, **options):
        if cases <= 0 or months <= 0:
            raise CommandError("--cases and --months must be positive.")
        started = time.monotonic()

        def progress(totals):
            self.stdout.write(f"  {totals['cases']:>9} cases  {time.monotonic() - started:6.1f} s")

        try:
            totals = seed_bulk(cases=cases, months=months, seed=seed, progress=progress)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.monotonic() - started
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(
            f"Inserted {totals['cases']} cases, {totals['logs']} log rows, {totals['escalations']} escalations "
            f"in {elapsed:.1f} s ({totals['cases'] / elapsed:.0f} cases/s); peak RSS {peak_mb:.0f} MB."
        )
        # The seeder writes past the services, so no bucket was marked: the figures need every day recomputed.
        started = time.monotonic()
        rows = rollups.rebuild()
        self.stdout.write(f"Rebuilt {rows} roll-up rows in {time.monotonic() - started:.1f} s.")
