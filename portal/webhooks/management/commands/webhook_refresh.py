from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.commands import organizations_for
from portal.webhooks import subscriptions
from portal.webhooks.subscriptions import SubscriptionRefused


class Command(BaseCommand):
    help = (
        "Read the webhook subscriptions of one organization (--org) or every connected one from "
        "Calendly, here rather than in a worker: one request for the organization, one per group "
        "and one per member. A pass that fails changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", metavar="URI", help="the Calendly organization URI")

    def handle(self, *args: Any, org: str | None, **options: Any) -> None:
        failed = 0
        for organization in organizations_for(org):
            try:
                result = subscriptions.refresh(
                    organization, actor_label=subscriptions.REFRESH_COMMAND_ACTOR
                )
            except SubscriptionRefused as refused:
                failed += 1
                self.stderr.write(f"{organization}: nothing changed. {refused.message}")
                continue
            self.stdout.write(
                f"{organization}: {result.listed} listed by Calendly in {result.calls} "
                f"requests; {result.added} new, {result.changed} changed, {result.removed} "
                "marked removed."
            )
            for change in result.changes:
                self.stdout.write(f"  {change}")
        if failed:
            raise CommandError(f"The refresh failed for {failed} organization(s).")
