from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from portal.accounts.commands import the_organization
from portal.accounts.models import Organization
from portal.directory.models import Group, Member
from portal.webhooks import subscriptions
from portal.webhooks.subscriptions import ANY_SCOPE, EVENTS, SubscriptionRefused


class Command(BaseCommand):
    help = (
        "Subscribe this portal's receiver to webhook events, as the New subscription page does: "
        "a receiving address and signing key of its own, then one Calendly request. Recorded in "
        f"the audit log with '{subscriptions.SUBSCRIBE_COMMAND_ACTOR}' as the one who made it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--events",
            required=True,
            metavar="EVENT[,EVENT…]",
            help=f"the events, separated by commas: {', '.join(EVENTS)}",
        )
        parser.add_argument(
            "--scope", choices=ANY_SCOPE, default="organization", help="default: organization"
        )
        parser.add_argument(
            "--user",
            metavar="EMAIL_OR_URI",
            help="the member whose events a user-scope subscription gets",
        )
        parser.add_argument(
            "--group",
            metavar="NAME_OR_URI",
            help="the group whose events a group-scope subscription gets",
        )
        parser.add_argument(
            "--org",
            metavar="URI",
            help="the Calendly organization URI (when several are connected)",
        )
        parser.add_argument(
            "--base-url",
            metavar="URL",
            help="the address Calendly reaches this portal at (default: PORTAL_BASE_URL)",
        )

    def handle(
        self,
        *args: Any,
        events: str,
        scope: str,
        user: str | None,
        group: str | None,
        org: str | None,
        base_url: str | None,
        **options: Any,
    ) -> None:
        organization = the_organization(org)
        base = _base_url(base_url)
        try:
            row = subscriptions.create(
                organization,
                events=[name for name in events.split(",") if name.strip()],
                scope=scope,
                user_uri=_member(organization, user) if scope == subscriptions.USER else "",
                group_uri=_group(organization, group) if scope == subscriptions.GROUP else "",
                base_url=base,
                actor=None,
                actor_label=subscriptions.SUBSCRIBE_COMMAND_ACTOR,
            )
        except SubscriptionRefused as refused:
            raise CommandError(refused.message) from refused
        owner = row.user_uri or row.group_uri
        self.stdout.write(f"URI: {row.uri}")
        self.stdout.write(f"Callback URL: {row.callback_url}")
        self.stdout.write(f"Events: {', '.join(row.events)}")
        self.stdout.write(f"Scope: {row.scope}{f' ({owner})' if owner else ''}")


def _base_url(given: str | None) -> str:
    base = (given or settings.PORTAL_BASE_URL or "").strip().rstrip("/")
    if not base:
        raise CommandError(
            "The portal does not know the address Calendly can reach it at: pass --base-url "
            "https://portal.example.com, or set PORTAL_BASE_URL."
        )
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(
            f"--base-url takes an address such as https://portal.example.com, not {base}."
        )
    return base


def _member(organization: Organization, wanted: str | None) -> str:
    if not wanted:
        raise CommandError("A subscription with user scope needs --user EMAIL_OR_URI.")
    found = list(
        Member.objects.current()
        .filter(organization=organization)
        .filter(Q(user_uri=wanted) | Q(email__iexact=wanted))
        .values_list("user_uri", flat=True)
        .distinct()[:2]
    )
    if len(found) != 1:
        raise CommandError(
            f"{wanted} is not one of the organization's current members (as last synced)."
            if not found
            else f"More than one member matches {wanted}; give their user URI."
        )
    return found[0]


def _group(organization: Organization, wanted: str | None) -> str:
    if not wanted:
        raise CommandError("A subscription with group scope needs --group NAME_OR_URI.")
    found = list(
        Group.objects.current()
        .filter(organization=organization)
        .filter(Q(uri=wanted) | Q(name__iexact=wanted))
        .values_list("uri", flat=True)[:2]
    )
    if len(found) != 1:
        raise CommandError(
            f"{wanted} is not one of the organization's current groups (as last synced)."
            if not found
            else f"More than one group is named {wanted}; give its URI."
        )
    return found[0]
