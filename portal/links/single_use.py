"""Single-use links: one booking on one event type, made for one customer.

Calendly makes them (`POST /scheduling_links` with `max_event_count` 1 and the event type as
owner) and never lists them again, so the ledger row written here is the only record of who
made which link, when, and for whom. The page and `manage.py single_use_link` both call
`create()`, so both make exactly one Calendly request and write the same ledger row and the
same audit row.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from portal import audit
from portal.accounts.models import Organization, User
from portal.calendly import errors
from portal.core.text import storable
from portal.directory.models import EventType, Member
from portal.jobs.models import JobItem
from portal.links.issue import LinkRefused, about, calendly, refused, rep_of
from portal.links.models import IssuedLink

# Calendly's one-off meetings are single bookings already; everything else may be shared once.
ONE_OFF = "AdhocEventType"
# The actor the ledger and the audit log name for links made from the shell.
COMMAND_ACTOR = "manage.py single_use_link"


@dataclass(frozen=True)
class ForWhom:
    """Who a link is for: a customer's address and/or a ticket reference (both optional)."""

    customer: str = ""
    ticket: str = ""

    @classmethod
    def parse(cls, text: str) -> ForWhom:
        """One free-text "for" from the shell: an address is the customer, else a ticket."""
        text = text.strip()
        try:
            validate_email(text)
        except ValidationError:
            return cls(ticket=text)
        return cls(customer=text.lower())


def bookable(organization_id: int) -> QuerySet[EventType]:
    """The event types a single-use link can be made for: active, still in Calendly, not a
    one-off meeting."""
    return (
        EventType.objects.current()
        .filter(organization_id=organization_id, active=True)
        .exclude(type=ONE_OFF)
    )


def event_types_of(rep: Member) -> QuerySet[EventType]:
    """A rep's bookable event types: those they own and the pooled ones they host."""
    return (
        bookable(rep.organization_id)
        .filter(Q(profile_owner_uri=rep.user_uri) | Q(hosts=rep))
        .distinct()
        .order_by("name", "pk")
    )


def refusal(event_type: EventType) -> str | None:
    """Why no single-use link can be made for this event type; None when one can."""
    name = event_type.name or event_type.slug or "This event type"
    if event_type.removed_at is not None:
        return f"{name} no longer exists in Calendly."
    if not event_type.active:
        return f"{name} is turned off in Calendly, so nobody could book its link."
    if event_type.type == ONE_OFF:
        return f"{name} is a one-off meeting; it takes one booking already."
    return None


def find_event_type(reference: str, organization: Organization | None = None) -> EventType:
    """The mirrored event type a URI or a scheduling URL names (the command's argument)."""
    reference = reference.strip()
    found = EventType.objects.filter(Q(uri=reference) | Q(scheduling_url=reference))
    if organization is not None:
        found = found.filter(organization=organization)
    matches = list(found.select_related("organization")[:2])
    if not matches:
        where = f" in {organization.name or organization.uri}" if organization else ""
        raise LinkRefused(
            f"No event type{where} has the URI or scheduling link {reference}. If it was made "
            "recently, sync the organization first (manage.py sync_org)."
        )
    if len(matches) > 1:
        raise LinkRefused(
            f"{reference} names event types in more than one organization; say which with --org."
        )
    return matches[0]


def create(
    *,
    organization: Organization,
    event_type: EventType,
    for_whom: ForWhom,
    actor: User | None,
    rep: Member | None = None,
    request: HttpRequest | None = None,
) -> IssuedLink:
    """Make one single-use link (one Calendly request) and record it in the ledger.

    `rep` is the person it was made on behalf of (the page asks for one first); by default,
    the event type's owner. Without an `actor`, the command made it.
    """
    if event_type.organization_id != organization.pk:
        raise LinkRefused("That event type belongs to another organization.")
    problem = refusal(event_type)
    if problem:
        raise LinkRefused(problem)
    rep = rep or rep_of(event_type)
    with calendly(organization) as client:
        try:
            made = client.create_single_use_scheduling_link(event_type=event_type.uri)
        except errors.CalendlyError as error:
            raise refused(organization, error, doing="making the single-use link") from error
    return record(
        organization=organization,
        event_type=event_type,
        rep=rep,
        for_whom=for_whom,
        booking_url=made.booking_url,
        actor=actor,
        actor_label="" if actor is not None else COMMAND_ACTOR,
        request=request,
    )


def record(
    *,
    organization: Organization,
    event_type: EventType,
    rep: Member | None,
    for_whom: ForWhom,
    booking_url: str,
    actor: User | None,
    actor_label: str,
    request: HttpRequest | None = None,
    job_item: JobItem | None = None,
) -> IssuedLink:
    """Write a link Calendly made into the ledger, with its audit row: the one record of it."""
    with transaction.atomic():
        row = IssuedLink.objects.create(
            organization=organization,
            kind=IssuedLink.Kind.SINGLE_USE,
            origin=IssuedLink.Origin.PORTAL if actor is not None else IssuedLink.Origin.COMMAND,
            booking_url=storable(booking_url),
            event_type_uri=event_type.uri,
            **about(event_type, rep),
            customer=storable(for_whom.customer),
            ticket=storable(for_whom.ticket),
            created_by=actor,
            created_by_label=audit.describe(actor) if actor is not None else actor_label,
            job_item=job_item,
        )
        audit.record(
            action=audit.Action.LINK_CREATED,
            organization=organization,
            actor=actor,
            actor_label=actor_label,
            target=row,
            target_label=f"{row.event_type_name} for {row.customer or row.ticket or 'anyone'}",
            after={
                "booking_url": row.booking_url,
                "event_type": event_type.uri,
                "rep": row.rep_email or row.rep_name,
                "customer": row.customer,
                "ticket": row.ticket,
                **({"job": job_item.job_id} if job_item is not None else {}),
            },
            request=request,
        )
    return row
