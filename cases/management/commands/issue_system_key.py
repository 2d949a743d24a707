"""manage.py issue_system_key <code>: a new key for an external system (the old one stops working), printed once."""

from django.core.management.base import BaseCommand, CommandError

from cases import external
from cases.models import ExternalSystem


class Command(BaseCommand):
    help = "Issue a new API key for an external system, printed once; its previous key stops working."

    def add_arguments(self, parser):
        parser.add_argument("code", help="The system's code, as registered in the admin.")
        parser.add_argument("--webhook-secret", action="store_true", help="Also issue a new webhook secret.")

    def handle(self, *args, code, webhook_secret, **options):
        system = ExternalSystem.objects.filter(code=code).first()
        if system is None:
            known = ", ".join(ExternalSystem.objects.values_list("code", flat=True)) or "none"
            raise CommandError(f"No external system with the code {code!r} (registered: {known}).")
        self.stdout.write(f"{system.name} key: {external.rotate_key(actor=None, system=system)}")
        if webhook_secret:
            self.stdout.write(
                f"{system.name} webhook secret: {external.rotate_webhook_secret(actor=None, system=system)}"
            )
