from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.commands import organizations_for
from portal.accounts.models import Organization
from portal.directory.models import SyncRun
from portal.directory.sync import sync_organization


class Command(BaseCommand):
    help = (
        "Sync the organization mirror from Calendly in the foreground and print what was "
        "mirrored and how many Calendly requests it took: 1 for the organization, one per page "
        "of 100 of members, invitations, groups, group memberships, teams and event types, and "
        "one per page of hosts of each pooled (team) event type."
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
            self.stdout.write("No organization is connected; nothing to sync.")
            return
        failed = 0
        for organization in organizations:
            started = time.monotonic()
            run = sync_organization(organization, trigger=SyncRun.Trigger.COMMAND)
            seconds = time.monotonic() - started
            if not self._report(organization, run, seconds):
                failed += 1
        if failed:
            raise CommandError(f"{failed} of {len(organizations)} organizations failed to sync.")

    def _report(self, organization: Organization, run: SyncRun, seconds: float) -> bool:
        name = organization.name or organization.uri
        if run.status == SyncRun.Status.RUNNING:
            self.stdout.write(
                f"{name}: a sync started at {run.started_at:%Y-%m-%d %H:%M:%S} UTC is still "
                "running; not starting another."
            )
            return True
        used = f"{run.calendly_requests:,} Calendly request{'s' * (run.calendly_requests != 1)}"
        if run.status == SyncRun.Status.FAILED:
            self.stderr.write(f"{name}: failed after {seconds:.1f} s ({used}). {run.error}")
            return False
        counts = run.counts
        parts = [
            _count(counts, key, NOUNS[key])
            for key in ("members", "invitations", "groups", "event_types")
        ]
        self.stdout.write(f"{name}: {', '.join(parts)}; {used}; {seconds:.1f} s")
        removed = counts.get("removed") or {}
        if removed:
            listed = ", ".join(_count(removed, key, NOUNS.get(key, key)) for key in removed)
            self.stdout.write(f"  marked removed: {listed}")
        for note in run.notes:
            self.stdout.write(f"  {note}")
        return True


NOUNS = {
    "members": "member",
    "invitations": "invitation",
    "groups": "group",
    "group_relationships": "group membership",
    "teams": "team",
    "event_types": "event type",
}


def _count(counts: dict[str, Any], key: str, noun: str) -> str:
    if key not in counts:
        return f"{noun}s skipped"
    n = int(counts[key])
    return f"{n:,} {noun}{'s' * (n != 1)}"
