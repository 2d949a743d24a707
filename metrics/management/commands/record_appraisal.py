"""Record the appraisal of a month (beat does it on the 1st after the safety index; this is for catch-up)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from metrics import appraisal
from metrics.kpis import parse_month


class Command(BaseCommand):
    help = "Record the appraisal of every street, community, department and grid worker for one ended month."

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
            run = appraisal.record_month(actor=None, month=wanted, force=force)
        except appraisal.AppraisalExists as exc:
            raise CommandError(f"{exc} Use --force to replace it with the current rules.") from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"Recorded the appraisal of {run.month:%Y-%m}: {run.units} units.")
