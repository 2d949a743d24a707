"""manage.py demo_otp: the current two-factor code of a demo login."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from accounts.twofactor import current_code, totp_device


class Command(BaseCommand):
    help = "Print the current two-factor code of a demo login, as its authenticator app would show it."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = User.objects.filter(username=username).first()
        device = totp_device(user) if user is not None else None
        if device is None:
            raise CommandError(f"{username} has no two-factor device (run seed_demo, or enrol in the admin).")
        self.stdout.write(current_code(device))
