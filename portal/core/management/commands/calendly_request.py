"""`manage.py calendly_request METHOD PATH`: any Calendly call, with the organization's own
connection, for operators and for what the portal has no page for yet."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal import audit
from portal.accounts.commands import the_organization
from portal.accounts.connections import client_for, note_failure
from portal.calendly import errors

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
ACTOR = "manage.py calendly_request"


class Command(BaseCommand):
    help = (
        "Send one request to Calendly's API with the organization's connection, through the "
        "portal's client (shared rate limit, retries, token renewal), and print the JSON "
        "answer. PATH is a path on the API host, such as /users/me or "
        "'/scheduled_events?organization=…&count=5'. Recorded in the audit log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("method", choices=METHODS, type=str.upper, help="the HTTP method")
        parser.add_argument("path", help="the API path, with its query string if any")
        parser.add_argument("--data", metavar="JSON", help="the request body, as JSON")
        parser.add_argument("--org", metavar="URI", help="the organization, when several")

    def handle(
        self, *args: Any, method: str, path: str, data: str | None, org: str | None, **_: Any
    ) -> None:
        organization = the_organization(org)
        parts = urlsplit(path)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            raise CommandError(
                f"PATH is a path on Calendly's API host, such as /users/me, not {path!r}."
            )
        try:
            body = json.loads(data) if data is not None else None
        except json.JSONDecodeError as bad:
            raise CommandError(f"--data is not JSON: {bad}") from None
        if body is not None and method in ("GET", "DELETE"):
            raise CommandError(f"A {method} request takes no --data.")
        changing = method != "GET"
        # A change is on record even when Calendly's answer is lost: written before sending.
        entry = {"method": method, "path": parts.path, "query": parts.query}
        if changing:
            audit.record(
                action=audit.Action.CALENDLY_REQUEST_SENT,
                organization=organization,
                actor_label=ACTOR,
                target_type="calendly.path",
                target_id=parts.path[:255],
                after={**entry, "body": body},
            )
        try:
            with client_for(organization) as client:
                answer = client.raw_request(
                    method=method,
                    path=parts.path,
                    params=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    json=body,
                )
        except errors.CalendlyError as error:
            note_failure(organization, error)
            doing = f"sending {method} {parts.path}"
            raise CommandError(errors.explain(error, doing=doing, changing=changing)) from None
        if not changing:
            audit.record(
                action=audit.Action.CALENDLY_REQUEST_SENT,
                organization=organization,
                actor_label=ACTOR,
                target_type="calendly.path",
                target_id=parts.path[:255],
                after=entry,
            )
        if answer is None:
            self.stderr.write(f"{method} {parts.path}: done; Calendly answered with no body.")
            return
        self.stdout.write(json.dumps(answer, indent=2, ensure_ascii=False))
