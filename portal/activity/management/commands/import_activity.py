from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.commands import organizations_for
from portal.activity.importing import import_activity
from portal.activity.models import ActivityImport


class Command(BaseCommand):
    help = (
        "Import Calendly's activity log in the foreground, as the scheduled import does, and "
        "print how many entries were new and how many were already stored. The first import "
        "reads everything Calendly keeps (90 days); later ones only what is newer."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--org",
            metavar="URI",
            help="the Calendly organization URI; every connected organization when omitted",
        )

    def handle(self, *args: Any, org: str | None, **options: Any) -> None:
        organizations = organizations_for(org)
        if not organizations:
            self.stdout.write("No organization is connected; nothing to import.")
            return
        failed = 0
        for organization in organizations:
            run = import_activity(organization, trigger=ActivityImport.Trigger.COMMAND)
            name = organization.name or organization.uri
            if run.status == ActivityImport.Status.FAILED:
                self.stderr.write(f"{name}: failed. {run.error}")
                failed += 1
            elif run.status == ActivityImport.Status.NOT_ON_PLAN:
                self.stdout.write(f"{name}: nothing imported. {run.error}")
            else:
                since = f" since {run.since:%Y-%m-%d %H:%M:%S} UTC" if run.since else ""
                self.stdout.write(
                    f"{name}: {run.new:,} new, {run.already_had:,} already had{since}."
                )
        if failed:
            raise CommandError(f"{failed} of {len(organizations)} organizations failed to import.")
