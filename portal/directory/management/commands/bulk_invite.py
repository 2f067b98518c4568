from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.commands import organizations_for
from portal.directory import bulk
from portal.jobs import engine
from portal.jobs.csvfile import CsvRefused, read_addresses
from portal.jobs.foreground import run_here
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
        organizations = organizations_for(org)
        if not organizations:
            raise CommandError(
                "No organization is connected; connect one first (manage.py connect)."
            )
        if len(organizations) > 1:
            raise CommandError(
                "Several organizations are connected; say which with --org URI: "
                + ", ".join(o.uri for o in organizations)
            )
        organization = organizations[0]
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
        engine.start(job, actor=None, actor_label=bulk.COMMAND_ACTOR, hand_over=not wait)
        if not wait:
            # The id alone on stdout, so scripts can take it; the rest on stderr.
            self.stdout.write(str(job.pk))
            self.stderr.write(
                f"Job {job.pk} queued for the workers; follow it on its page (/jobs/{job.pk})."
            )
            return
        self._run_here(job)

    def _summary(self, job: Job, preview: bulk.Preview) -> None:
        self.stderr.write(f"{job.total:,} rows read: {preview.to_invite:,} to invite.")
        for outcome, count in sorted(preview.counts.items()):
            if outcome != "to_invite":
                self.stderr.write(f"  {bulk.OUTCOMES.get(outcome, outcome)}: {count:,}")
        for item in JobItem.objects.filter(job=job, outcome=bulk.INVALID)[:20]:
            self.stderr.write(f"  line {item.source.get('line')}: {item.message}")

    def _run_here(self, job: Job) -> None:
        """The workers' code path, in this process, until the job is done."""
        job = run_here(job, say=self.stderr.write)
        if job.state == Job.State.PAUSED:
            # Blocked (no seats, connection broken): the reason says what to fix.
            raise CommandError(
                f"Job {job.pk} is paused: {job.state_reason} Resume it on its page, or "
                "run this command again after fixing the cause."
            )
        self.stdout.write(
            f"Job {job.pk} {job.get_state_display().lower()}: {job.succeeded:,} invited, "
            f"{job.failed:,} failed, {job.skipped:,} skipped."
        )
        if job.failed:
            self.stderr.write(
                f"Failed items and why: /jobs/{job.pk}/results.csv, or the job's page."
            )
