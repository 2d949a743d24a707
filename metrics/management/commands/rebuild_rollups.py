"""Recompute every roll-up from the case table: after a bulk load, a restore or a repair."""

import time

from django.core.management.base import BaseCommand, CommandError

from metrics import rollups


class Command(BaseCommand):
    help = "Recompute the daily roll-ups of every case from the first report to today."

    def handle(self, *args, **options):
        started = time.monotonic()
        try:
            rows = rollups.rebuild(progress=lambda month: self.stdout.write(f"  {month:%Y-%m}"))
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Rebuilt {rows} roll-up rows in {time.monotonic() - started:.1f} s.")
