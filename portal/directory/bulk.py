"""Bulk invitations: a file of addresses becomes a previewed job, then invitations, once each.

`prepare` reads the file (streaming, through `portal.jobs.csvfile`) into a draft job: one
item per row, and rows that need no invitation (not an address, a repeat of an earlier row,
someone already a member or already invited, as far as the mirror knows) are settled as
skipped right away, with the reason. The preview is that draft; starting it hands the rest to
the workers, which call `invite_one` for each address.

Idempotence: the first attempt at an address checks the mirror and lets Calendly refuse a
duplicate (it answers "already invited" / "already a member", which settle the item). A
later attempt may follow one that reached Calendly without our hearing back (a worker killed
after sending, a lost answer), so it reads Calendly first (pending invitations and
memberships for that address) and sends only when neither exists.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower

from portal import audit
from portal.accounts.models import Organization, User
from portal.calendly import errors
from portal.calendly.client import CalendlyClient
from portal.directory.actions import store_invitation
from portal.directory.models import Invitation, Member
from portal.jobs import engine, kinds
from portal.jobs.csvfile import Address
from portal.jobs.models import Job, JobItem

KIND = "bulk_invite"
COMMAND_ACTOR = "manage.py bulk_invite"
# Rows written per INSERT while reading a file: memory stays flat however long the file is.
CHUNK = 1000

INVITED = "invited"
INVALID = "invalid"
DUPLICATE = "duplicate"
ALREADY_MEMBER = "already_member"
ALREADY_INVITED = "already_invited"

OUTCOMES = {
    INVITED: "Invited",
    INVALID: "Not an address",
    DUPLICATE: "Repeated in the file",
    ALREADY_MEMBER: "Already a member",
    ALREADY_INVITED: "Already invited",
    "to_invite": "To invite",
    "failed": "Failed",
    "gave_up": "Failed",
    "error": "Failed",
    "cancelled": "Cancelled",
}


@dataclass(frozen=True)
class Preview:
    job: Job
    counts: Counter[str]

    @property
    def to_invite(self) -> int:
        return self.counts["to_invite"]


def prepare(
    *,
    organization: Organization,
    addresses: Iterable[Address],
    source_name: str,
    actor: User | None,
    actor_label: str = "",
) -> Preview:
    """Write a draft job for `addresses` (raises `CsvRefused` from the reader, and then
    nothing is kept)."""
    members = _addresses(Member.objects.current().filter(organization=organization))
    pending = _addresses(
        Invitation.objects.current().filter(
            organization=organization, status=Invitation.Status.PENDING
        )
    )
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    with transaction.atomic():
        job = Job.objects.create(
            organization=organization,
            kind=KIND,
            label=f"Invite people from {source_name}"[:500],
            created_by=actor,
            created_by_label=audit.describe(actor) if actor is not None else actor_label,
            parameters={"source": source_name},
        )
        batch: list[JobItem] = []
        position = 0
        for address in addresses:
            position += 1
            item = _item(job, position, address, members, pending, seen)
            counts[item.outcome or "to_invite"] += 1
            batch.append(item)
            if len(batch) >= CHUNK:
                JobItem.objects.bulk_create(batch)
                batch.clear()
        JobItem.objects.bulk_create(batch)
        job.total = position
        job.skipped = position - counts["to_invite"]
        job.save(update_fields=["total", "skipped"])
    return Preview(job=job, counts=counts)


def _addresses(rows: QuerySet[Any]) -> set[str]:
    return set(rows.annotate(address=Lower("email")).values_list("address", flat=True))


def _item(
    job: Job,
    position: int,
    address: Address,
    members: set[str],
    pending: set[str],
    seen: set[str],
) -> JobItem:
    source = {"line": address.line, "written": address.raw}
    settled = ""
    message = address.problem or ""
    if address.problem:
        settled = DUPLICATE if address.email and address.email in seen else INVALID
    else:
        # Every usable address, members' and invited ones too: a later row repeating one is a
        # repeat, not "not an address".
        seen.add(address.email)
        if address.email in members:
            settled, message = ALREADY_MEMBER, "Already a member of the organization."
        elif address.email in pending:
            settled, message = ALREADY_INVITED, "Already invited; the invitation is still pending."
    if not settled:
        return JobItem(job=job, position=position, key=address.email, source=source)
    return JobItem(
        job=job,
        position=position,
        # Unique in the job: a repeated or broken row is its line, not its address.
        key=f"line {address.line}",
        source=source,
        state=JobItem.State.SKIPPED,
        outcome=settled,
        message=message,
    )


# -- the workers' half ----------------------------------------------------------------------


@contextmanager
def _open(job: Job) -> Iterator[kinds.DoItem]:
    with engine.calendly_client(job) as client:
        yield partial(invite_one, client, job.organization)


def invite_one(client: CalendlyClient, organization: Organization, item: JobItem) -> kinds.Outcome:
    email = item.key
    doing = f"inviting {email}"
    try:
        if item.attempts > 1:
            found = _already_on_calendly(client, organization, email)
            if found is not None:
                return found
        else:
            known = _in_mirror(organization, email)
            if known is not None:
                return known
        sent = client.invite_user_to_organization(organization=organization.uri, email=email)
    except errors.AlreadyOrganizationMember as error:
        return kinds.Outcome(JobItem.State.SKIPPED, ALREADY_MEMBER, errors.explain(error))
    except errors.AlreadyInvited as error:
        return kinds.Outcome(JobItem.State.SKIPPED, ALREADY_INVITED, errors.explain(error))
    except (errors.BadRequest, errors.NotFound, errors.Conflict) as error:
        # About this address (Calendly would not take it), not about the job.
        return kinds.Outcome(
            JobItem.State.FAILED, "failed", errors.explain(error, doing=doing, changing=True)
        )
    except errors.CalendlyError as error:
        raise engine.calendly_failure(organization, error, doing=doing) from error
    invitation = store_invitation(organization, sent)
    return _invited(invitation, "Invited; Calendly has emailed the invitation.")


def _invited(invitation: Invitation, message: str) -> kinds.Outcome:
    return kinds.Outcome(
        JobItem.State.DONE,
        INVITED,
        message,
        result={"invitation": invitation.uri},
        audit_action=audit.Action.INVITED,
        audit_target=invitation,
    )


def _in_mirror(organization: Organization, email: str) -> kinds.Outcome | None:
    if Member.objects.current().filter(organization=organization, email__iexact=email).exists():
        return kinds.Outcome(
            JobItem.State.SKIPPED, ALREADY_MEMBER, "Already a member of the organization."
        )
    if (
        Invitation.objects.current()
        .filter(organization=organization, status=Invitation.Status.PENDING, email__iexact=email)
        .exists()
    ):
        return kinds.Outcome(
            JobItem.State.SKIPPED,
            ALREADY_INVITED,
            "Already invited; the invitation is still pending.",
        )
    return None


def _already_on_calendly(
    client: CalendlyClient, organization: Organization, email: str
) -> kinds.Outcome | None:
    """After an attempt that may have reached Calendly: what Calendly already has."""
    wanted = email.casefold()
    for sent in client.list_organization_invitations(
        organization=organization.uri, email=email, status="pending"
    ):
        if sent.email.casefold() == wanted:
            invitation = store_invitation(organization, sent)
            return _invited(
                invitation,
                "Invited; an earlier attempt had reached Calendly, so nothing was sent again.",
            )
    for membership in client.list_organization_memberships(
        organization=organization.uri, email=email
    ):
        if membership.user.email.casefold() == wanted:
            return kinds.Outcome(
                JobItem.State.SKIPPED, ALREADY_MEMBER, "Already a member of the organization."
            )
    return None


kinds.register(
    kinds.Kind(
        name=KIND,
        label="Bulk invitation",
        noun="row",
        open=_open,
        requests_per_item=1.0,
        outcomes=OUTCOMES,
        to_do="To invite",
        plural="rows",
        verb="Invite",
        will="will be invited",
    )
)
