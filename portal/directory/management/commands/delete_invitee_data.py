from __future__ import annotations

import textwrap
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.commands import the_organization
from portal.directory import deletion
from portal.jobs.csvfile import CsvRefused, read_text
from portal.jobs.foreground import start_from_command
from portal.jobs.models import Job, JobItem


class Command(BaseCommand):
    help = (
        "Ask Calendly to delete what it holds about these invitees in every event booked with "
        "the organization (Enterprise), as a data-deletion job: requests of at most "
        f"{deletion.EMAILS_PER_REQUEST} addresses, each recorded in the audit log with "
        f"'{deletion.COMMAND_ACTOR}' as the one who asked. Calendly gives no status afterwards, "
        "so the report and the audit log are the evidence. It cannot be undone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "emails", metavar="EMAIL", nargs="+", help="the invitees whose data to delete"
        )
        parser.add_argument(
            "--org",
            metavar="URI",
            help="the Calendly organization URI (when several are connected)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="show which addresses would go to Calendly, in which requests; send nothing",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="run the job here to the end and print the report with the evidence (no worker "
            "needed); without it the job is queued for the workers and its id printed",
        )

    def handle(
        self,
        *args: Any,
        emails: list[str],
        org: str | None,
        dry_run: bool,
        wait: bool,
        **options: Any,
    ) -> None:
        organization = the_organization(org)
        try:
            preview = deletion.prepare(
                organization=organization,
                addresses=read_text("\n".join(emails)),
                source_name="the command line",
                actor=None,
                actor_label=deletion.COMMAND_ACTOR,
            )
        except CsvRefused as refused:
            raise CommandError(refused.message) from refused
        job = preview.job
        self._plan(job)
        if dry_run:
            job.delete()
            self.stderr.write("Dry run: nothing was sent to Calendly.")
            return
        if not preview.requests:
            job.delete()
            self.stderr.write("No address here can be sent; no job was started.")
            return
        finished = start_from_command(
            job,
            actor_label=deletion.COMMAND_ACTOR,
            wait=wait,
            out=self.stdout.write,
            err=self.stderr.write,
        )
        if finished is None:
            return
        job = finished
        self._report(job)
        self._evidence(job)
        unsure = JobItem.objects.filter(job=job, outcome=deletion.UNCONFIRMED).count()
        self.stdout.write(
            f"Job {job.pk} {job.get_state_display().lower()}: {job.succeeded:,} request(s) "
            f"accepted by Calendly, {unsure:,} may have been sent, {job.failed - unsure:,} "
            f"failed; {job.skipped:,} address(es) skipped."
        )

    def _plan(self, job: Job) -> None:
        self.stderr.write("Before anything is sent:")
        for who, item in _given(job):
            if _is_request(item):
                self.stderr.write(f"  {who}: to send in {_request_name(item)}")
            else:
                self.stderr.write(f"  {who}: {_said(item)}")

    def _report(self, job: Job) -> None:
        """One line per address given, in the order given; what Calendly said is in the
        evidence, once per request."""
        for who, item in _given(job):
            if _is_request(item):
                label = deletion.OUTCOMES.get(item.outcome, item.get_state_display())
                self.stdout.write(f"{who}: {label} ({_request_name(item)}).")
            else:
                self.stdout.write(f"{who}: {_said(item)}")

    def _evidence(self, job: Job) -> None:
        self.stdout.write("")
        self.stdout.write("Evidence (also in the audit log):")
        self.stdout.write(f"  Asked by: {job.created_by_label}")
        started = job.started_at or job.created_at
        self.stdout.write(f"  Job {job.pk}, started {deletion.when(started.isoformat())}")
        for item in _requests(job):
            result = item.result
            self.stdout.write(f"  {item.key[:1].upper()}{item.key[1:]}:")
            self.stdout.write(
                textwrap.fill(
                    ", ".join(_emails(item)),
                    width=100,
                    initial_indent="    ",
                    subsequent_indent="    ",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
            if result.get("status") == deletion.ACCEPTED:
                answer = (
                    f"Calendly answered {deletion.ACCEPTED} (accepted) at "
                    f"{deletion.when(result['requested_at'])}."
                )
            elif item.outcome in (deletion.UNCONFIRMED, ""):
                answer = item.message or "Not sent."
            else:
                answer = f"Not accepted: {item.message}"
            self.stdout.write(f"    {answer}")
            if result.get("earlier_sends"):
                earlier = ", ".join(deletion.when(moment) for moment in result["earlier_sends"])
                self.stdout.write(f"    Also sent before, Calendly's answer unknown: {earlier}.")
        self.stdout.write(
            "  Calendly gives no job id or status for these requests; deleting the data can take "
            "up to 7 days."
        )


def _is_request(item: JobItem) -> bool:
    return "emails" in item.source


def _requests(job: Job) -> list[JobItem]:
    return [item for item in JobItem.objects.filter(job=job) if _is_request(item)]


def _emails(item: JobItem) -> list[str]:
    return [str(email) for email in item.source["emails"]]


def _request_name(item: JobItem) -> str:
    return f"request {item.source['request']}"


def _said(item: JobItem) -> str:
    label = deletion.OUTCOMES.get(item.outcome, item.get_state_display())
    return f"{label}. {item.message}".rstrip()


def _given(job: Job) -> list[tuple[str, JobItem]]:
    """Every address given, as it is named in a report, with its item, in the order given."""
    given: list[tuple[int, str, JobItem]] = []
    for item in JobItem.objects.filter(job=job):
        if _is_request(item):
            given.extend(
                (line, email, item)
                for line, email in zip(item.source["lines"], _emails(item), strict=True)
            )
        else:
            line = int(item.source.get("line", 0))
            given.append((line, f"line {line} ({item.source.get('written', '')!r})", item))
    given.sort(key=lambda row: row[0])
    return [(who, item) for _line, who, item in given]
