from django.core.management.base import BaseCommand

from gov_platform.demo import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = "Create or refresh the model district 370702 with its organisation, posts and demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD, help="Password of every demo login.")

    def handle(self, *args, password, **options):
        summary = seed_demo(password=password)
        self.stdout.write(
            "Areas: "
            + ", ".join(f"{tier} {count}" for tier, count in summary.areas.items())
            + f"; departments {summary.departments}; party organisations {summary.party_organizations};"
            f" responsibility-list entries {summary.categories}; users {summary.users}; posts {summary.posts}."
        )
        self.stdout.write("Demo logins (username / password):")
        for username, label, pw in summary.logins:
            self.stdout.write(f"  {username:<18} {pw:<12} {label}")
