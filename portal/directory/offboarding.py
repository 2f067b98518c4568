"""Offboarding: people leave the organization as a job, each safe to do again.

`prepare` turns a list of addresses into a draft job with one item per person and, from the
mirror, an inventory of what they leave behind (their membership and role, pending
invitations, active event types, the round robin and collective pools they host, links handed
out in their name). Addresses that are not addresses, repeats, the owner and the person
whose connection the portal uses are settled at once, with the reason. Starting the draft
hands the rest to the workers, which call `offboard_one` for each person:

1. revoke their pending invitations;
2. remove their membership (Calendly refuses the owner and the connection's own user);
3. bring the mirror up to date, end their portal access, and record each change.

Idempotence: every attempt reads Calendly first (pending invitations and memberships for the
address) and changes only what is still there, so an attempt after one that reached Calendly
without our hearing back (a worker killed after sending) finds the work done and records it
without a second request. Calendly answering 404 to a removal or a revocation means it is
already gone. What Calendly's API cannot do (drop the paid seat, reassign event types, tidy
groups) is the report's checklist.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from portal import audit
from portal.accounts.connections import client_for
from portal.accounts.models import Connection, Organization, User
from portal.calendly import errors
from portal.calendly.client import CalendlyClient
from portal.calendly.schemas import OrganizationInvitation, OrganizationMembership
from portal.core.text import storable
from portal.directory import deletion
from portal.directory.mirror import mirror_changed
from portal.directory.models import EventType, Invitation, Member
from portal.jobs import engine, kinds
from portal.jobs.csvfile import Address
from portal.jobs.models import Job, JobItem
from portal.links.models import IssuedLink

KIND = "offboard"
COMMAND_ACTOR = "manage.py deprovision"

REMOVED = "removed"
INVITATION_REVOKED = "invitation_revoked"
NOT_IN_ORGANIZATION = "not_in_organization"
OWNER = "owner"
CONNECTION_USER = "connection_user"
INVALID = "invalid"
DUPLICATE = "duplicate"
TO_DO = "to_offboard"

OUTCOMES = {
    REMOVED: "Removed",
    INVITATION_REVOKED: "Invitation revoked",
    NOT_IN_ORGANIZATION: "Not in the organization",
    OWNER: "Owner: not removed",
    CONNECTION_USER: "The portal's connection: not removed",
    INVALID: "Not an address",
    DUPLICATE: "Repeated in the list",
    TO_DO: "To offboard",
    "failed": "Failed",
    "gave_up": "Failed",
    "error": "Failed",
    "cancelled": "Cancelled",
}

POOLS = ("round_robin", "collective")
ADMIN_USERS = "https://calendly.com/app/admin/users"
ADMIN_GROUPS = "https://calendly.com/app/admin/user_groups"
ADMIN_BILLING = "https://calendly.com/app/admin/billing"


def checklist(inventory: dict[str, Any]) -> list[str]:
    """What is left to do by hand in Calendly after someone was removed: what its API
    cannot do."""
    steps = [
        "Their paid seat is still billed: remove the seat on Calendly's Billing page "
        f"({ADMIN_BILLING}).",
        "Their Calendly account still exists on a free plan; deleting it is done in Calendly's "
        f"admin center, where it is offered ({ADMIN_USERS}).",
    ]
    if inventory.get("event_types"):
        steps.append(
            "Their event types (" + ", ".join(inventory["event_types"]) + ") have no host "
            f"now: reassign or delete them in Calendly ({ADMIN_USERS})."
        )
    if inventory.get("pools"):
        steps.append(
            "Check the pools they hosted (" + ", ".join(inventory["pools"]) + "): each must "
            "keep enough hosts to be booked."
        )
    if inventory.get("upcoming_meetings"):
        steps.append(
            f"They had {inventory['upcoming_meetings']} upcoming meeting(s), which stay booked: "
            "tell the invitees, or cancel or reassign them in Calendly."
        )
    if inventory.get("webhooks"):
        steps.append(
            "Webhook subscriptions they made (to " + ", ".join(inventory["webhooks"]) + ") "
            "stop working with their membership: recreate any still needed with an admin's "
            "connection."
        )
    steps.append(f"Review the groups they were in, and their admins ({ADMIN_GROUPS}).")
    return steps


@dataclass(frozen=True)
class Preview:
    job: Job
    counts: Counter[str]

    @property
    def to_offboard(self) -> int:
        return self.counts[TO_DO]


def prepare(
    *,
    organization: Organization,
    addresses: Iterable[Address],
    source_name: str,
    actor: User | None,
    actor_label: str = "",
    delete_invitee_data: bool = False,
) -> Preview:
    """Write a draft offboarding job for `addresses`, each item with its inventory; with
    `delete_invitee_data`, a data-deletion request for the same people too, started with it."""
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    connection_user = (
        Connection.objects.filter(organization=organization)
        .values_list("owner_uri", flat=True)
        .first()
    )
    with transaction.atomic():
        job = Job.objects.create(
            organization=organization,
            kind=KIND,
            label=f"Offboard people from {source_name}"[:500],
            created_by=actor,
            created_by_label=audit.describe(actor) if actor is not None else actor_label,
            parameters={"source": source_name},
        )
        items: list[JobItem] = []
        for position, address in enumerate(addresses, start=1):
            item = _item(job, position, address, organization, seen, connection_user)
            counts[item.outcome or TO_DO] += 1
            items.append(item)
        JobItem.objects.bulk_create(items)
        job.total = len(items)
        job.skipped = job.total - counts[TO_DO]
        job.save(update_fields=["total", "skipped"])
        leaving = [item.key for item in items if item.state == JobItem.State.PENDING]
        if delete_invitee_data and leaving:
            request = deletion.prepare(
                organization=organization,
                addresses=(
                    Address(line=n, raw=email, email=email, problem=None)
                    for n, email in enumerate(leaving, start=1)
                ),
                source_name=f"offboarding job {job.pk}",
                actor=actor,
                actor_label=actor_label,
            )
            job.parameters = {**job.parameters, "deletion_job": request.job.pk}
            job.save(update_fields=["parameters"])
    return Preview(job=job, counts=counts)


def _start_deletion(job: Job, actor: User | None, actor_label: str) -> None:
    """An offboarding that asked for its people's invitee data to be deleted starts that
    request with it (which, with JOBS_NEED_APPROVAL, waits for its own approval)."""
    linked = Job.objects.filter(
        pk=job.parameters.get("deletion_job"),
        organization=job.organization,
        kind=deletion.KIND,
        state=Job.State.DRAFT,
    ).first()
    if linked is not None:
        engine.start(linked, actor=actor, actor_label=actor_label)


def _item(
    job: Job,
    position: int,
    address: Address,
    organization: Organization,
    seen: set[str],
    connection_user: str | None,
) -> JobItem:
    source: dict[str, Any] = {"line": address.line, "written": address.raw}

    def settled(outcome: str, message: str, key: str) -> JobItem:
        return JobItem(
            job=job,
            position=position,
            key=key,
            source=source,
            state=JobItem.State.SKIPPED,
            outcome=outcome,
            message=message,
        )

    if address.problem:
        outcome = DUPLICATE if address.email and address.email in seen else INVALID
        return settled(outcome, address.problem, f"line {address.line}")
    seen.add(address.email)
    source["inventory"] = found = inventory(organization, address.email)
    if found.get("role") == Member.Role.OWNER:
        return settled(
            OWNER,
            f"{found['name']} owns the organization. Calendly does not let the owner be "
            "removed; transfer ownership in Calendly's admin center first.",
            address.email,
        )
    if connection_user and found.get("user_uri") == connection_user:
        return settled(
            CONNECTION_USER,
            f"The portal works through {found['name']}'s connection, and Calendly does not let "
            "anyone remove themselves. Connect the portal as another admin first.",
            address.email,
        )
    return JobItem(job=job, position=position, key=address.email, source=source)


def inventory(organization: Organization, email: str) -> dict[str, Any]:
    """What the mirror knows this person has in the organization (JSON-ready)."""
    member = (
        Member.objects.current()
        .filter(organization=organization)
        .annotate(address=Lower("email"))
        .filter(address=email)
        .first()
    )
    pending = (
        Invitation.objects.current()
        .filter(organization=organization, status=Invitation.Status.PENDING)
        .annotate(address=Lower("email"))
        .filter(address=email)
        .count()
    )
    found: dict[str, Any] = {"pending_invitations": pending}
    if member is None:
        return found
    active = EventType.objects.current().filter(organization=organization, active=True)
    found |= {
        "name": member.name,
        "role": member.role,
        "user_uri": member.user_uri,
        "event_types": sorted(
            active.filter(profile_owner_uri=member.user_uri).values_list("name", flat=True)
        ),
        "pools": sorted(
            active.filter(hosts=member, pooling_type__in=POOLS)
            .values_list("name", flat=True)
            .distinct()
        ),
        "links": IssuedLink.objects.filter(
            organization=organization, rep=member, status=IssuedLink.Status.ACTIVE
        ).count(),
    }
    return found


# -- the workers' half ----------------------------------------------------------------------


@contextmanager
def _open(job: Job) -> Iterator[kinds.DoItem]:
    with engine.calendly_client(job) as client:
        yield partial(offboard_one, client, job)


def offboard_one(client: CalendlyClient, job: Job, item: JobItem) -> kinds.Outcome:
    organization = job.organization
    email = item.key
    wanted = email.casefold()
    doing = f"offboarding {email}"
    try:
        revoked = 0
        listed: set[str] = set()
        for sent in client.list_organization_invitations(
            organization=organization.uri, email=email, status="pending"
        ):
            if sent.email.casefold() == wanted:
                listed.add(storable(sent.uri))
                _revoke(client, job, sent)
                revoked += 1
        if item.attempts > 1:
            revoked += _revoked_before(job, email, listed)
        membership = next(
            (
                found
                for found in client.list_organization_memberships(
                    organization=organization.uri, email=email
                )
                if found.user.email.casefold() == wanted
            ),
            None,
        )
        if membership is None:
            return _gone(job, item, revoked)
        if membership.role == Member.Role.OWNER:
            return kinds.Outcome(
                JobItem.State.SKIPPED,
                OWNER,
                f"{membership.user.name} owns the organization. Calendly does not let the owner "
                "be removed; transfer ownership in Calendly's admin center first.",
            )
        # What only Calendly knows, read while they are still a member: for the report.
        left_behind = _in_calendly(client, organization, membership.user.uri)
        # A 404: removed meanwhile, and the outcome is the same.
        with contextlib.suppress(errors.NotFound):
            client.remove_user_from_organization(membership=membership.uri)
    except (
        errors.ScimManaged,
        errors.CannotRemoveOwner,
        errors.CannotRemoveSelf,
        errors.InvitationAlreadyAccepted,
    ) as error:
        # About this person, or a rule of the organization: said, and the others go on.
        return kinds.Outcome(
            JobItem.State.FAILED, "failed", errors.explain(error, doing=doing, changing=True)
        )
    except errors.CalendlyError as error:
        raise engine.calendly_failure(organization, error, doing=doing) from error
    return _removed(
        job, item, membership, revoked, "Removed from the organization.", found=left_behind
    )


# People whose meetings and webhooks a preview reads from Calendly while the page waits; the
# others' are read as the job runs, and listed in its report.
READ_BEFORE_CONFIRMING = 25


@dataclass(frozen=True)
class InCalendly:
    item: JobItem
    found: dict[str, Any]


def read_before_confirming(job: Job) -> list[InCalendly]:
    """For a preview: the first people's upcoming meetings and webhook subscriptions, read
    from Calendly (the mirror keeps neither). Raises CalendlyError or ConnectionUnavailable."""
    items = [
        item
        for item in JobItem.objects.filter(job=job, state=JobItem.State.PENDING).order_by(
            "position"
        )[:READ_BEFORE_CONFIRMING]
        if (item.source.get("inventory") or {}).get("user_uri")
    ]
    if not items:
        return []
    with client_for(job.organization) as client:
        return [
            InCalendly(
                item,
                _in_calendly(client, job.organization, item.source["inventory"]["user_uri"]),
            )
            for item in items
        ]


def _in_calendly(client: CalendlyClient, organization: Organization, user: str) -> dict[str, Any]:
    """Their upcoming meetings (how many) and the webhook subscriptions they made (where they
    send), which the mirror does not keep."""
    upcoming = sum(
        1
        for _ in client.list_scheduled_events(
            organization=organization.uri,
            user=user,
            status="active",
            min_start_time=timezone.now(),
        )
    )
    hooks = [
        storable(hook.callback_url)
        for hook in client.list_webhook_subscriptions(
            organization=organization.uri, scope="user", user=user
        )
        if hook.state == "active"
    ]
    return {"upcoming_meetings": upcoming, "webhooks": hooks}


def _revoke(client: CalendlyClient, job: Job, sent: OrganizationInvitation) -> None:
    # A 404: already gone in Calendly.
    with contextlib.suppress(errors.NotFound):
        client.revoke_user_organization_invitation(invitation=sent.uri)
    with transaction.atomic():
        row = (
            Invitation.objects.filter(uri=storable(sent.uri))
            .filter(organization=job.organization)
            .first()
        )
        if row is not None:
            Invitation.objects.filter(pk=row.pk).update(removed_at=timezone.now())
        audit.record(
            action=audit.Action.INVITATION_REVOKED,
            organization=job.organization,
            actor=job.created_by,
            actor_label=job.created_by_label,
            target=row,
            target_type="" if row is not None else "directory.invitation",
            target_id="" if row is not None else storable(sent.uri),
            target_label=storable(sent.email),
            before={"email": storable(sent.email), "status": storable(sent.status)},
            after={"job": job.pk},
        )


def _revoked_before(job: Job, email: str, listed: set[str]) -> int:
    """After an attempt that may have reached Calendly: invitations the mirror still has as
    pending that Calendly no longer lists were revoked by it (the answer, or the record of it,
    was lost). Recorded now, with their audit rows; returns how many."""
    gone = (
        Invitation.objects.current()
        .filter(organization=job.organization, status=Invitation.Status.PENDING)
        .annotate(address=Lower("email"))
        .filter(address=email)
        .exclude(uri__in=listed)
    )
    count = 0
    for row in gone:
        with transaction.atomic():
            Invitation.objects.filter(pk=row.pk).update(removed_at=timezone.now())
            audit.record(
                action=audit.Action.INVITATION_REVOKED,
                organization=job.organization,
                actor=job.created_by,
                actor_label=job.created_by_label,
                target=row,
                target_label=row.email,
                before={"email": row.email, "status": row.status},
                after={"job": job.pk, "already_done_in_calendly": True},
            )
        count += 1
    return count


def _gone(job: Job, item: JobItem, revoked: int) -> kinds.Outcome:
    """No membership in Calendly. Where the mirror still has one, an earlier attempt (or
    someone in Calendly) removed it: record it. Else they were only invited, or never here."""
    member = (
        Member.objects.current()
        .filter(organization=job.organization)
        .annotate(address=Lower("email"))
        .filter(address=item.key)
        .first()
    )
    if member is not None:
        return _removed(
            job,
            item,
            None,
            revoked,
            "Removed from the organization; it was already done in Calendly, so nothing was "
            "sent again.",
            member=member,
        )
    if revoked:
        return kinds.Outcome(
            JobItem.State.DONE,
            INVITATION_REVOKED,
            "Not a member; the pending invitation was revoked.",
            result={"revoked_invitations": revoked},
        )
    return kinds.Outcome(
        JobItem.State.SKIPPED,
        NOT_IN_ORGANIZATION,
        "Not in the organization: Calendly has no membership or pending invitation for this "
        "address.",
    )


def _removed(
    job: Job,
    item: JobItem,
    membership: OrganizationMembership | None,
    revoked: int,
    message: str,
    *,
    member: Member | None = None,
    found: dict[str, Any] | None = None,
) -> kinds.Outcome:
    organization = job.organization
    if member is None and membership is not None:
        member = Member.objects.filter(
            organization=organization, uri=storable(membership.uri)
        ).first()
    user_uri = member.user_uri if member is not None else ""
    if membership is not None:
        user_uri = storable(membership.user.uri)
    now = timezone.now()
    with transaction.atomic():
        if member is not None:
            Member.objects.filter(pk=member.pk).update(removed_at=now)
        if user_uri:
            # Their portal access ends with their membership.
            User.objects.filter(organization=organization, calendly_uri=user_uri).update(
                is_active=False
            )
        mirror_changed(organization.pk)
    inventory = {**(item.source.get("inventory") or {}), **(found or {})}
    return kinds.Outcome(
        JobItem.State.DONE,
        REMOVED,
        message,
        result={
            "revoked_invitations": revoked,
            "membership": membership.uri if membership is not None else (member and member.uri),
            **(found or {}),
            "to_do_in_calendly": checklist(inventory),
        },
        audit_action=audit.Action.MEMBER_REMOVED,
        audit_target=member,
    )


kinds.register(
    kinds.Kind(
        name=KIND,
        label="Offboarding",
        noun="person",
        open=_open,
        requests_per_item=5.0,
        outcomes=OUTCOMES,
        to_do="To offboard",
        plural="people",
        verb="Offboard",
        will="will be offboarded",
        destructive=True,
        schedulable=True,
        preview_template="directory/offboard_preview.html",
        on_start=_start_deletion,
        report_template="directory/offboard_report.html",
    )
)
