from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.commands import the_organization
from portal.webhooks import subscriptions
from portal.webhooks.models import Subscription
from portal.webhooks.subscriptions import SubscriptionRefused


class Command(BaseCommand):
    help = (
        "Delete every webhook subscription that delivers to this deployment (its own receiving "
        "addresses, or any URL under PORTAL_BASE_URL/hooks/calendly), for taking it down or "
        "moving it. Reads the subscriptions from Calendly first. Without --yes, only lists what "
        "would go; with it, deletes each, recorded in the audit log with "
        f"'{subscriptions.UNSUBSCRIBE_ALL_COMMAND_ACTOR}' as the one who deleted it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--org",
            metavar="URI",
            help="the Calendly organization URI (when several are connected)",
        )
        parser.add_argument("--yes", action="store_true", help="delete them (default: only list)")

    def handle(self, *args: Any, org: str | None, yes: bool, **options: Any) -> None:
        organization = the_organization(org)
        actor = subscriptions.UNSUBSCRIBE_ALL_COMMAND_ACTOR
        try:
            subscriptions.refresh(organization, actor=None, actor_label=actor)
        except SubscriptionRefused as refused:
            raise CommandError(f"Nothing was deleted. {refused.message}") from refused
        doomed = list(subscriptions.at_this_deployment(organization))
        if not doomed:
            self.stdout.write("No subscription delivers to this deployment; nothing to delete.")
            return
        if not yes:
            self.stdout.write(f"{_count(len(doomed))} deliver to this deployment:")
            for row in doomed:
                self.stdout.write(f"  {_line(row)}")
            self.stdout.write("Nothing was deleted; run again with --yes to delete them.")
            return
        done = subscriptions.unsubscribe_all(organization, doomed, actor=None, actor_label=actor)
        for each in done:
            if each.problem:
                self.stderr.write(f"Not deleted: {_line(each.row)}. {each.problem}")
            else:
                self.stdout.write(f"Deleted: {_line(each.row)}")
        failed = sum(1 for each in done if each.problem)
        if failed:
            raise CommandError(f"{_count(failed)} could not be deleted; see above.")
        self.stdout.write(f"Deleted {_count(len(done)).lower()}.")


def _count(number: int) -> str:
    return f"{number} subscription{'s' if number != 1 else ''}"


def _line(row: Subscription) -> str:
    owner = f" {row.user_uri or row.group_uri}" if row.user_uri or row.group_uri else ""
    return (
        f"{row.callback_url} ({row.scope}{owner}; {', '.join(row.events)}; {row.state}) {row.uri}"
    )
