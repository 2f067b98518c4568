"""Event types, available times, single-use links and shares.

Creating and updating an event type delivers `event_type.created` and `event_type.updated`
webhooks. Calendly's API has no call that deletes an event type, so neither has the sandbox.
"""

from __future__ import annotations

import re
from datetime import timedelta

from portal.sandbox import render
from portal.sandbox.api.checks import (
    LOCALES,
    can_manage_event_type,
    colleague,
    duration_options,
    integer,
    locations,
    own_org,
    require_admin,
    text,
    visible_event_type,
)
from portal.sandbox.booking import available_slots
from portal.sandbox.http import (
    JSON,
    NO_ACCESS,
    NO_PERMISSION,
    Request,
    Response,
    forbidden,
    invalid,
    not_found,
    paginate,
    sort_rows,
)
from portal.sandbox.state import (
    EventType,
    Sandbox,
    SchedulingLink,
    Share,
)
from portal.sandbox.webhooks import deliver_event_type

# -- event types -------------------------------------------------------------------------------


def list_event_types(sb: Sandbox, req: Request) -> Response:
    org = req.uri_arg("organization", "organizations")
    user = req.uri_arg("user", "users")
    active = req.bool_arg("active")
    managed = req.bool_arg("admin_managed")
    schedule = req.uri_arg("user_availability_schedule", "user_availability_schedules")
    keys = req.sort_arg(("name", "position", "created_at", "updated_at"), "name:asc")
    if org is None and user is None:
        raise invalid("organization", "organization or user is required")
    if org is not None:
        own_org(sb, req, org)
        require_admin(sb, req, NO_PERMISSION)
        rows = [et for et in sb.event_types.values() if et.organization == org]
    if user is not None:
        person = colleague(sb, req, user)
        if person.uuid != req.caller.uuid and not sb.is_admin(req.caller):
            raise forbidden(NO_PERMISSION)
        pool = rows if org is not None else list(sb.event_types.values())
        rows = [et for et in pool if person.uuid in et.hosts]
        if schedule:
            rows = [et for et in rows if et.schedule == schedule]
    rows = [et for et in rows if et.deleted_at is None]
    if active is not None:
        rows = [et for et in rows if et.active is active]
    if managed is not None:
        rows = [et for et in rows if et.admin_managed is managed]
    sort_rows(rows, keys, lambda et, name: et.name.lower() if name == "name" else getattr(et, name))
    return paginate(req, rows, lambda et: render.event_type(req.base, sb, et))


def get_event_type(sb: Sandbox, req: Request) -> Response:
    row = visible_event_type(sb, req, req.params["uuid"])
    return Response.resource(render.event_type(req.base, sb, row))


def event_type_fields(body: JSON, row: EventType) -> None:
    """Apply the writable fields of POST/PATCH /event_types to `row`."""
    if "name" in body:
        row.name = text("name", body["name"], 55)
        row.slug = re.sub(r"[^a-z0-9]+", "-", row.name.lower()).strip("-") or row.uuid.lower()
    if "active" in body:
        if not isinstance(body["active"], bool):
            raise invalid("active", "must be true or false")
        row.active = body["active"]
    if "description" in body:
        row.description = body["description"] if isinstance(body["description"], str) else None
    if "color" in body:
        if not isinstance(body["color"], str) or not re.fullmatch(r"#[0-9a-f]{6}", body["color"]):
            raise invalid("color", "must be a #rrggbb colour")
        row.color = body["color"]
    if "locale" in body:
        if body["locale"] not in LOCALES:
            raise invalid("locale", f"must be one of {', '.join(LOCALES)}")
        row.locale = body["locale"]
    if "locations" in body:
        row.locations = locations("locations", body["locations"])
    if "duration_options" in body:
        row.duration_options = duration_options(body["duration_options"])
    if "duration" in body:
        row.duration = integer("duration", body["duration"], 1, 720)
    if row.duration_options and row.duration not in row.duration_options:
        raise invalid("duration", "must be one of duration_options")


def create_event_type(sb: Sandbox, req: Request) -> Response:
    body = req.json_body()
    owner = colleague(sb, req, req.uri("owner", body.get("owner"), "users"))
    text("name", body.get("name"), 55)
    if owner.uuid != req.caller.uuid and not sb.is_admin(req.caller):
        raise forbidden(NO_PERMISSION)
    now = sb.now()
    row = EventType(
        uuid=sb.new_id(),
        organization=owner.organization,
        name="",
        slug="",
        kind="solo",
        pooling_type=None,
        profile_type="User",
        owner=owner.uuid,
        hosts={owner.uuid: sb.new_id()},
        active=False,  # Calendly's default for API-created types
        secret=False,
        admin_managed=False,
        duration=30,
        color="#0069ff",
        position=sum(1 for et in sb.event_types.values() if et.owner == owner.uuid),
        created_at=now,
        updated_at=now,
        schedule=owner.schedules[0] if owner.schedules else None,
    )
    event_type_fields(body, row)
    sb.event_types[row.uuid] = row
    deliver_event_type(sb, req.base, "event_type.created", row)
    return Response.resource(render.event_type(req.base, sb, row), 201)


def update_event_type(sb: Sandbox, req: Request) -> Response:
    row = visible_event_type(sb, req, req.params["uuid"])
    if not can_manage_event_type(sb, req, row):
        raise forbidden(NO_PERMISSION)
    if row.kind != "solo" or row.pooling_type is not None:
        raise invalid("uuid", "only one-on-one event types can be updated")
    event_type_fields(req.json_body(), row)
    row.updated_at = sb.now()
    deliver_event_type(sb, req.base, "event_type.updated", row)
    return Response.resource(render.event_type(req.base, sb, row))


def list_event_type_memberships(sb: Sandbox, req: Request) -> Response:
    uuid = req.uri_arg("event_type", "event_types", required=True)
    assert uuid is not None
    row = visible_event_type(sb, req, uuid)
    hosts = [h for h in row.hosts if h in sb.users]
    return paginate(req, hosts, lambda h: render.event_type_membership(req.base, sb, row, h))


def list_available_times(sb: Sandbox, req: Request) -> Response:
    uuid = req.uri_arg("event_type", "event_types", required=True)
    start = req.time_arg("start_time", required=True)
    end = req.time_arg("end_time", required=True)
    assert uuid is not None
    assert start is not None
    assert end is not None
    row = visible_event_type(sb, req, uuid)
    if start < sb.now() - timedelta(minutes=1):
        raise invalid("start_time", "must be in the future")
    if end <= start:
        raise invalid("end_time", "must be after start_time")
    if end - start > timedelta(days=31):
        raise invalid("end_time", "must be at most 31 days after start_time")
    url = render.event_type_scheduling_url(req.base, sb, row)
    slots = [
        {
            "status": "available",
            "invitees_remaining": row.max_invitees,
            "start_time": slot.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "scheduling_url": f"{url}/{slot.strftime('%Y-%m-%dT%H:%M:%S')}Z?month={slot:%Y-%m}",
        }
        for slot in available_slots(sb, row, start, end)
    ]
    return Response.json(200, {"collection": slots})


# -- scheduling links and shares ---------------------------------------------------------------


def create_scheduling_link(sb: Sandbox, req: Request) -> Response:
    body = req.json_body()
    # The 2026 export types max_event_count as the string "1"; Calendly's examples send 1.
    if body.get("max_event_count") not in (1, "1"):
        raise invalid("max_event_count", "must be 1")
    if body.get("owner_type") != "EventType":
        raise invalid("owner_type", "must be EventType")
    row = visible_event_type(sb, req, req.uri("owner", body.get("owner"), "event_types"))
    if not can_manage_event_type(sb, req, row):
        raise forbidden(NO_ACCESS)
    link = SchedulingLink(sb.new_link_code(), row.uuid, req.caller.uuid, sb.now())
    sb.links[link.code] = link
    return Response.resource(
        {
            "booking_url": render.booking_url(req.base, link.code, row.slug),
            "owner": render.event_type_uri(req.base, row.uuid),
            "owner_type": "EventType",
        },
        201,
    )


def share_settings(body: JSON, source: EventType, current: JSON | None = None) -> JSON:
    """Validate POST/PATCH /shares fields; omitted settings keep the event type's values, and
    on PATCH a null gives a setting back to the event type."""
    cleared = {name for name, value in body.items() if value is None}
    settings: JSON = {k: v for k, v in (current or {}).items() if k not in cleared}
    body = {name: value for name, value in body.items() if value is not None}
    if "name" in body:
        settings["name"] = text("name", body["name"], 55)
    if "duration_options" in body:
        settings["duration_options"] = duration_options(body["duration_options"])
    if "duration" in body:
        settings["duration"] = integer("duration", body["duration"], 1, 720)
    options = settings.get("duration_options", source.duration_options)
    duration = settings.get("duration", source.duration)
    if options and duration not in options:
        raise invalid("duration", "must be one of duration_options")
    if "period_type" in body:
        if body["period_type"] not in ("available_moving", "moving", "fixed", "unlimited"):
            raise invalid("period_type", "must be available_moving, moving, fixed or unlimited")
        settings["period_type"] = body["period_type"]
    for name in ("start_date", "end_date"):
        if name in body:
            value = body[name]
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise invalid(name, "must be a date in YYYY-MM-DD format")
            settings[name] = value
    for name in ("max_booking_time", "min_booking_time"):
        if name in body:
            settings[name] = integer(name, body[name], 1, 100000)
    period = settings.get("period_type")
    if period == "fixed":
        for name in ("start_date", "end_date"):
            if not settings.get(name):
                raise invalid(name, "is required when period_type is fixed")
    if period in ("moving", "available_moving") and not settings.get("max_booking_time"):
        raise invalid("max_booking_time", f"is required when period_type is {period}")
    if "hide_location" in body:
        if not isinstance(body["hide_location"], bool):
            raise invalid("hide_location", "must be true or false")
        settings["hide_location"] = body["hide_location"]
    if "location_configurations" in body:
        configured = locations("location_configurations", body["location_configurations"])
        settings["location_configurations"] = [
            {
                "kind": loc["kind"],
                "location": loc.get("location"),
                "additional_info": loc.get("additional_info"),
                "phone_number": loc.get("phone_number"),
                "position": loc.get("position", position),
            }
            for position, loc in enumerate(configured)
        ]
    if "availability_rule" in body:
        rule = body["availability_rule"]
        if not isinstance(rule, dict) or not isinstance(rule.get("rules"), list):
            raise invalid("availability_rule.rules", "is required")
        if not isinstance(rule.get("timezone"), str):
            raise invalid("availability_rule.timezone", "is required")
        settings["availability_rule"] = {"rules": rule["rules"], "timezone": rule["timezone"]}
    return settings


def create_share(sb: Sandbox, req: Request) -> Response:
    body = req.json_body()
    source = visible_event_type(
        sb, req, req.uri("event_type", body.get("event_type"), "event_types")
    )
    if not can_manage_event_type(sb, req, source):
        raise forbidden(NO_ACCESS)
    if source.kind != "solo" or source.pooling_type is not None:
        raise invalid("event_type", "only one-on-one event types can be shared")
    settings = share_settings(body, source)
    now = sb.now()
    link = SchedulingLink(sb.new_link_code(), source.uuid, req.caller.uuid, now)
    row = Share(sb.new_id(), source.uuid, req.caller.uuid, settings, link.code, now, now)
    link.share = row.uuid
    sb.links[link.code] = link
    sb.shares[row.uuid] = row
    return Response.resource(render.share(req.base, sb, row), 201)


def visible_share(sb: Sandbox, req: Request) -> Share:
    row = sb.shares.get(req.params["uuid"])
    if row is None or row.deleted:
        raise not_found()
    source = sb.event_types[row.event_type]
    if source.organization != req.caller.organization:
        raise not_found()
    if not (sb.is_admin(req.caller) or row.creator == req.caller.uuid):
        raise forbidden(NO_ACCESS)
    return row


def list_shares(sb: Sandbox, req: Request) -> Response:
    """Only the caller's own Shares, those on event types they host (owners host their own),
    newest first (https://developer.calendly.com/api-docs/calendly-api/shares/list-shares)."""
    user = req.uri_arg("user", "users", required=True)
    event_type = req.uri_arg("event_type", "event_types")
    since = req.time_arg("min_created_at")
    before = req.time_arg("max_created_at")
    descending = req.sort_arg(("created_at",), "created_at:desc")[0][1]
    if user != req.caller.uuid:
        raise forbidden(NO_PERMISSION)
    rows = [
        s
        for s in sb.shares.values()
        if not s.deleted
        and user in sb.event_types[s.event_type].hosts
        and event_type in (None, s.event_type)
        and (since is None or s.created_at >= since)
        and (before is None or s.created_at < before)
    ]
    rows.sort(key=lambda s: s.created_at, reverse=descending)
    return paginate(req, rows, lambda s: render.share(req.base, sb, s))


def update_share(sb: Sandbox, req: Request) -> Response:
    row = visible_share(sb, req)
    body = req.json_body()
    if not body:
        raise invalid("body", "at least one field is required")
    if render.share_status(sb, row) != "active":
        raise invalid("uuid", "only active shares that are not booked can be updated")
    row.settings = share_settings(body, sb.event_types[row.event_type], row.settings)
    row.updated_at = sb.now()
    return Response.resource(render.share(req.base, sb, row))


def delete_share(sb: Sandbox, req: Request) -> Response:
    row = visible_share(sb, req)
    # Calendly's reference lists 400, 409 and 422 for this call without saying which a booked
    # Share gets; 400 is the one every Calendly endpoint documents.
    if sb.links[row.link].used_up:
        raise invalid("uuid", "a booked share cannot be deleted")
    row.deleted = True
    sb.links.pop(row.link, None)
    return Response.empty()
