from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal import csvexport
from portal.accounts.models import Organization
from portal.jobs.foreground import start_from_command
from portal.jobs.models import JobItem
from portal.links import bulk, single_use
from portal.links.issue import LinkRefused


class Command(BaseCommand):
    help = (
        "Make one single-use link per customer in FILE (a line each: an email address, then "
        "optionally a ticket reference) for one event type, as a job: the same preview and job "
        "as 'Links for a list of customers' on New link, each link in the ledger with "
        f"'{bulk.COMMAND_ACTOR}' as its maker. With --wait, prints customer,ticket,link as CSV "
        "for a mail merge."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="the customers, one per line (UTF-8)")
        parser.add_argument(
            "--event-type",
            required=True,
            metavar="URI_OR_SCHEDULING_URL",
            help="the event type's Calendly URI or its scheduling link, as synced to the portal",
        )
        parser.add_argument(
            "--org",
            metavar="URI",
            help="the Calendly organization URI, when the event type could be in more than one",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would happen; make nothing"
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="run the job here to the end (no worker needed) and print the links as CSV",
        )

    def handle(
        self,
        *args: Any,
        file: str,
        event_type: str,
        org: str | None,
        dry_run: bool,
        wait: bool,
        **options: Any,
    ) -> None:
        organization = None
        if org:
            organization = Organization.objects.filter(uri=org).first()
            if organization is None:
                raise CommandError(f"No organization with URI {org} uses the portal.")
        try:
            text = Path(file).read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{file} is not UTF-8 text; save it as UTF-8 and try again."
            ) from exc
        try:
            found = single_use.find_event_type(event_type, organization)
            preview = bulk.prepare(
                organization=found.organization,
                event_type=found,
                text=text,
                actor=None,
                actor_label=bulk.COMMAND_ACTOR,
            )
        except LinkRefused as refused:
            raise CommandError(refused.message) from refused
        job = preview.job
        self.stderr.write(f"{job.total:,} lines read: {preview.to_make:,} links to make.")
        for item in JobItem.objects.filter(job=job, state=JobItem.State.SKIPPED):
            self.stderr.write(f"  line {item.source.get('line')}: {item.message}")
        if dry_run or not preview.to_make:
            job.delete()
            self.stderr.write("Dry run: nothing was made." if dry_run else "No link to make.")
            return
        finished = start_from_command(
            job,
            actor_label=bulk.COMMAND_ACTOR,
            wait=wait,
            out=self.stdout.write,
            err=self.stderr.write,
        )
        if finished is None:
            return
        made = JobItem.objects.filter(job=finished, outcome=bulk.MADE).order_by("position")
        rows = (
            [item.source.get("customer"), item.source.get("ticket"), item.result["booking_url"]]
            for item in made
        )
        for line in csvexport.lines(["customer", "ticket", "link"], rows):
            self.stdout.write(line, ending="")
        self.stderr.write(
            f"Job {finished.pk}: {finished.succeeded:,} links made, {finished.failed:,} failed, "
            f"{finished.skipped:,} lines skipped; each link is in the ledger."
        )
