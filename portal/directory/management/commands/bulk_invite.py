from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.commands import the_organization
from portal.directory import bulk
from portal.jobs.csvfile import CsvRefused, read_addresses
from portal.jobs.foreground import start_from_command
from portal.jobs.models import Job, JobItem


class Command(BaseCommand):
    help = (
        "Invite the addresses in a CSV file to the organization, as a bulk invitation job: the "
        "same preview and the same job as Members > Invite from a file, recorded in the audit "
        f"log with '{bulk.COMMAND_ACTOR}' as the one who started it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="a CSV file (UTF-8) with an email column")
        parser.add_argument(
            "--org",
            metavar="URI",
            help="the Calendly organization URI (when several are connected)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would happen; send nothing"
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="run the job here to the end and show progress (no worker needed); without it "
            "the job is queued for the workers and its id printed",
        )

    def handle(
        self, *args: Any, file: str, org: str | None, dry_run: bool, wait: bool, **options: Any
    ) -> None:
        organization = the_organization(org)
        path = Path(file)
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
        with stream:
            try:
                preview = bulk.prepare(
                    organization=organization,
                    addresses=read_addresses(stream),
                    source_name=path.name,
                    actor=None,
                    actor_label=bulk.COMMAND_ACTOR,
                )
            except CsvRefused as refused:
                raise CommandError(refused.message) from refused
        job = preview.job
        self._summary(job, preview)
        if dry_run:
            job.delete()
            self.stderr.write("Dry run: nothing was sent.")
            return
        if not preview.to_invite:
            job.delete()
            self.stderr.write("Nobody in this file needs an invitation; no job was started.")
            return
        # With --wait this process does the work; the workers are told only otherwise (and the
        # sweeper hands the job to them should this process die).
        finished = start_from_command(
            job,
            actor_label=bulk.COMMAND_ACTOR,
            wait=wait,
            out=self.stdout.write,
            err=self.stderr.write,
        )
        if finished is None:
            return
        self.stdout.write(
            f"Job {finished.pk} {finished.get_state_display().lower()}: "
            f"{finished.succeeded:,} invited, {finished.failed:,} failed, "
            f"{finished.skipped:,} skipped."
        )
        if finished.failed:
            self.stderr.write(
                f"Failed items and why: /jobs/{finished.pk}/results.csv, or the job's page."
            )

    def _summary(self, job: Job, preview: bulk.Preview) -> None:
        self.stderr.write(f"{job.total:,} rows read: {preview.to_invite:,} to invite.")
        for outcome, count in sorted(preview.counts.items()):
            if outcome != "to_invite":
                self.stderr.write(f"  {bulk.OUTCOMES.get(outcome, outcome)}: {count:,}")
        for item in JobItem.objects.filter(job=job, outcome=bulk.INVALID)[:20]:
            self.stderr.write(f"  line {item.source.get('line')}: {item.message}")
