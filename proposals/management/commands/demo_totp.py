from django.core.management.base import BaseCommand

from proposals.management.commands.seed_demo import demo_totp_code


class Command(BaseCommand):
    help = "Print the current second-factor code of the demo's admin accounts (seed_demo)."

    def handle(self, *args, **options):
        self.stdout.write(demo_totp_code())
