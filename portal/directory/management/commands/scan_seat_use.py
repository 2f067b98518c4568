from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.commands import organizations_for
from portal.directory.models import Member, SeatScan
from portal.directory.seats import scan_seat_use, with_use


class Command(BaseCommand):
    help = (
        "Scan the organization's scheduled events in the foreground, as the daily scan does, "
        "and print how many meetings were read and how many members hosted none in 90 days. "
        "The first scan reads the last 90 days; later ones only what started since."
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
            self.stdout.write("No organization is connected; nothing to scan.")
            return
        failed = 0
        for organization in organizations:
            scan = scan_seat_use(organization, trigger=SeatScan.Trigger.COMMAND)
            name = organization.name or organization.uri
            if scan.status == SeatScan.Status.FAILED:
                self.stderr.write(f"{name}: failed. {scan.error}")
                failed += 1
                continue
            members = with_use(
                Member.objects.current().filter(organization=organization), organization.pk
            )
            hosted = [m.hosted for m in members.iterator()]  # type: ignore[attr-defined]
            idle = hosted.count(0)
            self.stdout.write(
                f"{name}: {scan.meetings_read:,} meetings read, {scan.meetings_new:,} new, "
                f"from {scan.scanned_from:%Y-%m-%d %H:%M} UTC; {idle:,} of {len(hosted):,} "
                "members hosted no meeting in 90 days."
            )
        if failed:
            raise CommandError(f"{failed} of {len(organizations)} organizations failed to scan.")
