"""Fill the work calendar from the chinese-calendar package for the years it covers."""

from django.core.management.base import BaseCommand, CommandError

from cases.calendar import calendar_changed
from cases.models import WorkCalendarDay
from cases.workcalendar_seed import calendar_entries, covered_years


class Command(BaseCommand):
    help = "Add the holidays and adjusted working days the chinese-calendar package knows; keeps manual entries."

    def add_arguments(self, parser):
        parser.add_argument("--from-year", type=int, default=2020)

    def handle(self, *args, from_year, **options):
        years = covered_years()
        if from_year > years.stop - 1:
            raise CommandError(f"chinese-calendar covers {years.start}-{years.stop - 1}; nothing from {from_year}.")
        existing = set(WorkCalendarDay.objects.values_list("date", flat=True))
        new = [
            WorkCalendarDay(date=d, is_workday=w, name=n)
            for d, w, n in calendar_entries(first_year=from_year)
            if d not in existing
        ]
        WorkCalendarDay.objects.bulk_create(new, batch_size=500)
        calendar_changed()  # bulk_create sends no signals
        self.stdout.write(f"Added {len(new)} days; the package covers {years.start}-{years.stop - 1}.")
