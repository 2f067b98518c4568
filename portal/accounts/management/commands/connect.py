from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from portal import audit
from portal.accounts.models import CalendlyRole, Connection, Organization
from portal.calendly.client import CalendlyClient
from portal.calendly.errors import CalendlyError, PermissionDenied, Unauthenticated
from portal.directory.models import SyncRun
from portal.directory.sync import request_sync


class Command(BaseCommand):
    help = (
        "Connect an organization with a personal access token of a Calendly owner or admin "
        "(instead of signing in and choosing 'connect')."
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
            raise CommandError(
                "Calendly refused the token: it is mistyped, revoked or expired. Create a new "
                "one under Integrations > API & Webhooks in Calendly."
            ) from None
        except PermissionDenied as exc:
            raise CommandError(f"Calendly refused: {exc}") from None
        except CalendlyError as exc:
            raise CommandError(f"Could not check the token with Calendly: {exc}") from None

        with transaction.atomic():
            organization, _ = Organization.objects.update_or_create(
                uri=organization_uri, defaults={"name": name}
            )
            previous = Connection.objects.filter(organization=organization).first()
            Connection.objects.update_or_create(
                organization=organization,
                defaults={
                    "kind": Connection.Kind.PERSONAL_ACCESS_TOKEN,
                    "owner_uri": me.uri,
                    "owner_label": me.email,
                    "connected_by": None,
                    "access_token": token,
                    "refresh_token": "",
                    "expires_at": None,
                    "scopes": "",
                    "status": Connection.Status.HEALTHY,
                    "status_detail": "",
                    "missing_scopes": [],
                    "token_version": (previous.token_version + 1) if previous else 0,
                },
            )
            audit.record(
                action=audit.Action.CONNECTED,
                organization=organization,
                actor_label=f"manage.py connect (token of {me.email})",
                target=organization,
                before={"owner": previous.owner_uri, "kind": previous.kind} if previous else None,
                after={
                    "owner": me.uri,
                    "kind": Connection.Kind.PERSONAL_ACCESS_TOKEN,
                    "role": role,
                },
            )
            request_sync(organization, trigger=SyncRun.Trigger.CONNECTED)
        self.stdout.write(
            f"Connected {name or organization_uri} ({organization_uri}) with the personal access "
            f"token of {me.name} <{me.email}>, a Calendly {role}."
        )
