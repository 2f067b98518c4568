"""Reading and acting on the organization's scheduled events (Calendly's "meetings").

Nothing here is mirrored: every read asks Calendly, through the organization's connection.
Searches are paged by Calendly's cursor (`page_token`), one page per request, and a page is
kept for a few seconds in this process so that paging back and forth, or reloading, does not
spend the connected user's per-minute request budget twice. An action that changes an event
forgets the cached pages showing it.

Calendly's `GET /scheduled_events` has no event-type filter, so that filter is applied to each
page after it arrives: a page may then show fewer rows than Calendly sent, or none, while later
pages still hold matches (https://developer.calendly.com/api-docs/2d5ed9bbd2952-list-events).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from pydantic import ValidationError

from portal import audit
from portal.accounts.connections import ConnectionUnavailable, client_for, note_failure
from portal.accounts.models import Organization, User
from portal.calendly import errors
from portal.calendly.client import CalendlyClient
from portal.calendly.schemas import EventType as CalendlyEventType
from portal.calendly.schemas import Invitee, Pagination, ScheduledEvent
from portal.directory.models import EventType
from portal.links import single_use
from portal.links.issue import LinkRefused
from portal.links.models import IssuedLink

PAGE_SIZE = 25
CACHE_SECONDS = 30.0
# Enough for every support agent paging through a few searches; the oldest pages go first.
CACHE_ENTRIES = 256
TARGET_TYPE = "calendly.scheduled_event"


class MeetingNotFound(Exception):
    """Calendly does not know the event, or it is outside the organization's reach."""


class MeetingRefused(Exception):
    """The portal or Calendly would not do it; `message` says why and what to do."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class AlreadySo(MeetingRefused):
    """Calendly already has what was asked (someone, or another tab, got there first since the
    page was loaded): nothing was sent, and `message` says how things stand."""


@dataclass(frozen=True)
class Filters:
    """One search: Calendly's own filters plus the event type, applied to each page."""

    min_start: datetime
    max_start: datetime
    invitee_email: str = ""
    rep_uri: str = ""
    event_type_uri: str = ""
    status: str = ""  # active | canceled | "" for both


@dataclass(frozen=True)
class SearchPage:
    events: list[ScheduledEvent]
    next_token: str | None
    previous_token: str | None
    # How many events Calendly sent for this page before the event-type filter.
    received: int


@dataclass
class EventDetail:
    event: ScheduledEvent
    invitees: list[Invitee] = field(default_factory=list)
    event_type: EventType | None = None

    @property
    def is_past(self) -> bool:
        return self.event.start_time <= datetime.now(UTC)

    @property
    def location(self) -> str:
        """Where the meeting happens, as Calendly describes it."""
        place = self.event.location or {}
        for key in ("join_url", "location", "data"):
            value = place.get(key)
            if isinstance(value, str) and value:
                return value
        kind = place.get("type")
        return str(kind).replace("_", " ") if kind else ""

    def cancel_refusal(self) -> str | None:
        """Why this event cannot be canceled; None when it can."""
        if self.event.status == "canceled":
            return "This meeting is already canceled."
        if self.is_past:
            return "This meeting has already started or taken place; Calendly cannot cancel it."
        return None

    def new_time_refusal(self) -> str | None:
        """Why no single-use link for a new time can be made; None when one can."""
        if self.event_type is None:
            return (
                "This meeting's event type is not among the organization's event types here (it "
                "may have been deleted in Calendly, or made since the last sync)."
            )
        return single_use.refusal(self.event_type)


# -- reading ----------------------------------------------------------------------------------

_cache: dict[tuple[Any, ...], tuple[float, SearchPage]] = {}
_cache_lock = threading.Lock()


def _cached(key: tuple[Any, ...]) -> SearchPage | None:
    with _cache_lock:
        hit = _cache.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del _cache[key]
            return None
        return hit[1]


def _keep(key: tuple[Any, ...], page: SearchPage) -> None:
    with _cache_lock:
        now = time.monotonic()
        for stale in [k for k, (until, _) in _cache.items() if until < now]:
            del _cache[stale]
        while len(_cache) >= CACHE_ENTRIES:
            del _cache[next(iter(_cache))]
        _cache[key] = (now + CACHE_SECONDS, page)


def forget(event_uri: str) -> None:
    """Drop the cached pages that show this event, after it changed."""
    with _cache_lock:
        for key in [k for k, (_, page) in _cache.items() if _shows(page, event_uri)]:
            del _cache[key]


def forget_everything() -> None:
    with _cache_lock:
        _cache.clear()


def _shows(page: SearchPage, event_uri: str) -> bool:
    return any(event.uri == event_uri for event in page.events)


def _client(organization: Organization) -> CalendlyClient:
    try:
        return client_for(organization)
    except ConnectionUnavailable as exc:
        raise MeetingRefused(errors.explain(exc)) from exc


def search(organization: Organization, filters: Filters, page_token: str = "") -> SearchPage:
    """One page of the organization's scheduled events matching `filters`, earliest first."""
    key = (organization.pk, filters, page_token)
    found = _cached(key)
    if found is not None:
        return found
    params: dict[str, str | int] = {
        "organization": organization.uri,
        "min_start_time": _utc(filters.min_start),
        "max_start_time": _utc(filters.max_start),
        "sort": "start_time:asc",
        "count": PAGE_SIZE,
    }
    if filters.invitee_email:
        params["invitee_email"] = filters.invitee_email
    if filters.rep_uri:
        params["user"] = filters.rep_uri
    if filters.status:
        params["status"] = filters.status
    if page_token:
        params["page_token"] = page_token
    doing = "listing the organization's meetings"
    with _client(organization) as client:
        try:
            # The client's list methods walk every page; a search shows one page at a time, so
            # it asks for exactly that page and keeps Calendly's cursor for the next one.
            data = client.raw_request(method="GET", path="/scheduled_events", params=params)
        except errors.CalendlyError as error:
            note_failure(organization, error)
            raise MeetingRefused(errors.explain(error, doing=doing)) from error
    try:
        received = [ScheduledEvent.model_validate(item) for item in data.get("collection", [])]
        pagination = Pagination.model_validate(data.get("pagination") or {})
    except (AttributeError, ValidationError) as exc:
        unreadable = errors.UnexpectedResponse(message=str(exc).splitlines()[0])
        raise MeetingRefused(errors.explain(unreadable, doing=doing)) from exc
    events = [
        event
        for event in received
        if not filters.event_type_uri or event.event_type == filters.event_type_uri
    ]
    page = SearchPage(
        events=events,
        next_token=pagination.next_page_token,
        previous_token=pagination.previous_page_token,
        received=len(received),
    )
    _keep(key, page)
    return page


def event_uri(uuid: str) -> str:
    return f"{settings.CALENDLY_API_URL.rstrip('/')}/scheduled_events/{uuid}"


def read_event(organization: Organization, uuid: str) -> EventDetail:
    """The event with its invitees and (when mirrored) its event type.

    The connection only reaches its own organization: Calendly answers 404 for anyone else's
    event, which is `MeetingNotFound` here as well.
    """
    with _client(organization) as client:
        try:
            event = client.get_scheduled_event(event=event_uri(uuid))
            invitees = list(client.list_invitees(event=event.uri, sort="created_at:asc"))
        except errors.NotFound as error:
            raise MeetingNotFound(uuid) from error
        except errors.CalendlyError as error:
            note_failure(organization, error)
            raise MeetingRefused(errors.explain(error, doing="reading the meeting")) from error
    event_type = (
        EventType.objects.current().filter(organization=organization, uri=event.event_type).first()
        if event.event_type
        else None
    )
    return EventDetail(event=event, invitees=invitees, event_type=event_type)


def _fresh_invitee(
    client: CalendlyClient, organization: Organization, event_uuid: str, invitee_uuid: str
) -> tuple[ScheduledEvent, Invitee]:
    """The event and one of its invitees as Calendly has them at this moment: an action reads
    them again rather than trusting the page it was asked from, which may be minutes old."""
    try:
        event = client.get_scheduled_event(event=event_uri(event_uuid))
        invitee = client.get_invitee(invitee=f"{event.uri}/invitees/{invitee_uuid}")
    except errors.NotFound as error:
        raise MeetingNotFound(invitee_uuid) from error
    except errors.CalendlyError as error:
        note_failure(organization, error)
        raise MeetingRefused(errors.explain(error, doing="reading the invitee")) from error
    return event, invitee


def invitee_of(detail: EventDetail, uuid: str) -> Invitee:
    """One of the event's invitees, by UUID; anyone else is not found."""
    for invitee in detail.invitees:
        if invitee.uuid == uuid:
            return invitee
    raise MeetingNotFound(uuid)


def describe(event: ScheduledEvent) -> str:
    """How the audit log names a meeting."""
    when = event.start_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{event.name or 'Meeting'} at {when}"


# -- acting -----------------------------------------------------------------------------------


def cancel(
    *,
    organization: Organization,
    detail: EventDetail,
    reason: str,
    actor: User,
    request: HttpRequest | None = None,
) -> None:
    """Cancel the whole event in Calendly (for every invitee), with the reason they are sent."""
    problem = detail.cancel_refusal()
    if problem:
        raise MeetingRefused(problem)
    event = detail.event
    with _client(organization) as client:
        try:
            cancellation = client.cancel_event(event=event.uri, reason=reason)
        except errors.CalendlyError as error:
            note_failure(organization, error)
            raise MeetingRefused(
                errors.explain(error, doing="canceling the meeting", changing=True)
            ) from error
    forget(event.uri)
    audit.record(
        action=audit.Action.MEETING_CANCELED,
        organization=organization,
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=event.uri,
        target_label=describe(event),
        before={"status": event.status},
        after={
            "status": "canceled",
            "reason": cancellation.reason or reason,
            "invitees": [invitee.email for invitee in detail.invitees],
        },
        request=request,
    )


def mark_no_show(
    *,
    organization: Organization,
    event_uuid: str,
    invitee_uuid: str,
    actor: User,
    request: HttpRequest | None = None,
) -> Invitee:
    """Mark an invitee as not having come to the meeting; the invitee as it was before."""
    with _client(organization) as client:
        event, invitee = _fresh_invitee(client, organization, event_uuid, invitee_uuid)
        if invitee.no_show is not None:
            raise AlreadySo(f"{invitee.email} is already marked as a no-show; nothing changed.")
        try:
            mark = client.create_invitee_no_show(invitee=invitee.uri)
        except errors.CalendlyError as error:
            note_failure(organization, error)
            raise MeetingRefused(
                errors.explain(error, doing=f"marking {invitee.email} a no-show", changing=True)
            ) from error
    forget(event.uri)
    audit.record(
        action=audit.Action.NO_SHOW_MARKED,
        organization=organization,
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=event.uri,
        target_label=f"{invitee.email} at {describe(event)}",
        before={"no_show": None},
        after={"no_show": mark.uri, "invitee": invitee.uri},
        request=request,
    )
    return invitee


def unmark_no_show(
    *,
    organization: Organization,
    event_uuid: str,
    invitee_uuid: str,
    actor: User,
    request: HttpRequest | None = None,
) -> Invitee:
    """Take back an invitee's no-show mark; the invitee as it was before."""
    with _client(organization) as client:
        event, invitee = _fresh_invitee(client, organization, event_uuid, invitee_uuid)
        if invitee.no_show is None:
            raise AlreadySo(f"{invitee.email} is not marked as a no-show; nothing changed.")
        try:
            client.delete_invitee_no_show(no_show=invitee.no_show.uri)
        except errors.CalendlyError as error:
            note_failure(organization, error)
            raise MeetingRefused(
                errors.explain(
                    error, doing=f"taking back the no-show of {invitee.email}", changing=True
                )
            ) from error
    forget(event.uri)
    audit.record(
        action=audit.Action.NO_SHOW_UNMARKED,
        organization=organization,
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=event.uri,
        target_label=f"{invitee.email} at {describe(event)}",
        before={"no_show": invitee.no_show.uri, "invitee": invitee.uri},
        after={"no_show": None},
        request=request,
    )
    return invitee


def offer_new_time(
    *,
    organization: Organization,
    detail: EventDetail,
    invitee: Invitee,
    actor: User,
    request: HttpRequest | None = None,
) -> IssuedLink:
    """A single-use link for the meeting's event type, made for this invitee and kept in the
    ledger (the link-making itself writes the audit row).

    The mirror may be hours old, so the event type is read from Calendly first: a link to one
    turned off or deleted since the last sync would take nobody's booking.
    """
    problem = detail.new_time_refusal()
    if problem:
        raise MeetingRefused(problem)
    assert detail.event_type is not None
    mirrored = detail.event_type
    name = mirrored.name or mirrored.slug or "This event type"
    with _client(organization) as client:
        try:
            live = client.get_event_type(event_type=mirrored.uri)
        except errors.NotFound as error:
            raise MeetingRefused(
                f"{name} no longer exists in Calendly, so no link to it can be made; offer "
                "another event type from the link directory."
            ) from error
        except errors.CalendlyError as error:
            note_failure(organization, error)
            raise MeetingRefused(
                errors.explain(error, doing=f"checking {name} in Calendly")
            ) from error
    problem = live_refusal(live, name=name)
    if problem:
        raise MeetingRefused(problem)
    try:
        return single_use.create(
            organization=organization,
            event_type=mirrored,
            for_whom=single_use.ForWhom(customer=invitee.email.lower()),
            actor=actor,
            request=request,
        )
    except LinkRefused as refused:
        raise MeetingRefused(refused.message) from refused


def live_refusal(event_type: CalendlyEventType, *, name: str) -> str | None:
    """Why Calendly's event type, as it is now, cannot take a single-use link; None when it can."""
    if event_type.deleted_at is not None:
        return f"{name} was deleted in Calendly, so no link to it can be made."
    if not event_type.active:
        return (
            f"{name} is turned off in Calendly now, so nobody could book a link to it. Turn it "
            "on in Calendly, or offer another event type from the link directory."
        )
    if event_type.type == single_use.ONE_OFF:
        return f"{name} is a one-off meeting in Calendly; it takes one booking already."
    return None


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
