"""What the portal does with each kind of delivery, chosen by the event's name.

Each handler gets the stored delivery and its parsed body and returns what it did, in words
for the delivery log. None calls Calendly: the delivery says all that is needed, and a task
that waits on the API would hold up every delivery behind it.

- `event_type.created` / `.updated` / `.deleted`: that event type in the mirror.
- `invitee.created`: the meeting for the team feeds, and the ledger entry it books (a link
  made for that event type and that invitee's address, oldest first).
- `invitee.canceled`: the meeting canceled in the feeds (a reschedule cancels the old booking
  and creates the new one, so both show).
- `invitee_no_show.created` / `.deleted`: the mark on the meeting.
- Anything else is kept as received and shown in the log as not handled; never dropped.

Calendly does not keep deliveries in order while it retries, so a meeting remembers the
`created_at` of the delivery that last changed it and ignores older news.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import F, Q
from django.utils import timezone
from pydantic import ValidationError

from portal.accounts.models import Organization
from portal.calendly import schemas
from portal.core.text import storable
from portal.directory.mirror import mirror_changed
from portal.directory.models import EventType, EventTypeHost, Member
from portal.links.models import IssuedLink
from portal.webhooks.models import Delivery, Meeting, MeetingHost

# Longer than any text Calendly could mean; columns without an index keep everything.
WHOLE = 1 << 30

Handler = Callable[[Delivery, dict[str, Any]], str]


class Unprocessable(Exception):
    """The delivery cannot be acted on as it is (processing it again would not help)."""


def key_of(uri: str | None) -> str:
    """A resource's UUID in one spelling, whatever the URI's case and hyphens."""
    if not uri:
        return ""
    try:
        segment = schemas.uuid_of(uri)
    except ValueError:
        return ""
    return storable(segment.replace("-", "").lower())


def _text(value: str | None) -> str:
    """Text for a column no index reads: kept whole, only made storable."""
    return storable(value, max_bytes=WHOLE)


def _same_uri(field: str, uri: str) -> Q:
    return Q(**{f"{field}__iexact": storable(uri)})


# -- which organization ---------------------------------------------------------------------


def organization_of(delivery: Delivery, body: dict[str, Any]) -> Organization | None:
    """The receiving address's organization; for the OAuth app's shared address, the one the
    subscription's creator (`created_by`) is a member of."""
    if delivery.organization_id is not None:
        return delivery.organization
    creator = body.get("created_by")
    if not isinstance(creator, str) or not creator:
        return None
    member = (
        Member.objects.filter(_same_uri("user_uri", creator), removed_at__isnull=True)
        .select_related("organization")
        .first()
    )
    return member.organization if member else None


# -- event types ----------------------------------------------------------------------------


def event_type_changed(delivery: Delivery, body: dict[str, Any]) -> str:
    organization = _organization(delivery, body)
    try:
        event_type = schemas.EventTypePayload.model_validate(body.get("payload"))
    except ValidationError as invalid:
        raise Unprocessable(f"The event type in this delivery is incomplete: {invalid}") from None
    row = EventType.objects.filter(
        _same_uri("uri", event_type.uri), organization=organization
    ).first()
    if delivery.event == "event_type.deleted":
        if row is None or row.removed_at is not None:
            return "The event type was not in the mirror; nothing to remove."
        row.removed_at = timezone.now()
        row.save(update_fields=["removed_at"])
        mirror_changed(organization.pk)
        return f"Marked event type “{row.name}” deleted in the mirror."
    profile = event_type.profile
    fields = {
        "name": storable(event_type.name),
        "slug": storable(event_type.slug),
        "active": event_type.active,
        "scheduling_url": storable(event_type.scheduling_url),
        "duration": event_type.duration,
        "duration_options": [int(option) for option in event_type.duration_options or []],
        "kind": storable(event_type.kind),
        "pooling_type": storable(event_type.pooling_type),
        "type": storable(event_type.type),
        "secret": bool(event_type.secret),
        "admin_managed": bool(event_type.admin_managed),
        "profile_type": storable(profile.type) if profile else "",
        "profile_name": storable(profile.name) if profile else "",
        "profile_owner_uri": storable(profile.owner) if profile else "",
        "calendly_updated_at": event_type.updated_at,
        "removed_at": None,
    }
    created = row is None
    if row is None:
        row = EventType.objects.create(
            organization=organization,
            uri=storable(event_type.uri),
            calendly_created_at=event_type.created_at,
            **fields,
        )
    else:
        for name, value in fields.items():
            setattr(row, name, value)
        row.save(update_fields=list(fields))
    if profile and profile.type == "User" and profile.owner and not event_type.pooling_type:
        owner = Member.objects.filter(
            _same_uri("user_uri", profile.owner), organization=organization
        ).first()
        if owner is not None:
            EventTypeHost.objects.get_or_create(event_type=row, member=owner)
    mirror_changed(organization.pk)
    return f"{'Added' if created else 'Updated'} event type “{row.name}” in the mirror."


# -- invitees -------------------------------------------------------------------------------


def _invitee(body: dict[str, Any]) -> schemas.InviteePayload:
    try:
        return schemas.InviteePayload.model_validate(body.get("payload"))
    except ValidationError as invalid:
        raise Unprocessable(f"The invitee in this delivery is incomplete: {invalid}") from None


def _moment(body: dict[str, Any]) -> datetime:
    """When the delivery's event happened (its `created_at`), or now if it cannot be read."""
    try:
        return schemas.WebhookPayload.model_validate(body).created_at
    except ValidationError:
        return timezone.now()


def _location(event: schemas.ScheduledEvent) -> str:
    place = event.location or {}
    for field in ("join_url", "location", "type"):
        value = place.get(field)
        if isinstance(value, str) and value:
            return _text(value)
    return ""


def _record_meeting(
    organization: Organization, invitee: schemas.InviteePayload, moment: datetime
) -> tuple[Meeting | None, str]:
    """Write what an invitee delivery says about the booking; (row, words)."""
    event = invitee.scheduled_event
    if event is None:
        return None, "The delivery carries no scheduled event, so no feed shows it."
    fields = {
        "organization": organization,
        "event_uri": _text(event.uri),
        "event_type_uri": _text(event.event_type),
        "event_type_key": key_of(event.event_type),
        "name": _text(event.name),
        "start_time": event.start_time,
        "end_time": event.end_time,
        "location": _location(event),
        "invitee_name": _text(invitee.name),
        "invitee_email": _text(invitee.email),
        "status": Meeting.Status.CANCELED
        if invitee.status == "canceled"
        else Meeting.Status.ACTIVE,
        "rescheduled": bool(invitee.rescheduled),
        "cancel_reason": _text(invitee.cancellation.reason if invitee.cancellation else ""),
        "no_show": invitee.no_show is not None,
        "as_of": moment,
    }
    row = Meeting.objects.select_for_update().filter(invitee_uri=storable(invitee.uri)).first()
    if row is not None and row.as_of > moment:
        return row, "Older than what the feeds already show; kept as it was."
    if row is None:
        row = Meeting.objects.create(invitee_uri=storable(invitee.uri), **fields)
    else:
        for name, value in fields.items():
            setattr(row, name, value)
        row.sequence += 1
        row.save()
        row.hosts.all().delete()
    MeetingHost.objects.bulk_create(
        MeetingHost(
            meeting=row,
            user_uri=_text(host.user),
            user_key=key_of(host.user),
            name=_text(host.user_name),
            email=_text(host.user_email),
        )
        for host in event.event_memberships
    )
    return row, ""


def _book_ledger_entry(organization: Organization, invitee: schemas.InviteePayload) -> str:
    event = invitee.scheduled_event
    event_type = event.event_type if event else None
    if not event_type or not invitee.email:
        return ""
    wanted = key_of(event_type)
    candidates = IssuedLink.objects.filter(
        organization=organization,
        status=IssuedLink.Status.ACTIVE,
        customer__iexact=storable(invitee.email),
    ).order_by("created_at", "pk")
    for entry in candidates:
        if key_of(entry.event_type_uri) == wanted:
            entry.status = IssuedLink.Status.BOOKED
            entry.booked_at = invitee.created_at or timezone.now()
            entry.save(update_fields=["status", "booked_at"])
            return f" Marked ledger entry {entry.pk} ({entry.get_kind_display().lower()}) booked."
    return ""


def invitee_created(delivery: Delivery, body: dict[str, Any]) -> str:
    organization = _organization(delivery, body)
    invitee = _invitee(body)
    meeting, note = _record_meeting(organization, invitee, _moment(body))
    booked = _book_ledger_entry(organization, invitee)
    said = (
        (note or f"Added “{meeting.name}” for {invitee.email} to the feeds.") if meeting else note
    )
    return (said + booked).strip()


def invitee_canceled(delivery: Delivery, body: dict[str, Any]) -> str:
    organization = _organization(delivery, body)
    invitee = _invitee(body)
    meeting, note = _record_meeting(organization, invitee, _moment(body))
    if note or meeting is None:
        return note
    how = "rescheduled" if invitee.rescheduled else "canceled"
    return f"Marked “{meeting.name}” for {invitee.email} {how} in the feeds."


def no_show(delivery: Delivery, body: dict[str, Any]) -> str:
    organization = _organization(delivery, body)
    payload = body.get("payload")
    invitee_uri = payload.get("invitee") if isinstance(payload, dict) else None
    if not isinstance(invitee_uri, str) and isinstance(payload, dict):
        # Calendly's payload is the Invitee with its `no_show`; a bare no-show names its invitee.
        invitee_uri = payload.get("uri")
    if not isinstance(invitee_uri, str) or not invitee_uri:
        raise Unprocessable("The delivery names no invitee.")
    marked = delivery.event == "invitee_no_show.created"
    updated = Meeting.objects.filter(
        _same_uri("invitee_uri", invitee_uri), organization=organization
    ).update(no_show=marked, sequence=F("sequence") + 1, updated_at=timezone.now())
    if not updated:
        return "No meeting of this invitee is in the feeds; nothing to mark."
    return "Marked the invitee a no-show." if marked else "Took back the no-show mark."


def _organization(delivery: Delivery, body: dict[str, Any]) -> Organization:
    organization = organization_of(delivery, body)
    if organization is None:
        raise Unprocessable(
            "No connected organization has the subscription's creator "
            f"({body.get('created_by') or 'not named'}) as a member."
        )
    return organization


HANDLERS: dict[str, Handler] = {
    "event_type.created": event_type_changed,
    "event_type.updated": event_type_changed,
    "event_type.deleted": event_type_changed,
    "invitee.created": invitee_created,
    "invitee.canceled": invitee_canceled,
    "invitee_no_show.created": no_show,
    "invitee_no_show.deleted": no_show,
}

NOT_HANDLED = "Kept; the portal does nothing with this event yet."
