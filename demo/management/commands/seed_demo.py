"""manage.py seed_demo: the model district, its logins and (once) sample cases."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cases.models import Case
from demo.appraisal import record_appraisals
from demo.bulk import seed_bulk
from demo.district import DEMO_PASSWORD, DEMO_TOTP_SECRET, DISTRICT_CODE, record_safety_index, seed_demo
from demo.mediation import seed_mediation, seed_training
from demo.systems import seed_systems
from demo.visits import seed_visits


class Command(BaseCommand):
    help = "Create or refresh the model district 370702 with its organisation, posts and demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD, help="Password of every demo login.")
        parser.add_argument(
            "--cases",
            type=int,
            default=3000,
            help="Sample cases over the last six months, added only while the district has none (0: none).",
        )

    def handle(self, *args, password, cases, **options):
        if cases < 0:
            raise CommandError("--cases cannot be negative.")
        try:
            summary = seed_demo(password=password)
        except ValidationError as refused:
            raise CommandError("--password: " + " ".join(refused.messages)) from None
        self.stdout.write(
            "Areas: "
            + ", ".join(f"{tier} {count}" for tier, count in summary.areas.items())
            + f"; departments {summary.departments}; party organisations {summary.party_organizations};"
            f" responsibility-list entries {summary.categories}; users {summary.users}; posts {summary.posts}."
        )
        self.stdout.write("Demo logins (username / password):")
        for username, label, pw in summary.logins:
            self.stdout.write(f"  {username:<18} {pw:<12} {label}")
        self.stdout.write("Connected systems (API key for `Authorization: System <key>`; webhook secret):")
        for name, key, secret in seed_systems(DISTRICT_CODE):
            self.stdout.write(f"  {name:<10} {key}  {secret or '-'}")
        self.stdout.write("  A new key: `manage.py issue_system_key <code>` (the old one stops working).")
        if summary.otp_logins:
            self.stdout.write(
                f"Two-factor login for {', '.join(summary.otp_logins)}: after the password, enter the code of an"
                f" authenticator app set up with the key {DEMO_TOTP_SECRET},"
                " or print the current code with `manage.py demo_otp <username>`."
            )
        if cases and not Case.objects.exists():
            totals = seed_bulk(cases=cases, months=6)
            self.stdout.write(f"Sample cases: {totals['cases']} in every state, with their history.")
        visits = seed_visits(months=2)
        if visits["visits"]:
            self.stdout.write(
                f"Patrols and household visits: {visits['visits']} over two months"
                f" ({visits['cases']} sample cases linked to them); {visits['linked']} households looked after"
                " by party-member households."
            )
        mediated = seed_mediation()
        courses, attended = seed_training()
        if mediated or courses:
            self.stdout.write(
                f"Mediation records on {mediated} dispute cases; {courses} training courses with {attended}"
                " attendance rows over the last year (some grid workers are due)."
            )
        recorded = record_safety_index(months=6)
        if recorded:
            self.stdout.write(f"Safety index recorded for {', '.join(f'{m:%Y-%m}' for m in recorded)}.")
        appraised = record_appraisals(months=6)
        if appraised:
            self.stdout.write(f"Appraisal recorded for {', '.join(f'{m:%Y-%m}' for m in appraised)}.")
