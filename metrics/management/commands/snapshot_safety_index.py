"""Record the safety index of a month (the beat does it on the 1st; this is for catch-up and repairs)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from metrics import services
from metrics.kpis import parse_month


class Command(BaseCommand):
    help = "Record the safety index of every area for one month that has ended."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument(
            "--force", action="store_true", help="Replace a recorded month, computing it under the current rules."
        )

    def handle(self, *args, month, force, **options):
        try:
            wanted = parse_month(month)
        except ValueError as exc:
            raise CommandError(f"--month: {exc}") from exc
        try:
            run = services.snapshot_safety_index(actor=None, month=wanted, force=force)
        except services.SnapshotExists as exc:
            raise CommandError(f"{exc} Use --force to replace it with the current rules.") from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"Recorded the safety index of {run.month:%Y-%m}: {run.grids} grids.")
