from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.accounts.commands import the_organization
from portal.directory import offboarding
from portal.jobs.csvfile import CsvRefused, read_text
from portal.jobs.foreground import start_from_command
from portal.jobs.models import Job, JobItem


class Command(BaseCommand):
    help = (
        "Offboard people from the organization, as an offboarding job: revoke their pending "
        "invitations and remove their membership, recorded in the audit log with "
        f"'{offboarding.COMMAND_ACTOR}' as the one who started it. Prints a report naming every "
        "address given, with what is left to do in Calendly by hand."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("emails", metavar="EMAIL", nargs="+", help="the people to offboard")
        parser.add_argument(
            "--org",
            metavar="URI",
            help="the Calendly organization URI (when several are connected)",
        )
        parser.add_argument(
            "--delete-invitee-data",
            action="store_true",
            help="also ask Calendly to delete their data as invitees (Enterprise), as a "
            "data-deletion request started with the offboarding",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="show each person's inventory and what would happen; change nothing",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="run the job here to the end and print the report (no worker needed); without "
            "it the job is queued for the workers and its id printed",
        )

    def handle(
        self,
        *args: Any,
        emails: list[str],
        org: str | None,
        dry_run: bool,
        wait: bool,
        delete_invitee_data: bool = False,
        **options: Any,
    ) -> None:
        organization = the_organization(org)
        try:
            preview = offboarding.prepare(
                organization=organization,
                addresses=read_text("\n".join(emails)),
                source_name="the command line",
                actor=None,
                actor_label=offboarding.COMMAND_ACTOR,
                delete_invitee_data=delete_invitee_data and not dry_run,
            )
        except CsvRefused as refused:
            raise CommandError(refused.message) from refused
        job = preview.job
        self._inventory(job)
        if dry_run:
            job.delete()
            self.stderr.write("Dry run: nothing was changed.")
            return
        if not preview.to_offboard:
            self._report(job)
            _discard(job)
            self.stderr.write("Nobody here can be offboarded; no job was started.")
            return
        finished = start_from_command(
            job,
            actor_label=offboarding.COMMAND_ACTOR,
            wait=wait,
            out=self.stdout.write,
            err=self.stderr.write,
            discard=_discard,
        )
        linked = job.parameters.get("deletion_job")
        if linked:
            self.stderr.write(
                f"Their data as invitees: data-deletion request job {linked} runs in the "
                "background (its page has the evidence)."
            )
        if finished is None:
            return
        job = finished
        self._report(job)
        self.stdout.write(
            f"Job {job.pk} {job.get_state_display().lower()}: {job.succeeded:,} offboarded, "
            f"{job.failed:,} failed, {job.skipped:,} skipped."
        )

    def _inventory(self, job: Job) -> None:
        self.stderr.write("Before anything is changed, from the mirror:")
        for item in JobItem.objects.filter(job=job).order_by("position"):
            self.stderr.write(f"  {_who(item)}: {_holdings(item)}")

    def _report(self, job: Job) -> None:
        """One paragraph per address given, in the order given."""
        for item in JobItem.objects.filter(job=job).order_by("position"):
            label = offboarding.OUTCOMES.get(item.outcome, item.get_state_display())
            self.stdout.write(f"{_who(item)}: {label}. {item.message}")
            for step in item.result.get("to_do_in_calendly", []):
                self.stdout.write(f"  - {step}")


def _discard(job: Job) -> None:
    """Drop a draft that will not run, with the data-deletion draft made alongside it."""
    Job.objects.filter(pk=job.parameters.get("deletion_job"), state=Job.State.DRAFT).delete()
    job.delete()


def _who(item: JobItem) -> str:
    written = str(item.source.get("written") or item.key)
    return written if "@" in item.key else f"line {item.source.get('line')} ({written!r})"


def _holdings(item: JobItem) -> str:
    if item.state == JobItem.State.SKIPPED:
        return item.message
    found = item.source.get("inventory") or {}
    pending = found.get("pending_invitations", 0)
    if "role" not in found:
        invited = f"{pending} pending invitation(s)" if pending else "nothing known here"
        return f"not a member in the mirror; {invited}; Calendly is checked before anything is done"
    parts = [f"{found['name']} ({found['role']})"]
    if found.get("event_types"):
        parts.append("event types: " + ", ".join(found["event_types"]))
    if found.get("pools"):
        parts.append("hosts in pools: " + ", ".join(found["pools"]))
    if pending:
        parts.append(f"{pending} pending invitation(s)")
    if found.get("links"):
        parts.append(f"{found['links']} active link(s) handed out in their name")
    return "; ".join(parts)
