"""Single-use links in bulk: one per customer on a pasted list, all for one event type, as a job.

Each line is a customer's address and, after it, an optional ticket reference
("ana@example.com #4512"). `prepare` settles what is not a line of that shape and repeated
customers right away; each other line becomes an item, and a worker makes its link (one
`POST /scheduling_links`) and writes it to the ledger, like the New link page.

Idempotence: Calendly never lists single-use links again, so an answer lost on the way cannot
be checked. The ledger row carries its job item, so an item tried again after its link was
recorded finds it and makes no other; a link Calendly made whose answer was lost is one nobody
ever saw or holds, and the item's next attempt makes the one that is recorded and handed out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from portal import audit
from portal.accounts.models import Organization, User
from portal.calendly import errors
from portal.calendly.client import CalendlyClient
from portal.core.emails import MAX_EMAIL_LENGTH
from portal.directory.models import EventType, Member
from portal.jobs import engine, kinds
from portal.jobs.models import Job, JobItem
from portal.links.issue import LinkRefused, rep_of
from portal.links.models import IssuedLink
from portal.links.single_use import ForWhom, record, refusal

KIND = "single_use_links"
COMMAND_ACTOR = "manage.py single_use_links"
# A support person's list for one event type; more is a mail merge's job, not a paste.
MAX_LINES = 2_000
# A ticket reference is a short identifier; more is not one.
MAX_TICKET_CHARS = 200

MADE = "made"
INVALID = "invalid"
DUPLICATE = "duplicate"

OUTCOMES = {
    MADE: "Link made",
    INVALID: "Not understood",
    DUPLICATE: "Repeated in the list",
    "to_make": "To make",
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
    def to_make(self) -> int:
        return self.counts["to_make"]


def parse(line: str) -> ForWhom | str:
    """A line's customer and ticket, or why the line is not understood."""
    address, _, rest = line.strip().partition(" ")
    address = address.strip().strip(",;").lower()
    ticket = rest.strip().strip(",;").strip()
    if len(address) > MAX_EMAIL_LENGTH:
        return "The first word is far too long to be an email address."
    try:
        validate_email(address)
    except ValidationError:
        return "Each line starts with the customer's email address (then, optionally, a ticket)."
    if len(ticket) > MAX_TICKET_CHARS:
        return f"The ticket reference is longer than {MAX_TICKET_CHARS} characters."
    return ForWhom(customer=address, ticket=ticket)


def prepare(
    *,
    organization: Organization,
    event_type: EventType,
    text: str,
    actor: User | None,
    actor_label: str = "",
) -> Preview:
    """Write a draft job for the lines of `text` (raises LinkRefused when no link can be made
    for `event_type`, or the list is too long)."""
    if event_type.organization_id != organization.pk:
        raise LinkRefused("That event type belongs to another organization.")
    problem = refusal(event_type)
    if problem:
        raise LinkRefused(problem)
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if len(lines) > MAX_LINES:
        raise LinkRefused(
            f"That is {len(lines):,} lines; at most {MAX_LINES:,} at once. Split the list."
        )
    name = event_type.name or event_type.slug or "an event type"
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    with transaction.atomic():
        job = Job.objects.create(
            organization=organization,
            kind=KIND,
            label=f"Single-use links for {name}"[:500],
            created_by=actor,
            created_by_label=audit.describe(actor) if actor is not None else actor_label,
            parameters={"event_type": event_type.pk, "event_type_uri": event_type.uri},
        )
        items = []
        for position, (number, line) in enumerate(lines, start=1):
            found = parse(line)
            source = {"line": number, "written": line.strip()[:300]}
            key = f"line {number}"
            if isinstance(found, str):
                outcome, message = INVALID, found
            elif found.customer in seen:
                outcome, message = DUPLICATE, "This customer is on an earlier line already."
            else:
                seen.add(found.customer)
                source |= {"customer": found.customer, "ticket": found.ticket}
                items.append(JobItem(job=job, position=position, key=found.customer, source=source))
                counts["to_make"] += 1
                continue
            counts[outcome] += 1
            items.append(
                JobItem(
                    job=job,
                    position=position,
                    key=key,
                    source=source,
                    state=JobItem.State.SKIPPED,
                    outcome=outcome,
                    message=message,
                )
            )
        JobItem.objects.bulk_create(items)
        job.total = len(items)
        job.skipped = job.total - counts["to_make"]
        job.save(update_fields=["total", "skipped"])
    return Preview(job=job, counts=counts)


# -- the workers' half ----------------------------------------------------------------------


@contextmanager
def _open(job: Job) -> Iterator[kinds.DoItem]:
    event_type = EventType.objects.filter(
        pk=job.parameters.get("event_type"), organization=job.organization
    ).first()
    if event_type is None:
        raise kinds.Blocked("The event type is no longer in the portal's copy of Calendly.")
    with engine.calendly_client(job) as client:
        yield partial(make_one, client, job, event_type, rep_of(event_type))


def make_one(
    client: CalendlyClient, job: Job, event_type: EventType, rep: Member | None, item: JobItem
) -> kinds.Outcome:
    made = IssuedLink.objects.filter(job_item=item).first()
    if made is None:
        event_type.refresh_from_db()
        problem = refusal(event_type)
        if problem:
            # Turned off or deleted in Calendly meanwhile: no line can have its link.
            raise kinds.Blocked(problem)
        try:
            answer = client.create_single_use_scheduling_link(event_type=event_type.uri)
        except errors.CalendlyError as error:
            raise engine.calendly_failure(
                job.organization, error, doing="making a single-use link"
            ) from error
        try:
            made = _record(job, event_type, rep, item, answer.booking_url)
        except IntegrityError:
            # Another attempt (its lease ran out while this one waited on Calendly) recorded
            # its link first: that one stands.
            made = IssuedLink.objects.get(job_item=item)
    return kinds.Outcome(
        JobItem.State.DONE,
        MADE,
        f"Link made: {made.booking_url}",
        result={"booking_url": made.booking_url},
        # With its ledger row, the link has its own audit row too (links.created).
        audit_target=made,
    )


def _record(
    job: Job, event_type: EventType, rep: Member | None, item: JobItem, booking_url: str
) -> IssuedLink:
    return record(
        organization=job.organization,
        event_type=event_type,
        rep=rep,
        for_whom=ForWhom(
            customer=str(item.source.get("customer", "")),
            ticket=str(item.source.get("ticket", "")),
        ),
        booking_url=booking_url,
        actor=job.created_by,
        actor_label=job.created_by_label,
        job_item=item,
    )


kinds.register(
    kinds.Kind(
        name=KIND,
        label="Single-use links",
        noun="line",
        plural="lines",
        open=_open,
        requests_per_item=1.0,
        outcomes=OUTCOMES,
        to_do="To make",
        verb="Make links for",
        will="will get a link",
        roles=frozenset({"admin", "support"}),
    )
)
