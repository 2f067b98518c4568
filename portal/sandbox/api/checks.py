"""Constants and access checks shared by the endpoint modules."""

from __future__ import annotations

import re

from portal.sandbox.http import (
    JSON,
    NO_ACCESS,
    NOT_IN_ORG,
    Request,
    forbidden,
    invalid,
    not_found,
)
from portal.sandbox.state import (
    EventType,
    Sandbox,
    User,
)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
WEBHOOK_EVENTS = {
    "invitee.created": {"organization", "user", "group"},
    "invitee.canceled": {"organization", "user", "group"},
    "invitee_no_show.created": {"organization", "user", "group"},
    "invitee_no_show.deleted": {"organization", "user", "group"},
    "event_type.created": {"organization", "user", "group"},
    "event_type.updated": {"organization", "user", "group"},
    "event_type.deleted": {"organization", "user", "group"},
    "routing_form_submission.created": {"organization"},
    "meeting_recap.created": {"user"},
    "meeting_recap.updated": {"user"},
    "meeting_recap.deleted": {"user"},
    "contact.created": {"organization", "user", "group"},
    "contact.updated": {"organization", "user", "group"},
    "contact.deleted": {"organization", "user", "group"},
}
LOCATION_KINDS = (
    "physical",
    "ask_invitee",
    "custom",
    "outbound_call",
    "inbound_call",
    "google_conference",
    "gotomeeting_conference",
    "microsoft_teams_conference",
    "webex_conference",
    "zoom_conference",
)
LOCALES = ("de", "en", "es", "fr", "it", "nl", "pt", "uk")
UPGRADE_ENTERPRISE = "Please upgrade your Calendly account to Enterprise."


# -- shared checks -----------------------------------------------------------------------------


def own_org(sb: Sandbox, req: Request, org: str, message: str = NO_ACCESS) -> None:
    """Unknown organizations are 404; someone else's is 403 with `message`."""
    if org not in sb.organizations:
        raise not_found()
    if org != req.caller.organization:
        raise forbidden(message)


def require_admin(sb: Sandbox, req: Request, message: str = NO_ACCESS) -> None:
    if not sb.is_admin(req.caller):
        raise forbidden(message)


def colleague(sb: Sandbox, req: Request, uuid: str) -> User:
    person = sb.users.get(uuid)
    if person is None:
        raise not_found()
    if person.organization != req.caller.organization:
        raise forbidden(NOT_IN_ORG)
    return person


def visible_event_type(sb: Sandbox, req: Request, uuid: str) -> EventType:
    event_type = sb.event_types.get(uuid)
    # Another organization's objects are "outside the caller's reach": 404, not 403.
    if event_type is None or event_type.organization != req.caller.organization:
        raise not_found()
    return event_type


def can_manage_event_type(sb: Sandbox, req: Request, event_type: EventType) -> bool:
    return sb.is_admin(req.caller) or req.caller.uuid in event_type.hosts


def integer(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(name, f"must be an integer between {low} and {high}")
    return value


def text(name: str, value: object, max_length: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid(name, "must be filled")
    if max_length is not None and len(value) > max_length:
        raise invalid(name, f"must be at most {max_length} characters")
    return value


def duration_options(value: object) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= 4:
        raise invalid("duration_options", "must be a list of 1 to 4 durations")
    options = [integer("duration_options", v, 1, 720) for v in value]
    if len(set(options)) != len(options):
        raise invalid("duration_options", "must be unique")
    return options


def locations(name: str, value: object) -> list[JSON]:
    if not isinstance(value, list):
        raise invalid(name, "must be a list")
    result = []
    for item in value:
        if not isinstance(item, dict) or item.get("kind") not in LOCATION_KINDS:
            raise invalid(f"{name}.kind", f"must be one of {', '.join(LOCATION_KINDS)}")
        if item["kind"] == "inbound_call" and not item.get("phone_number"):
            raise invalid(f"{name}.phone_number", "is required for inbound_call")
        result.append(dict(item))
    return result


def group_admin(sb: Sandbox, user: User, group: str) -> bool:
    membership = sb.membership_of.get(user.uuid)
    return any(
        r.group == group and r.role == "admin" and r.owner == membership
        for r in sb.group_relationships.values()
    )


def group_hosts(sb: Sandbox, group: str) -> set[str]:
    return {
        sb.memberships[r.owner].user
        for r in sb.group_relationships.values()
        if r.group == group and r.role == "member" and r.owner_kind == "membership"
    }
