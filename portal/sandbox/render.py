"""Sandbox objects as Calendly JSON, shaped after the examples in the 2023 OpenAPI file.

Every reference is a full URI built from `base`, the URL the caller used to reach the sandbox.
Fields that only the 2026 description has (locale, position, duration_options, group ...) are
included as well: neither spec forbids additional properties, so one shape satisfies both.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from portal.sandbox.http import JSON, timestamp

if TYPE_CHECKING:
    from portal.sandbox.state import (
        ActivityEntry,
        AvailabilitySchedule,
        EventType,
        Group,
        GroupRelationship,
        Invitation,
        Invitee,
        Membership,
        NoShow,
        Organization,
        RoutingForm,
        RoutingFormSubmission,
        Sandbox,
        ScheduledEvent,
        Share,
        Team,
        User,
        WebhookSubscription,
    )


def _dates(value: Any) -> Any:
    """Stored JSON may hold datetimes (cancellations); render them as Calendly timestamps."""
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, dict):
        return {k: _dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates(v) for v in value]
    return value


def org_uri(base: str, uuid: str) -> str:
    return f"{base}/organizations/{uuid}"


def user_uri(base: str, uuid: str) -> str:
    return f"{base}/users/{uuid}"


def event_type_uri(base: str, uuid: str) -> str:
    return f"{base}/event_types/{uuid}"


def event_uri(base: str, uuid: str) -> str:
    return f"{base}/scheduled_events/{uuid}"


def invitee_uri(base: str, invitee: Invitee) -> str:
    return f"{base}/scheduled_events/{invitee.event}/invitees/{invitee.uuid}"


def booking_url(base: str, code: str, slug: str) -> str:
    return f"{base}/d/{code}/{slug}"


def organization(base: str, org: Organization) -> JSON:
    return {
        "uri": org_uri(base, org.uuid),
        "kind": org.kind,
        "name": org.name,
        "plan": org.plan,
        "stage": org.stage,
        "created_at": timestamp(org.created_at),
        "updated_at": timestamp(org.updated_at),
    }


def user_fields(base: str, user: User) -> JSON:
    return {
        "uri": user_uri(base, user.uuid),
        "name": user.name,
        "slug": user.slug,
        "email": user.email,
        "scheduling_url": f"{base}/{user.slug}",
        "timezone": user.timezone,
        "avatar_url": None,
        "locale": user.locale,
        "created_at": timestamp(user.created_at),
        "updated_at": timestamp(user.updated_at),
    }


def user(base: str, person: User) -> JSON:
    return {
        **user_fields(base, person),
        "time_notation": "12h",
        "current_organization": org_uri(base, person.organization),
        "resource_type": "User",
    }


def membership(base: str, sb: Sandbox, row: Membership) -> JSON:
    return {
        "uri": f"{base}/organization_memberships/{row.uuid}",
        "role": row.role,
        "user": user_fields(base, sb.users[row.user]),
        "organization": org_uri(base, row.organization),
        "updated_at": timestamp(row.updated_at),
        "created_at": timestamp(row.created_at),
    }


def invitation(base: str, row: Invitation) -> JSON:
    body: JSON = {
        "uri": f"{base}/organizations/{row.organization}/invitations/{row.uuid}",
        "organization": org_uri(base, row.organization),
        "email": row.email,
        "status": row.status,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "last_sent_at": timestamp(row.last_sent_at) if row.last_sent_at else None,
    }
    if row.user:
        body["user"] = user_uri(base, row.user)
    return body


def group(base: str, sb: Sandbox, row: Group) -> JSON:
    members = sum(
        1 for r in sb.group_relationships.values() if r.group == row.uuid and r.role == "member"
    )
    return {
        "uri": f"{base}/groups/{row.uuid}",
        "name": row.name,
        "organization": org_uri(base, row.organization),
        "member_count": members,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }


def group_relationship(base: str, sb: Sandbox, row: GroupRelationship) -> JSON:
    if row.owner_kind == "membership":
        owner = {
            **membership(base, sb, sb.memberships[row.owner]),
            "type": "OrganizationMembership",
        }
    else:
        owner = {**invitation(base, sb.invitations[row.owner]), "type": "OrganizationInvitation"}
    return {
        "uri": f"{base}/group_relationships/{row.uuid}",
        "role": row.role,
        "owner": owner,
        "organization": org_uri(base, row.organization),
        "group": f"{base}/groups/{row.group}",
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }


def team(base: str, row: Team) -> JSON:
    return {
        "uri": f"{base}/teams/{row.uuid}",
        "name": row.name,
        "organization": org_uri(base, row.organization),
        "scheduling_url": f"{base}/team/{row.slug}",
    }


def event_type_scheduling_url(base: str, sb: Sandbox, row: EventType) -> str:
    if row.profile_type == "Team":
        return f"{base}/team/{sb.teams[row.owner].slug}/{row.slug}"
    return f"{base}/{sb.users[row.owner].slug}/{row.slug}"


def event_type(base: str, sb: Sandbox, row: EventType) -> JSON:
    if row.profile_type == "Team":
        profile = {
            "type": "Team",
            "name": sb.teams[row.owner].name,
            "owner": f"{base}/teams/{row.owner}",
        }
    else:
        profile = {
            "type": "User",
            "name": sb.users[row.owner].name,
            "owner": user_uri(base, row.owner),
        }
    description = row.description
    return {
        "uri": event_type_uri(base, row.uuid),
        "name": row.name,
        "active": row.active,
        "booking_method": "instant",
        "slug": row.slug,
        "scheduling_url": event_type_scheduling_url(base, sb, row),
        "duration": row.duration,
        "duration_options": row.duration_options,
        "kind": row.kind,
        "pooling_type": row.pooling_type,
        "type": row.type,
        "color": row.color,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "internal_note": row.internal_note,
        "description_plain": description,
        "description_html": f"<p>{description}</p>" if description else None,
        "profile": profile,
        "secret": row.secret,
        "deleted_at": timestamp(row.deleted_at) if row.deleted_at else None,
        "admin_managed": row.admin_managed,
        "kind_description": row.kind_description,
        "custom_questions": row.custom_questions,
        "locations": row.locations,
        "locale": row.locale,
        "position": row.position,
        "is_paid": False,
    }


def event_type_payload(base: str, sb: Sandbox, row: EventType) -> JSON:
    """The `event_type.*` webhook payload: the event type as the API renders it, without
    `description_html` (Calendly's EventTypePayload has no such field)."""
    body = event_type(base, sb, row)
    body.pop("description_html")
    return body


def event_type_membership(base: str, sb: Sandbox, row: EventType, host: str) -> JSON:
    return {
        "uri": f"{base}/event_type_memberships/{row.hosts[host]}",
        "event_type": event_type(base, sb, row),
        "member": user(base, sb.users[host]),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }


def scheduled_event(base: str, sb: Sandbox, row: ScheduledEvent) -> JSON:
    active = sum(1 for i in row.invitees if sb.invitees[i].status == "active")
    body: JSON = {
        "uri": event_uri(base, row.uuid),
        "name": row.name,
        "status": row.status,
        "start_time": timestamp(row.start_time),
        "end_time": timestamp(row.end_time),
        "event_type": event_type_uri(base, row.event_type),
        "location": row.location,
        "invitees_counter": {
            "total": len(row.invitees),
            "active": active,
            "limit": row.invitee_limit,
        },
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "event_memberships": [
            {
                "user": user_uri(base, host),
                "user_email": sb.users[host].email,
                "user_name": sb.users[host].name,
            }
            for host in row.hosts
            if host in sb.users
        ],
        "event_guests": [],
        # The 2026 export types calendar_event as a required, non-null object.
        "calendar_event": {"kind": "google", "external_id": row.uuid.lower()},
    }
    if row.cancellation:
        body["cancellation"] = _dates(row.cancellation)
    return body


def invitee(base: str, sb: Sandbox, row: Invitee) -> JSON:
    body: JSON = {
        "uri": invitee_uri(base, row),
        "email": row.email,
        "first_name": None,
        "last_name": None,
        "name": row.name,
        "status": row.status,
        "questions_and_answers": row.questions_and_answers,
        "timezone": row.timezone,
        "event": event_uri(base, row.event),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "tracking": row.tracking,
        "text_reminder_number": None,
        "rescheduled": row.rescheduled,
        "old_invitee": _invitee_ref(base, sb, row.old_invitee),
        "new_invitee": _invitee_ref(base, sb, row.new_invitee),
        "cancel_url": f"{base}/cancellations/{row.uuid}",
        "reschedule_url": f"{base}/reschedulings/{row.uuid}",
        "routing_form_submission": (
            f"{base}/routing_form_submissions/{row.routing_form_submission}"
            if row.routing_form_submission
            else None
        ),
        "payment": None,
        "no_show": (
            {
                "uri": f"{base}/invitee_no_shows/{row.no_show}",
                "created_at": timestamp(sb.no_shows[row.no_show].created_at),
            }
            if row.no_show
            else None
        ),
        "reconfirmation": None,
        "scheduling_method": row.scheduling_method,
        "invitee_scheduled_by": None,
    }
    if row.cancellation:
        body["cancellation"] = _dates(row.cancellation)
    return body


def _invitee_ref(base: str, sb: Sandbox, uuid: str | None) -> str | None:
    return invitee_uri(base, sb.invitees[uuid]) if uuid else None


def invitee_payload(base: str, sb: Sandbox, row: Invitee) -> JSON:
    """The webhook payload: an invitee with its scheduled event embedded (2026 shape)."""
    event = scheduled_event(base, sb, sb.scheduled_events[row.event])
    event.pop("calendar_event")
    body = invitee(base, sb, row)
    body["scheduled_event"] = event
    return body


def no_show(base: str, sb: Sandbox, row: NoShow) -> JSON:
    return {
        "uri": f"{base}/invitee_no_shows/{row.uuid}",
        "invitee": invitee_uri(base, sb.invitees[row.invitee]),
        "created_at": timestamp(row.created_at),
    }


def schedule(base: str, row: AvailabilitySchedule) -> JSON:
    return {
        "uri": f"{base}/user_availability_schedules/{row.uuid}",
        "default": row.default,
        "name": row.name,
        "user": user_uri(base, row.user),
        "timezone": row.timezone,
        "rules": row.rules,
    }


def routing_form(base: str, row: RoutingForm) -> JSON:
    return {
        "uri": f"{base}/routing_forms/{row.uuid}",
        "organization": org_uri(base, row.organization),
        "name": row.name,
        "status": row.status,
        "questions": row.questions,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }


def submission(base: str, row: RoutingFormSubmission) -> JSON:
    result = dict(row.result)
    if result["type"] == "event_type":
        result["value"] = event_type_uri(base, result["value"])
    submitter = None
    if row.submitter:
        event, person = row.submitter
        submitter = f"{base}/scheduled_events/{event}/invitees/{person}"
    return {
        "uri": f"{base}/routing_form_submissions/{row.uuid}",
        "routing_form": f"{base}/routing_forms/{row.form}",
        "questions_and_answers": row.questions_and_answers,
        "tracking": row.tracking,
        "result": result,
        "submitter": submitter,
        "submitter_type": "Invitee" if submitter else None,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }


def activity(base: str, sb: Sandbox, row: ActivityEntry) -> JSON:
    actor: JSON
    if row.actor and row.actor in sb.users:
        person = sb.users[row.actor]
        actor = {
            "uri": user_uri(base, person.uuid),
            "type": "User",
            "organization": {
                "uri": org_uri(base, row.organization),
                "role": sb.role(person) or "user",
            },
            "display_name": person.name,
            "alternative_identifier": person.email,
        }
    else:
        actor = {"type": "System", "display_name": "Calendly"}
    return {
        "uri": f"{base}/activity_log_entries/{row.uuid}",
        "occurred_at": timestamp(row.occurred_at),
        "namespace": row.namespace,
        "action": row.action,
        "fully_qualified_name": f"{row.namespace}.{row.action}",
        "details": row.details,
        "organization": org_uri(base, row.organization),
        "actor": actor,
    }


def webhook(base: str, row: WebhookSubscription) -> JSON:
    return {
        "uri": f"{base}/webhook_subscriptions/{row.uuid}",
        "callback_url": row.callback_url,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "retry_started_at": timestamp(row.retry_started_at) if row.retry_started_at else None,
        "state": row.state,
        "events": row.events,
        "scope": row.scope,
        "organization": org_uri(base, row.organization),
        "user": user_uri(base, row.user) if row.user else None,
        "group": f"{base}/groups/{row.group}" if row.group else None,
        "creator": user_uri(base, row.creator),
    }


def share(base: str, sb: Sandbox, row: Share) -> JSON:
    """A Share as of 2026-11-06: `share_override` carries the effective value of every setting."""
    source = sb.event_types[row.event_type]
    link = sb.links[row.link]
    host_schedule = sb.schedules.get(source.schedule or "")
    settings = row.settings
    effective: JSON = {
        "name": settings.get("name", source.name),
        "duration": settings.get("duration", source.duration),
        "duration_options": settings.get("duration_options", source.duration_options),
        "period_type": settings.get("period_type", "available_moving"),
        "start_date": settings.get("start_date"),
        "end_date": settings.get("end_date"),
        "max_booking_time": settings.get("max_booking_time", 60),
        "min_booking_time": settings.get("min_booking_time", 0),
        "hide_location": settings.get("hide_location", False),
        "location_configurations": settings.get(
            "location_configurations",
            [
                {
                    "kind": loc["kind"],
                    "location": loc.get("location"),
                    "additional_info": loc.get("additional_info"),
                    "phone_number": loc.get("phone_number"),
                    "position": position,
                }
                for position, loc in enumerate(source.locations or [])
            ],
        ),
        "availability_rule": settings.get(
            "availability_rule",
            {
                "rules": host_schedule.rules if host_schedule else [],
                "timezone": host_schedule.timezone if host_schedule else "UTC",
            },
        ),
    }
    return {
        "uri": f"{base}/shares/{row.uuid}",
        "contact": None,
        "status": share_status(sb, row),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "scheduling_links": [
            {
                "booking_url": booking_url(base, link.code, source.slug),
                "owner": event_type_uri(base, source.uuid),
                "owner_type": "EventType",
            }
        ],
        "share_override": effective,
    }


def share_status(sb: Sandbox, row: Share) -> str:
    """Booked once its link was used, expired once a fixed period has ended, else active."""
    if sb.links[row.link].used_up:
        return "booked"
    today = sb.now().date().isoformat()
    if row.settings.get("period_type") == "fixed" and row.settings["end_date"] < today:
        return "expired"
    return "active"
