from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.actions import store_connection
from portal.accounts.models import CalendlyRole, Connection, Organization
from portal.calendly.client import CalendlyClient
from portal.calendly.errors import CalendlyError, Unauthenticated, explain
from portal.directory.models import SyncRun
from portal.directory.tasks import request_sync


class Command(BaseCommand):
    # Here rather than in accounts, like the connect page in portal/connect_views.py: connecting
    # stores the connection (accounts) and then asks for the first sync (the directory).
    help = (
        "Connect an organization with a personal access token of a Calendly owner or admin "
        "(instead of signing in and choosing 'connect'), and ask for its first sync."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--token",
            help="the personal access token; asked for when omitted, so it stays "
            "out of the shell history",
        )

    def handle(self, *args: Any, token: str | None, **options: Any) -> None:
        token = (token or getpass.getpass("Calendly personal access token: ")).strip()
        if not token:
            raise CommandError("No token given.")
        try:
            with CalendlyClient(token=token) as client:
                me = client.get_current_user()
                organization_uri = me.current_organization
                if not organization_uri:
                    raise CommandError(f"{me.name} <{me.email}> is not in a Calendly organization.")
                memberships = list(
                    client.list_organization_memberships(user=me.uri, organization=organization_uri)
                )
                role = memberships[0].role if memberships else ""
                if role not in (CalendlyRole.OWNER, CalendlyRole.ADMIN):
                    raise CommandError(
                        f"{me.name} <{me.email}> is a Calendly {role or 'non-member'} of "
                        f"{organization_uri}. The portal needs the token of an owner or admin: "
                        "only they may manage members, invitations and webhooks."
                    )
                name = client.get_organization(organization=organization_uri).name or ""
        except Unauthenticated:
            # About the token typed here, not about a stored connection.
            raise CommandError(
                "Calendly refused the token: it is mistyped, revoked or expired. Create a new "
                "one under Integrations > API & Webhooks in Calendly."
            ) from None
        except CalendlyError as exc:
            raise CommandError(explain(exc, doing="checking the token")) from None

        organization, _ = Organization.objects.update_or_create(
            uri=organization_uri, defaults={"name": name}
        )
        store_connection(
            organization,
            kind=Connection.Kind.PERSONAL_ACCESS_TOKEN,
            owner_uri=me.uri,
            owner_label=me.email,
            access_token=token,
            actor_label=f"manage.py connect (token of {me.email}, a Calendly {role})",
        )
        request_sync(organization, trigger=SyncRun.Trigger.CONNECTED)
        self.stdout.write(
            f"Connected {name or organization_uri} ({organization_uri}) with the personal access "
            f"token of {me.name} <{me.email}>, a Calendly {role}."
        )
