from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.models import Organization
from portal.links import single_use
from portal.links.issue import LinkRefused


class Command(BaseCommand):
    help = (
        "Make a single-use link (one booking) for an event type and print its booking URL. "
        "Makes exactly one Calendly request and records the link in the portal's ledger, with "
        f"'{single_use.COMMAND_ACTOR}' as the one who made it, as the New link page does."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--event-type",
            required=True,
            metavar="URI_OR_SCHEDULING_URL",
            help="the event type's Calendly URI or its scheduling link, as synced to the portal",
        )
        parser.add_argument(
            "--for",
            dest="for_whom",
            default="",
            metavar="TEXT",
            help="who the link is for: a customer's email address, or else a ticket reference",
        )
        parser.add_argument(
            "--org",
            metavar="URI",
            help="the Calendly organization URI, when the event type could be in more than one",
        )

    def handle(
        self, *args: Any, event_type: str, for_whom: str, org: str | None, **options: Any
    ) -> None:
        organization = None
        if org:
            organization = Organization.objects.filter(uri=org).first()
            if organization is None:
                raise CommandError(f"No organization with URI {org} uses the portal.")
        if len(for_whom) > 254 or "\x00" in for_whom:
            raise CommandError(
                "--for takes an email address or a ticket reference of at most 254 characters."
            )
        try:
            found = single_use.find_event_type(event_type, organization)
            row = single_use.create(
                organization=found.organization,
                event_type=found,
                for_whom=single_use.ForWhom.parse(for_whom),
                actor=None,
            )
        except LinkRefused as refused:
            raise CommandError(refused.message) from refused
        # The URL alone on stdout, so scripts can take it; the rest on stderr.
        self.stdout.write(row.booking_url)
        whom = row.customer or row.ticket
        self.stderr.write(
            f"Single-use link for {row.event_type_name or row.event_type_uri}"
            f"{f' ({row.rep_name})' if row.rep_name else ''}"
            f"{f', for {whom}' if whom else ''}; recorded in the ledger as entry {row.pk}."
        )
