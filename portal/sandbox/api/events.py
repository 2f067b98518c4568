"""Scheduled events, invitees, cancellations, no-shows and availability."""

from __future__ import annotations

import re
from datetime import timedelta

from portal.sandbox import render
from portal.sandbox.api.checks import (
    colleague,
    group_admin,
    group_hosts,
    own_org,
)
from portal.sandbox.booking import cancel_event
from portal.sandbox.http import (
    NO_ACCESS,
    Request,
    Response,
    forbidden,
    invalid,
    not_found,
    paginate,
    sort_rows,
    timestamp,
)
from portal.sandbox.state import (
    Invitee,
    NoShow,
    Sandbox,
    ScheduledEvent,
)
from portal.sandbox.webhooks import deliver_invitee

# -- scheduled events --------------------------------------------------------------------------


def list_scheduled_events(sb: Sandbox, req: Request) -> Response:
    org = req.uri_arg("organization", "organizations")
    user = req.uri_arg("user", "users")
    group = req.uri_arg("group", "groups")
    status = req.choice_arg("status", ("active", "canceled"))
    email = req.arg("invitee_email")
    low = req.time_arg("min_start_time")
    high = req.time_arg("max_start_time")
    keys = req.sort_arg(("start_time",), "start_time:asc")
    if org is None and user is None and group is None:
        raise invalid("organization", "organization, user or group is required")
    caller = req.caller
    if org is not None:
        own_org(sb, req, org)
        if not sb.is_admin(caller) and not (group and group_admin(sb, caller, group)):
            raise forbidden(NO_ACCESS)
    elif user is not None and user != caller.uuid:
        colleague(sb, req, user)
        raise forbidden(
            "Please also specify organization when requesting events for a user within your "
            "organization."
        )
    elif (
        group is not None
        and user is None
        and not (sb.is_admin(caller) or group_admin(sb, caller, group))
    ):
        raise forbidden(NO_ACCESS)
    rows = [e for e in sb.scheduled_events.values() if e.organization == caller.organization]
    if user is not None:
        rows = [e for e in rows if user in e.hosts]
    if group is not None:
        if group not in sb.groups or sb.groups[group].organization != caller.organization:
            raise not_found()
        members = group_hosts(sb, group)
        rows = [e for e in rows if members.intersection(e.hosts)]
    if status:
        rows = [e for e in rows if e.status == status]
    if email:
        rows = [
            e
            for e in rows
            if any(sb.invitees[i].email.lower() == email.lower() for i in e.invitees)
        ]
    if low:
        rows = [e for e in rows if e.start_time >= low]
    if high:
        rows = [e for e in rows if e.start_time < high]
    sort_rows(rows, keys, lambda e, _name: e.start_time)
    return paginate(req, rows, lambda e: render.scheduled_event(req.base, sb, e))


def visible_event(sb: Sandbox, req: Request, uuid: str, message: str) -> ScheduledEvent:
    row = sb.scheduled_events.get(uuid)
    if row is None or row.organization != req.caller.organization:
        raise not_found()
    if not sb.is_admin(req.caller) and req.caller.uuid not in row.hosts:
        raise forbidden(message)
    return row


def get_scheduled_event(sb: Sandbox, req: Request) -> Response:
    row = visible_event(sb, req, req.params["uuid"], "You are not allowed to view this event")
    return Response.resource(render.scheduled_event(req.base, sb, row))


def list_invitees(sb: Sandbox, req: Request) -> Response:
    event = visible_event(sb, req, req.params["uuid"], "You are not allowed to view this event")
    status = req.choice_arg("status", ("active", "canceled"))
    email = req.arg("email")
    keys = req.sort_arg(("created_at",), "created_at:asc")
    rows = [sb.invitees[i] for i in event.invitees]
    if status:
        rows = [i for i in rows if i.status == status]
    if email:
        rows = [i for i in rows if i.email.lower() == email.lower()]
    sort_rows(rows, keys, lambda i, _name: i.created_at)
    return paginate(req, rows, lambda i: render.invitee(req.base, sb, i))


def get_invitee(sb: Sandbox, req: Request) -> Response:
    event = visible_event(
        sb, req, req.params["event_uuid"], "You are not allowed to view this event"
    )
    row = sb.invitees.get(req.params["invitee_uuid"])
    if row is None or row.event != event.uuid:
        raise not_found()
    return Response.resource(render.invitee(req.base, sb, row))


def create_cancellation(sb: Sandbox, req: Request) -> Response:
    event = visible_event(sb, req, req.params["uuid"], "You are not allowed to cancel this event")
    reason = req.json_body().get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 10000):
        raise invalid("reason", "must be a string of at most 10000 characters")
    if event.status == "canceled":
        raise forbidden("Event is already canceled")
    if event.start_time < sb.now():
        raise forbidden("Event in the past")
    cancellation = cancel_event(sb, req.base, event, req.caller, reason)
    return Response.resource(render._dates(cancellation), 201)


def invitee_from_uri(sb: Sandbox, req: Request, value: object) -> Invitee:
    match = re.search(r"^https?://[^/]+/scheduled_events/([^/]+)/invitees/([^/]+)$", str(value))
    if value is None or match is None:
        raise invalid("invitee", "must be an invitee URI")
    visible_event(sb, req, match.group(1), NO_ACCESS)
    row = sb.invitees.get(match.group(2))
    if row is None or row.event != match.group(1):
        raise not_found()
    return row


def create_no_show(sb: Sandbox, req: Request) -> Response:
    row = invitee_from_uri(sb, req, req.json_body().get("invitee"))
    if row.no_show:
        raise invalid("invitee", "is already marked as a no-show")
    mark = NoShow(sb.new_id(), row.uuid, sb.now())
    sb.no_shows[mark.uuid] = mark
    row.no_show = mark.uuid
    # The webhook carries the invitee (now with its `no_show`), as for every invitee event:
    # the spec's payload has no no-show shape of its own.
    event = sb.scheduled_events[row.event]
    deliver_invitee(sb, req.base, "invitee_no_show.created", event, row)
    return Response.resource(render.no_show(req.base, sb, mark), 201)


def visible_no_show(sb: Sandbox, req: Request) -> NoShow:
    mark = sb.no_shows.get(req.params["uuid"])
    if mark is None:
        raise not_found()
    event = sb.scheduled_events[sb.invitees[mark.invitee].event]
    visible_event(sb, req, event.uuid, NO_ACCESS)
    return mark


def get_no_show(sb: Sandbox, req: Request) -> Response:
    return Response.resource(render.no_show(req.base, sb, visible_no_show(sb, req)))


def delete_no_show(sb: Sandbox, req: Request) -> Response:
    mark = visible_no_show(sb, req)
    del sb.no_shows[mark.uuid]
    row = sb.invitees[mark.invitee]
    row.no_show = None
    deliver_invitee(sb, req.base, "invitee_no_show.deleted", sb.scheduled_events[row.event], row)
    return Response.empty()


# -- availability ------------------------------------------------------------------------------


def list_busy_times(sb: Sandbox, req: Request) -> Response:
    user = req.uri_arg("user", "users", required=True)
    start = req.time_arg("start_time", required=True)
    end = req.time_arg("end_time", required=True)
    assert user is not None
    assert start is not None
    assert end is not None
    person = colleague(sb, req, user)
    if start < sb.now() - timedelta(minutes=1):
        raise invalid("start_time", "must be in the future")
    if end <= start:
        raise invalid("end_time", "must be after start_time")
    if end - start > timedelta(days=7):
        raise invalid("end_time", "must be at most 7 days after start_time")
    events = sorted(
        (
            e
            for e in sb.scheduled_events.values()
            if person.uuid in e.hosts
            and e.status == "active"
            and e.end_time > start
            and e.start_time < end
        ),
        key=lambda e: e.start_time,
    )
    return Response.json(
        200,
        {
            "collection": [
                {
                    "type": "calendly",
                    "start_time": timestamp(e.start_time),
                    "end_time": timestamp(e.end_time),
                    "buffered_start_time": timestamp(e.start_time),
                    "buffered_end_time": timestamp(e.end_time),
                    "event": {"uri": render.event_uri(req.base, e.uuid)},
                }
                for e in events
            ]
        },
    )


def list_schedules(sb: Sandbox, req: Request) -> Response:
    user = req.uri_arg("user", "users", required=True)
    assert user is not None
    person = colleague(sb, req, user)
    rows = [sb.schedules[s] for s in person.schedules]
    return Response.json(200, {"collection": [render.schedule(req.base, s) for s in rows]})


def get_schedule(sb: Sandbox, req: Request) -> Response:
    row = sb.schedules.get(req.params["uuid"])
    if row is None:
        raise not_found()
    colleague(sb, req, row.user)
    return Response.resource(render.schedule(req.base, row))
