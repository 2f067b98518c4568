from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.commands import organizations_for
from portal.links.shares import COMMAND_ACTOR, Refreshed, refresh_shares


class Command(BaseCommand):
    help = (
        "Read the shares' statuses from Calendly now (what the background refresh does) and "
        "print what changed in the link ledger: statuses, shares made outside the portal, "
        "shares deleted in Calendly. A failed listing changes nothing."
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
            self.stdout.write("No organization is connected; nothing to refresh.")
            return
        failed = 0
        for organization in organizations:
            result = refresh_shares(organization=organization, actor_label=COMMAND_ACTOR)
            if not self._report(result):
                failed += 1
        if failed:
            raise CommandError(
                f"{failed} of {len(organizations)} organizations could not be refreshed."
            )

    def _report(self, result: Refreshed) -> bool:
        name = result.organization.name or result.organization.uri
        if result.error:
            self.stderr.write(f"{name}: nothing changed. {result.error}")
            return False
        listed = f"{result.listed} share{'s' * (result.listed != 1)} listed by Calendly"
        if not result.changed:
            self.stdout.write(f"{name}: {listed}; nothing changed.")
        else:
            self.stdout.write(
                f"{name}: {listed}; {result.updated} updated, {result.added} added, "
                f"{result.deleted} marked deleted."
            )
        for line in result.changes:
            self.stdout.write(f"  {line}")
        if result.unreadable:
            self.stdout.write(
                f"  {result.unreadable} listed without a usable address were skipped, so no "
                "share was concluded deleted."
            )
        return True
