"""Free slots, bookings and cancellations, and the tiny booking page behind booking URLs.

Single-use links (`POST /scheduling_links`) and shares (`POST /shares`) answer with
`<sandbox>/d/<code>/<slug>`. GET there lists free slots; POST books one, which creates the
scheduled event and its invitee and delivers `invitee.created` webhooks. A link stops working
after its one booking (Calendly's `max_event_count` is always 1). An invitee's
`reschedule_url` (`/reschedulings/<invitee>`) books a new time the same way and cancels the old
booking: `invitee.canceled` for the old invitee (`rescheduled`, `new_invitee`) and
`invitee.created` for the new one (`old_invitee`).

Availability is simplified to weekday working hours (09:00-17:00 UTC) minus the hosts'
active events; that is enough to demo and test the portal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import TYPE_CHECKING

from portal.sandbox import render
from portal.sandbox.http import (
    JSON,
    Request,
    Response,
    Route,
    not_found,
    parse_timestamp,
    timestamp,
)
from portal.sandbox.seed import NO_TRACKING
from portal.sandbox.state import Invitee, ScheduledEvent, SchedulingLink
from portal.sandbox.webhooks import deliver_invitee

if TYPE_CHECKING:
    from portal.sandbox.state import EventType, Sandbox, User

SLOT_STEP = timedelta(minutes=30)
DAY_START, DAY_END = 9, 17


def busy(sb: Sandbox, user: str, start: datetime, end: datetime) -> bool:
    return any(
        e.status == "active" and user in e.hosts and e.start_time < end and start < e.end_time
        for e in sb.scheduled_events.values()
    )


def free_hosts(sb: Sandbox, event_type: EventType, start: datetime, duration: int) -> list[str]:
    """Who could host a meeting at `start`; empty when the slot is not bookable."""
    end = start + timedelta(minutes=duration)
    hosts = [h for h in event_type.hosts if h in sb.users]
    free = [h for h in hosts if not busy(sb, h, start, end)]
    if event_type.kind == "group":
        return hosts[:1]
    if event_type.pooling_type == "collective":
        return free if len(free) == len(hosts) and hosts else []
    if event_type.pooling_type == "round_robin":
        return free[:1]
    return free


def available_slots(
    sb: Sandbox,
    event_type: EventType,
    start: datetime,
    end: datetime,
    duration: int | None = None,
    limit: int = 2000,
) -> list[datetime]:
    minutes = duration or event_type.duration
    slots: list[datetime] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end and len(slots) < limit:
        if day.weekday() < 5:
            slot = day.replace(hour=DAY_START)
            closing = day.replace(hour=DAY_END)
            while slot + timedelta(minutes=minutes) <= closing:
                if start <= slot < end and free_hosts(sb, event_type, slot, minutes):
                    slots.append(slot)
                slot += SLOT_STEP
        day += timedelta(days=1)
    return slots[:limit]


def book(
    sb: Sandbox,
    base: str,
    link: SchedulingLink,
    start: datetime,
    name: str,
    email: str,
    old: Invitee | None = None,
) -> ScheduledEvent:
    event_type = sb.event_types[link.event_type]
    settings: JSON = sb.shares[link.share].settings if link.share else {}
    duration = int(settings.get("duration", event_type.duration))
    hosts = free_hosts(sb, event_type, start, duration)
    now = sb.now()
    uuid = sb.new_id()
    event = ScheduledEvent(
        uuid,
        event_type.uuid,
        event_type.organization,
        str(settings.get("name", event_type.name)),
        "active",
        start,
        start + timedelta(minutes=duration),
        hosts,
        {
            "type": "google_conference",
            "status": "pushed",
            "join_url": f"https://meet.google.com/sbx-{uuid.lower()}",
        },
        now,
        now,
        invitee_limit=event_type.max_invitees,
    )
    invitee = Invitee(
        sb.new_id(),
        event.uuid,
        name,
        email,
        "active",
        "UTC",
        now,
        now,
        [],
        dict(NO_TRACKING),
        scheduling_method="instant_book",
    )
    event.invitees.append(invitee.uuid)
    sb.scheduled_events[event.uuid] = event
    sb.invitees[invitee.uuid] = invitee
    link.bookings += 1
    if old is not None:
        invitee.old_invitee = old.uuid
        reschedule_away(sb, base, old, invitee)
    deliver_invitee(sb, base, "invitee.created", event, invitee)
    return event


def reschedule_away(sb: Sandbox, base: str, old: Invitee, new: Invitee) -> None:
    """The invitee moved to `new`: the old one is canceled by the invitee, with `rescheduled`,
    and so is its event once nobody else is booked on it."""
    now = sb.now()
    event = sb.scheduled_events[old.event]
    cancellation: JSON = {
        "canceled_by": old.name,
        "reason": None,
        "canceler_type": "invitee",
        "created_at": now,
    }
    old.status, old.cancellation, old.updated_at = "canceled", cancellation, now
    old.rescheduled, old.new_invitee = True, new.uuid
    if all(sb.invitees[i].status == "canceled" for i in event.invitees):
        event.status, event.cancellation, event.updated_at = "canceled", cancellation, now
    deliver_invitee(sb, base, "invitee.canceled", event, old)


def cancel_event(
    sb: Sandbox, base: str, event: ScheduledEvent, by: User, reason: str | None
) -> JSON:
    now = sb.now()
    cancellation: JSON = {
        "canceled_by": by.name,
        "reason": reason,
        "canceler_type": "host",
        "created_at": now,
    }
    event.status = "canceled"
    event.cancellation = cancellation
    event.updated_at = now
    for uuid in event.invitees:
        invitee = sb.invitees[uuid]
        if invitee.status == "active":
            invitee.status = "canceled"
            invitee.cancellation = cancellation
            invitee.updated_at = now
            deliver_invitee(sb, base, "invitee.canceled", event, invitee)
    return cancellation


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}
label{{display:block;margin:.3rem 0}}</style></head>
<body><p><small>Calendly sandbox</small></p><h1>{title}</h1>{body}</body></html>
"""


def page(title: str, body: str, status: int = 200) -> Response:
    return Response.html(PAGE.format(title=escape(title), body=body), status)


def public_event_type(sb: Sandbox, req: Request) -> EventType | None:
    """The event type behind a scheduling_url: /<user>/<type> or /team/<team>/<type>."""
    if "team_slug" in req.params:
        owners = {t.uuid for t in sb.teams.values() if t.slug == req.params["team_slug"]}
    else:
        owners = {u.uuid for u in sb.users.values() if u.slug == req.params["user_slug"]}
    return next(
        (
            et
            for et in sb.event_types.values()
            if et.owner in owners and et.slug == req.params["event_type_slug"] and et.active
        ),
        None,
    )


def reschedulable(sb: Sandbox, req: Request) -> Invitee | None:
    """The invitee behind a reschedule_url, while it is booked on an upcoming event."""
    invitee = sb.invitees.get(req.params["invitee"])
    if invitee is None or invitee.status != "active":
        return None
    event = sb.scheduled_events[invitee.event]
    return invitee if event.status == "active" and event.start_time > sb.now() else None


def usable_link(sb: Sandbox, req: Request) -> SchedulingLink | Response:
    if "code" in req.params:
        link = sb.links.get(req.params["code"])
    elif "invitee" in req.params:
        # Rescheduling books like a public scheduling_url, on the old event's type.
        old = reschedulable(sb, req)
        link = None
        if old is not None:
            booked = sb.event_types[sb.scheduled_events[old.event].event_type]
            link = SchedulingLink("", booked.uuid, booked.owner, sb.now(), None, 10**9)
    else:
        # A public scheduling_url books as often as people like: an unsaved, unlimited link.
        event_type = public_event_type(sb, req)
        link = None
        if event_type is not None:
            link = SchedulingLink("", event_type.uuid, event_type.owner, sb.now(), None, 10**9)
    if link is None or link.event_type not in sb.event_types:
        return page("Page not found", "<p>This booking link does not exist.</p>", 404)
    if link.used_up:
        # Calendly shows an "expired link" page for a used single-use link.
        return page("Link expired", "<p>This single-use link has already been used.</p>", 410)
    return link


def booking_window(sb: Sandbox, link: SchedulingLink) -> tuple[datetime, datetime, int]:
    event_type = sb.event_types[link.event_type]
    settings: JSON = sb.shares[link.share].settings if link.share else {}
    start = (sb.now() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=7), int(settings.get("duration", event_type.duration))


def show_booking_page(sb: Sandbox, req: Request) -> Response:
    link = usable_link(sb, req)
    if isinstance(link, Response):
        return link
    event_type = sb.event_types[link.event_type]
    start, end, duration = booking_window(sb, link)
    slots = available_slots(sb, event_type, start, end, duration, limit=40)
    choices = "".join(
        f'<label><input type="radio" name="start_time" value="{timestamp(s)}"'
        f"{' checked' if i == 0 else ''}> {s:%a %d %b %H:%M} UTC</label>"
        for i, s in enumerate(slots)
    )
    who = (
        ""
        if "invitee" in req.params
        else '<label>Name <input name="name" required></label>'
        '<label>Email <input name="email" type="email" required></label>'
    )
    body = (
        f"<p>{duration} minutes</p>"
        f'<form method="post"><fieldset><legend>Pick a time</legend>{choices}</fieldset>{who}'
        '<button type="submit">Schedule event</button></form>'
    )
    return page(event_type.name, body)


def submit_booking(sb: Sandbox, req: Request) -> Response:
    link = usable_link(sb, req)
    if isinstance(link, Response):
        return link
    form = req.form()
    start = parse_timestamp(form.get("start_time", ""))
    name, email = form.get("name", "").strip(), form.get("email", "").strip()
    old = reschedulable(sb, req) if "invitee" in req.params else None
    if old is not None:
        name, email = old.name, old.email
    event_type = sb.event_types[link.event_type]
    window_start, window_end, duration = booking_window(sb, link)
    if start is None or not name or "@" not in email:
        return page("Missing details", "<p>Pick a time and give a name and an email.</p>", 400)
    if start not in available_slots(sb, event_type, window_start, window_end, duration):
        return page("Time unavailable", "<p>That time is no longer available.</p>", 409)
    event = book(sb, req.base, link, start, name, email, old)
    uri = render.event_uri(req.base, event.uuid)
    body = (
        f"<p>You are scheduled with {escape(', '.join(sb.users[h].name for h in event.hosts))}"
        f" on {start:%A %d %B %Y at %H:%M} UTC.</p>"
        f'<p>Event: <a id="event" href="{escape(uri)}">{escape(uri)}</a></p>'
    )
    return page("Confirmed", body)


def show_landing_page(sb: Sandbox, req: Request) -> Response:
    """A user's scheduling_url: their active, non-secret event types."""
    person = next((u for u in sb.users.values() if u.slug == req.params["user_slug"]), None)
    if person is None:
        # The catch-all must not hide Calendly-shaped 404s for unknown API paths.
        return Response.error(not_found())
    listed = [
        et
        for et in sb.event_types.values()
        if et.owner == person.uuid and et.active and not et.secret
    ]
    items = "".join(
        f'<li><a href="/{person.slug}/{escape(et.slug)}">{escape(et.name)}</a>'
        f" ({et.duration} min)</li>"
        for et in sorted(listed, key=lambda et: et.position)
    )
    return page(person.name, f"<ul>{items}</ul>")


PAGE_ROUTES = [
    Route("GET", "/d/{code}/{slug}", show_booking_page, kind="page"),
    Route("POST", "/d/{code}/{slug}", submit_booking, kind="page"),
    Route("GET", "/reschedulings/{invitee}", show_booking_page, kind="page"),
    Route("POST", "/reschedulings/{invitee}", submit_booking, kind="page"),
]
# Catch-alls for event types' and users' scheduling_url; the router tries them last.
SCHEDULING_URL_ROUTES = [
    Route("GET", "/team/{team_slug}/{event_type_slug}", show_booking_page, kind="page"),
    Route("POST", "/team/{team_slug}/{event_type_slug}", submit_booking, kind="page"),
    Route("GET", "/{user_slug}/{event_type_slug}", show_booking_page, kind="page"),
    Route("POST", "/{user_slug}/{event_type_slug}", submit_booking, kind="page"),
    Route("GET", "/{user_slug}", show_landing_page, kind="page"),
]
