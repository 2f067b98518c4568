"""Team calendar feeds: which meetings a feed shows, the iCalendar a calendar app reads, and
making and revoking feeds.

A feed is read by calendar apps (Google Calendar, Outlook, Apple Calendar) on their own
schedule, by anyone holding its URL. So a fetch never calls Calendly: it reads the meetings
the invitee deliveries wrote (`handlers.py`), in a fixed number of queries however many
meetings there are, and answers 304 when its ETag or Last-Modified says nothing changed.

What a feed covers:
- a group: meetings where any host is a current member (or group admin) of the group;
- a team: meetings booked through any of the team's event types;
- chosen event types: meetings booked through those.
Hosts and event types are matched by `handlers.key_of` (the UUID in one spelling): Calendly
writes the same URI in more than one case and with or without hyphens.

Canceled and rescheduled bookings stay in the feed as CANCELLED with a higher SEQUENCE, so
calendars that already show them take them off; a reschedule's new time is its own booking.
The secret in the URL is kept as its SHA-256 (looked up through the unique index) and, for
admins to copy the address again, encrypted.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import icalendar
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from portal import audit
from portal.accounts.models import Organization, User
from portal.directory.models import EventType, Group, GroupRelationship, Team
from portal.webhooks.handlers import key_of
from portal.webhooks.models import Feed, Meeting, MeetingHost, Subscription

# Meetings that ended longer ago than this leave the feed: calendars keep what they already
# show, and the feed stays small however long the organization has used the portal.
WINDOW = timedelta(days=30)
# Bytes of randomness in a feed's secret (`token_urlsafe` makes 43 characters of them).
TOKEN_BYTES = 32
# Longer than any token the portal makes: such a path is answered without a query.
MAX_TOKEN_LENGTH = 100
# How often calendar apps are asked to fetch again (they choose; Google takes hours anyway).
REFRESH = timedelta(hours=1)
PRODID = "-//Calendly admin portal//Team calendar feeds//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"
# The deliveries feeds are made from: without a subscription to both, a feed stays empty.
FEED_EVENTS = ("invitee.created", "invitee.canceled")

# Control characters other than tab and line breaks: RFC 5545 text may not hold them and
# calendar apps reject lines that do. Names and emails from Calendly can carry anything.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# -- the secret -----------------------------------------------------------------------------


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def feed_for_token(token: str) -> Feed | None:
    """The live feed with this secret; None for a revoked, unknown or malformed one alike."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return (
        Feed.objects.select_related("group", "team")
        .filter(token_digest=digest(token), revoked_at__isnull=True)
        .first()
    )


def feed_url(token: str, request: HttpRequest | None = None) -> str:
    """The address calendar apps subscribe to: under PORTAL_BASE_URL when it is set, otherwise
    under the address of the request that shows it."""
    where = reverse("feed_ics", kwargs={"token": token})
    base: str = settings.PORTAL_BASE_URL
    if base or request is None:
        return f"{base}{where}"
    return request.build_absolute_uri(where)


# -- which meetings -------------------------------------------------------------------------


def group_member_keys(group: Group) -> set[str]:
    """The user keys of the group's current members and group admins."""
    uris = (
        GroupRelationship.objects.current()
        .filter(group=group, member__isnull=False, member__removed_at__isnull=True)
        .values_list("member__user_uri", flat=True)
    )
    return {key_of(uri) for uri in uris} - {""}


def team_event_type_keys(team: Team) -> set[str]:
    """The keys of the team's event types, deleted ones included: their meetings still happen."""
    wanted = key_of(team.uri)
    found = EventType.objects.filter(
        organization_id=team.organization_id, profile_type="Team"
    ).values_list("uri", "profile_owner_uri")
    return {key_of(uri) for uri, owner in found if wanted and key_of(owner) == wanted} - {""}


@dataclass(frozen=True)
class Selection:
    """What a feed matches meetings on (their hosts or their event type) and the keys."""

    by: str  # "hosts" | "event_types"
    keys: frozenset[str]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(",".join(sorted(self.keys)).encode()).hexdigest()[:16]


def selection(feed: Feed) -> Selection:
    """The feed's selection as the mirror says today (one query at most)."""
    if feed.kind == Feed.Kind.GROUP:
        keys = group_member_keys(feed.group) if feed.group else set()
        return Selection("hosts", frozenset(keys))
    if feed.kind == Feed.Kind.TEAM:
        keys = team_event_type_keys(feed.team) if feed.team else set()
    else:
        keys = {key_of(uri) for uri in feed.event_type_uris if isinstance(uri, str)} - {""}
    return Selection("event_types", frozenset(keys))


def meetings_of(
    feed: Feed, chosen: Selection | None = None, *, now: datetime | None = None
) -> QuerySet[Meeting]:
    """The feed's meetings: those it covers that end from WINDOW ago onward."""
    chosen = chosen or selection(feed)
    since = (now or timezone.now()) - WINDOW
    meetings = Meeting.objects.filter(organization_id=feed.organization_id, end_time__gte=since)
    if not chosen.keys:
        return meetings.none()
    keys = sorted(chosen.keys)
    if chosen.by == "hosts":
        hosted = MeetingHost.objects.filter(meeting=OuterRef("pk"), user_key__in=keys)
        return meetings.filter(Exists(hosted))
    return meetings.filter(event_type_key__in=keys)


@dataclass(frozen=True)
class Version:
    """What a fetch compares with the calendar app's copy."""

    etag: str
    last_modified: datetime


def version_of(feed: Feed, meetings: QuerySet[Meeting], chosen: Selection) -> Version:
    """The feed's ETag and Last-Modified, in one query.

    The newest change and the number of meetings catch an edit, a new booking and a meeting
    leaving the window; the selection's fingerprint catches a change of the group's members
    or the team's event types, which brings older meetings in or takes them out.
    """
    found = meetings.aggregate(latest=Max("updated_at"), count=Count("pk"))
    latest: datetime = found["latest"] or feed.created_at
    tag = hashlib.sha256(
        f"{feed.pk}:{found['count']}:{latest.isoformat()}:{chosen.fingerprint}".encode()
    ).hexdigest()[:32]
    return Version(etag=f'"{tag}"', last_modified=latest)


# -- the calendar ---------------------------------------------------------------------------


def text(value: str) -> str:
    """Calendly's text as iCalendar can carry it: one kind of line break, no control
    characters. Escaping (commas, semicolons, backslashes, line breaks) is icalendar's."""
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def uid_of(meeting: Meeting) -> str:
    """A UID that stays the same for the booking whatever changes (the invitee's UUID)."""
    key = key_of(meeting.invitee_uri) or hashlib.sha256(meeting.invitee_uri.encode()).hexdigest()
    return f"{key}@invitees.calendly-portal"


def summary_of(meeting: Meeting) -> str:
    title = meeting.name or "Meeting"
    who = meeting.invitee_name or meeting.invitee_email
    said = f"{title} — {who}" if who else title
    if meeting.status == Meeting.Status.CANCELED:
        # Apps that still show a cancelled event in a subscribed calendar show it as such.
        return f"{'Rescheduled' if meeting.rescheduled else 'Canceled'}: {said}"
    return said


def description_of(meeting: Meeting) -> str:
    invitee = meeting.invitee_name
    if meeting.invitee_email:
        invitee = f"{invitee} <{meeting.invitee_email}>" if invitee else meeting.invitee_email
    hosts = [host.name or host.email or host.user_uri for host in meeting.hosts.all()]
    lines = [f"Invitee: {invitee or 'not named'}", f"Hosts: {', '.join(hosts) or 'not named'}"]
    if meeting.status == Meeting.Status.CANCELED:
        if meeting.rescheduled:
            lines.append("Rescheduled by the invitee: the new time is its own event.")
        else:
            reason = f": {meeting.cancel_reason}" if meeting.cancel_reason else "."
            lines.append(f"Canceled{reason}")
    if meeting.no_show:
        lines.append("The invitee was marked a no-show.")
    return "\n".join(lines)


def event_of(meeting: Meeting) -> icalendar.Event:
    event = icalendar.Event()
    canceled = meeting.status == Meeting.Status.CANCELED
    event.add("uid", uid_of(meeting))
    event.add("dtstamp", meeting.updated_at.astimezone(UTC))
    event.add("last-modified", meeting.updated_at.astimezone(UTC))
    event.add("dtstart", meeting.start_time.astimezone(UTC))
    event.add("dtend", meeting.end_time.astimezone(UTC))
    event.add("summary", text(summary_of(meeting)))
    if meeting.location:
        event.add("location", text(meeting.location))
    event.add("description", text(description_of(meeting)))
    event.add("sequence", meeting.sequence)
    event.add("status", "CANCELLED" if canceled else "CONFIRMED")
    # A cancelled meeting must not make anyone look busy.
    event.add("transp", "TRANSPARENT" if canceled else "OPAQUE")
    return event


def covers(feed: Feed) -> str:
    """What the feed shows, in words, without reading event types' names."""
    if feed.kind == Feed.Kind.GROUP:
        return f"Meetings of the group “{feed.group.name}”" if feed.group else "A removed group"
    if feed.kind == Feed.Kind.TEAM:
        return f"Meetings of the team “{feed.team.name}”" if feed.team else "A removed team"
    count = len(feed.event_type_uris)
    return f"Meetings of {count} chosen event type{'' if count == 1 else 's'}"


def calendar_of(feed: Feed, meetings: QuerySet[Meeting]) -> bytes:
    """The feed's iCalendar: every meeting with its hosts, in two queries."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    # icalendar takes these two for unknown properties and would not escape them as text.
    calendar.add("x-wr-calname", icalendar.vText(text(feed.name)))
    calendar.add("x-wr-caldesc", icalendar.vText(text(f"{covers(feed)}, from Calendly")))
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", icalendar.vDuration(REFRESH))
    for meeting in meetings.prefetch_related("hosts").order_by("start_time", "pk"):
        calendar.add_component(event_of(meeting))
    ical: bytes = calendar.to_ical()
    return ical


# -- making and revoking --------------------------------------------------------------------


def create_feed(
    *,
    organization: Organization,
    name: str,
    kind: str,
    group: Group | None = None,
    team: Team | None = None,
    event_types: Iterable[EventType] = (),
    actor: User,
    request: HttpRequest | None = None,
) -> tuple[Feed, str]:
    """A new feed and its secret (shown to the admin; the audit row never holds it)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    chosen = list(event_types) if kind == Feed.Kind.EVENT_TYPES else []
    with transaction.atomic():
        feed = Feed.objects.create(
            organization=organization,
            name=name,
            kind=kind,
            group=group if kind == Feed.Kind.GROUP else None,
            team=team if kind == Feed.Kind.TEAM else None,
            event_type_uris=[event_type.uri for event_type in chosen],
            token_digest=digest(token),
            token=token,
            created_by_label=audit.describe(actor),
        )
        audit.record(
            action=audit.Action.FEED_CREATED,
            organization=organization,
            actor=actor,
            target=feed,
            after={
                "name": feed.name,
                "kind": feed.kind,
                "group": feed.group.name if feed.group else None,
                "team": feed.team.name if feed.team else None,
                "event_types": [event_type.name or event_type.uri for event_type in chosen],
            },
            request=request,
        )
    return feed, token


def revoke_feed(*, feed: Feed, actor: User, request: HttpRequest | None = None) -> bool:
    """Stop the feed answering; False when it was already revoked."""
    now = timezone.now()
    with transaction.atomic():
        # Conditional, so two admins revoking at once write one audit row.
        revoked = Feed.objects.filter(pk=feed.pk, revoked_at__isnull=True).update(revoked_at=now)
        if not revoked:
            return False
        feed.revoked_at = now
        audit.record(
            action=audit.Action.FEED_REVOKED,
            organization=feed.organization,
            actor=actor,
            target=feed,
            before={"revoked_at": None},
            after={"revoked_at": now},
            request=request,
        )
    return True


def missing_events(organization_id: int) -> list[str]:
    """The feed events no active subscription of the organization sends."""
    subscribed: set[str] = set()
    for events in Subscription.objects.filter(
        organization_id=organization_id,
        removed_at__isnull=True,
        state=Subscription.State.ACTIVE,
    ).values_list("events", flat=True):
        subscribed.update(event for event in events or [] if isinstance(event, str))
    return [event for event in FEED_EVENTS if event not in subscribed]
