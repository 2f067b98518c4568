"""Open times of an event type, and a rep's availability schedules and busy times, read live
from Calendly for support to answer "when can I book?" before sending a link.

Calendly bounds both time-range calls and refuses any range that starts in the past:
`GET /event_type_available_times` takes at most 31 days per call, `GET /user_busy_times` at
most 7 (https://developer.calendly.com/api-docs/calendly-api/availability). Longer ranges are
split here into windows Calendly accepts, one request each. Neither endpoint paginates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import groupby

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from portal.calendly.client import CalendlyClient
from portal.calendly.schemas import AvailabilityInterval, AvailabilitySchedule, BusyTime, uuid_of
from portal.calendly.schemas import EventTypeAvailableTime as OpenTime
from portal.directory.models import EventType, Member

AVAILABLE_TIMES_WINDOW = timedelta(days=31)
BUSY_TIMES_WINDOW = timedelta(days=7)
# How far the day picker reaches: about two months, two calls at most.
MAX_DAYS = 60
# A start of "now" is a moment in the past by the time Calendly reads it, and refused.
START_MARGIN = timedelta(minutes=1)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def event_types(organization_id: int) -> QuerySet[EventType]:
    """The event types whose open times can be asked for: active and still in Calendly,
    ordered so that each owner's (rep or team) types come together."""
    return (
        EventType.objects.current()
        .filter(organization_id=organization_id, active=True)
        .order_by("profile_name", "name", "pk")
    )


def by_owner(rows: Iterable[EventType]) -> list[tuple[str, list[EventType]]]:
    """Event types grouped under the rep or team that owns them, in the order given."""
    return [
        (owner or "No owner", list(group))
        for owner, group in groupby(rows, key=lambda row: row.profile_name)
    ]


def hosts(event_type: EventType) -> QuerySet[Member]:
    """The current members who host an event type (its owner for a personal one)."""
    return (
        Member.objects.current()
        .filter(organization_id=event_type.organization_id)
        .filter(Q(event_types=event_type) | Q(user_uri=event_type.profile_owner_uri))
        .distinct()
        .order_by("name", "pk")
    )


def local_midnight(day: date) -> datetime:
    """The start of `day` in the viewer's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def bounded_start(start: datetime) -> datetime:
    """`start`, or a moment from now when it has passed: Calendly refuses past starts."""
    return max(start, timezone.now() + START_MARGIN)


def windows(start: datetime, end: datetime, size: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """`start`..`end` cut into consecutive windows of at most `size`."""
    while start < end:
        stop = min(start + size, end)
        yield start, stop
        start = stop


@dataclass(frozen=True)
class OpenDay:
    day: date
    times: list[OpenTime]


def open_times(
    client: CalendlyClient, *, event_type: EventType, first_day: date, days: int
) -> list[OpenDay]:
    """The open times of `event_type` over `days` days from `first_day` (the viewer's days),
    grouped by the viewer's day; days without one are left out."""
    start = bounded_start(local_midnight(first_day))
    end = local_midnight(first_day + timedelta(days=days))
    found: list[OpenTime] = []
    for low, high in windows(start, end, AVAILABLE_TIMES_WINDOW):
        found.extend(
            client.list_event_type_available_times(
                event_type=event_type.uri, start_time=low, end_time=high
            )
        )
    found.sort(key=lambda slot: slot.start_time)
    return [
        OpenDay(day, list(slots))
        for day, slots in groupby(found, key=lambda slot: timezone.localdate(slot.start_time))
    ]


@dataclass(frozen=True)
class Hours:
    """One line of a schedule in words: a weekday or a date, and its hours."""

    label: str
    hours: str


@dataclass(frozen=True)
class Schedule:
    uuid: str
    name: str
    default: bool
    timezone: str
    weekly: list[Hours]
    overrides: list[Hours]


def hours_words(intervals: list[AvailabilityInterval]) -> str:
    if not intervals:
        return "Unavailable"
    return ", ".join(f"{interval.start} to {interval.end}" for interval in intervals)


def described(schedule: AvailabilitySchedule) -> Schedule:
    """A schedule's rules in words: hours for each weekday from Monday, then date overrides
    by date. Calendly's times are in the schedule's own time zone."""
    weekly = {rule.wday: rule for rule in schedule.rules if rule.type == "wday" and rule.wday}
    dated = sorted(
        (rule for rule in schedule.rules if rule.type == "date" and rule.date),
        key=lambda rule: rule.date or date.min,
    )
    return Schedule(
        uuid=schedule.uuid,
        name=schedule.name,
        default=schedule.default,
        timezone=schedule.timezone or "",
        weekly=[
            Hours(day.capitalize(), hours_words(weekly[day].intervals if day in weekly else []))
            for day in WEEKDAYS
        ],
        overrides=[
            Hours(f"{rule.date:%a %-d %b %Y}", hours_words(rule.intervals)) for rule in dated
        ],
    )


def schedules(client: CalendlyClient, *, rep: Member) -> list[Schedule]:
    """The rep's availability schedules, the default one first."""
    found = client.list_user_availability_schedules(user=rep.user_uri)
    return [described(row) for row in sorted(found, key=lambda row: (not row.default, row.name))]


def schedule_uri(uuid: str) -> str:
    return f"{settings.CALENDLY_API_URL.rstrip('/')}/user_availability_schedules/{uuid}"


def schedule(client: CalendlyClient, *, uuid: str) -> AvailabilitySchedule:
    """One availability schedule, read from Calendly now; its `user` says whose it is."""
    return client.get_user_availability_schedule(schedule=schedule_uri(uuid))


BUSY_KINDS = {
    "calendly": "Calendly meeting",
    "reserved": "Reserved in Calendly",
    "external": "Connected calendar",
}


@dataclass(frozen=True)
class Busy:
    kind: str
    start: datetime
    end: datetime
    event_name: str
    event_uuid: str


def busy_week(
    client: CalendlyClient, *, organization_uri: str, rep: Member, first_day: date
) -> list[Busy]:
    """The rep's busy times over the seven days from `first_day` (the viewer's days).

    Calendly's busy times name no meeting, only its URI; the rep's scheduled events of the
    same days (one more listing) give the names.
    """
    start = bounded_start(local_midnight(first_day))
    end = local_midnight(first_day + timedelta(days=7))
    found: list[BusyTime] = []
    for low, high in windows(start, end, BUSY_TIMES_WINDOW):
        found.extend(client.list_user_busy_times(user=rep.user_uri, start_time=low, end_time=high))
    names: dict[str, str] = {}
    if any(row.event for row in found):
        # A meeting that began before the window still makes the rep busy inside it.
        names = {
            event.uri: event.name or ""
            for event in client.list_scheduled_events(
                organization=organization_uri,
                user=rep.user_uri,
                status="active",
                min_start_time=start - timedelta(days=1),
                max_start_time=end,
            )
        }
    return [
        Busy(
            kind=BUSY_KINDS.get(row.type, row.type.capitalize()),
            start=row.start_time,
            end=row.end_time,
            event_name=names.get(row.event.uri, "") if row.event else "",
            event_uuid=uuid_of(row.event.uri) if row.event else "",
        )
        for row in sorted(found, key=lambda row: row.start_time)
    ]
