"""Minimal Calendly bodies and a fake API that answers every endpoint the client knows."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx

API = "https://api.calendly.com"
ORG = f"{API}/organizations/ORG1"
USER = f"{API}/users/USER1"
MEMBERSHIP = f"{API}/organization_memberships/MEM1"
INVITATION = f"{ORG}/invitations/INV1"
GROUP = f"{API}/groups/GRP1"
RELATIONSHIP = f"{API}/group_relationships/REL1"
TEAM = f"{API}/teams/TEAM1"
EVENT_TYPE = f"{API}/event_types/ET1"
EVENT = f"{API}/scheduled_events/EV1"
INVITEE = f"{EVENT}/invitees/INVITEE1"
NO_SHOW = f"{API}/invitee_no_shows/NS1"
SCHEDULE = f"{API}/user_availability_schedules/SCH1"
ROUTING_FORM = f"{API}/routing_forms/RF1"
SUBMISSION = f"{API}/routing_form_submissions/SUB1"
WEBHOOK = f"{API}/webhook_subscriptions/WH1"
SHARE = f"{API}/shares/SH1"
WHEN = "2030-01-02T03:04:05.678123Z"


def user(**extra: Any) -> dict[str, Any]:
    return {"uri": USER, "name": "Ada Admin", "email": "ada@example.com", **extra}


def invitation(email: str = "bob@example.com", **extra: Any) -> dict[str, Any]:
    return {
        "uri": INVITATION,
        "organization": ORG,
        "email": email,
        "status": "pending",
        "created_at": WHEN,
        "last_sent_at": None,
        **extra,
    }


def webhook(url: str = "https://portal.example.com/hooks/calendly") -> dict[str, Any]:
    return {
        "uri": WEBHOOK,
        "callback_url": url,
        "state": "active",
        "events": ["invitee.created"],
        "scope": "organization",
        "organization": ORG,
        "user": None,
        "creator": USER,
    }


def event_type(**extra: Any) -> dict[str, Any]:
    return {
        "uri": EVENT_TYPE,
        "name": "Intro call",
        "active": True,
        "scheduling_url": "https://calendly.com/ada/intro",
        **extra,
    }


MEMBERSHIP_BODY = {"uri": MEMBERSHIP, "role": "admin", "user": user(), "organization": ORG}
EVENT_BODY = {"uri": EVENT, "status": "active", "start_time": WHEN, "end_time": WHEN}
INVITEE_BODY = {"uri": INVITEE, "email": "eve@example.com", "status": "active", "event": EVENT}
SCHEDULE_BODY = {"uri": SCHEDULE, "name": "Working hours", "default": True, "rules": []}
SHARE_BODY = {
    "uri": SHARE,
    "status": "active",
    "scheduling_links": [{"booking_url": "https://calendly.com/d/abc", "owner": EVENT_TYPE}],
    "share_override": {"name": "Intro", "duration": 30},
}

# (method, path pattern, answer body). Lists are wrapped with a one-page pagination.
Route = tuple[str, str, Callable[[], Any]]


def _one(body: dict[str, Any]) -> Callable[[], Any]:
    return lambda: {"resource": body}


def _many(body: dict[str, Any]) -> Callable[[], Any]:
    return lambda: {"collection": [body], "pagination": page_info(None)}


def _plain(body: list[dict[str, Any]]) -> Callable[[], Any]:
    return lambda: {"collection": body}


ROUTES: list[Route] = [
    ("GET", r"/users/me", _one(user())),
    ("GET", r"/users/[^/]+", _one(user())),
    ("GET", r"/organizations/[^/]+", _one({"uri": ORG, "name": "Acme", "plan": "enterprise"})),
    ("GET", r"/organization_memberships", _many(MEMBERSHIP_BODY)),
    ("GET", r"/organization_memberships/[^/]+", _one(MEMBERSHIP_BODY)),
    ("DELETE", r"/organization_memberships/[^/]+", lambda: None),
    ("GET", r"/organizations/[^/]+/invitations", _many(invitation())),
    ("POST", r"/organizations/[^/]+/invitations", _one(invitation())),
    ("GET", r"/organizations/[^/]+/invitations/[^/]+", _one(invitation())),
    ("DELETE", r"/organizations/[^/]+/invitations/[^/]+", lambda: None),
    ("GET", r"/groups", _many({"uri": GROUP, "name": "Sales", "organization": ORG})),
    ("GET", r"/groups/[^/]+", _one({"uri": GROUP, "name": "Sales", "organization": ORG})),
    (
        "GET",
        r"/group_relationships(/[^/]+)?",
        _many(
            {
                "uri": RELATIONSHIP,
                "role": "member",
                "owner": {**MEMBERSHIP_BODY, "type": "OrganizationMembership"},
                "organization": ORG,
                "group": GROUP,
            }
        ),
    ),
    ("GET", r"/teams", _many({"uri": TEAM, "name": "Team A", "organization": ORG})),
    ("GET", r"/teams/[^/]+", _one({"uri": TEAM, "name": "Team A", "organization": ORG})),
    (
        "GET",
        r"/activity_log_entries",
        _many({"uri": f"{API}/e/1", "occurred_at": WHEN, "namespace": "User", "action": "Add"}),
    ),
    ("POST", r"/data_compliance/deletion/(invitees|events)", lambda: {}),
    ("GET", r"/event_types", _many(event_type())),
    ("GET", r"/event_types/[^/]+", _one(event_type())),
    (
        "GET",
        r"/event_type_memberships",
        _many({"uri": f"{API}/event_type_memberships/M1", "event_type": event_type()}),
    ),
    (
        "GET",
        r"/event_type_available_times",
        _plain([{"status": "available", "start_time": WHEN, "invitees_remaining": 1}]),
    ),
    ("GET", r"/user_availability_schedules", _plain([SCHEDULE_BODY])),
    ("GET", r"/user_availability_schedules/[^/]+", _one(SCHEDULE_BODY)),
    (
        "GET",
        r"/user_busy_times",
        _plain([{"type": "calendly", "start_time": WHEN, "end_time": WHEN}]),
    ),
    (
        "POST",
        r"/scheduling_links",
        _one({"booking_url": "https://calendly.com/d/x", "owner": EVENT_TYPE}),
    ),
    ("POST", r"/shares", _one(SHARE_BODY)),
    ("GET", r"/shares", _many(SHARE_BODY)),
    ("GET", r"/shares/[^/]+", _one(SHARE_BODY)),
    ("PATCH", r"/shares/[^/]+", _one(SHARE_BODY)),
    ("DELETE", r"/shares/[^/]+", lambda: None),
    ("GET", r"/scheduled_events", _many(EVENT_BODY)),
    ("GET", r"/scheduled_events/[^/]+", _one(EVENT_BODY)),
    (
        "POST",
        r"/scheduled_events/[^/]+/cancellation",
        _one({"canceled_by": "Ada", "canceler_type": "host", "reason": None}),
    ),
    ("GET", r"/scheduled_events/[^/]+/invitees", _many(INVITEE_BODY)),
    ("GET", r"/scheduled_events/[^/]+/invitees/[^/]+", _one(INVITEE_BODY)),
    ("POST", r"/invitee_no_shows", _one({"uri": NO_SHOW, "invitee": INVITEE})),
    ("GET", r"/invitee_no_shows/[^/]+", _one({"uri": NO_SHOW, "invitee": INVITEE})),
    ("DELETE", r"/invitee_no_shows/[^/]+", lambda: None),
    (
        "GET",
        r"/routing_forms(/[^/]+)?",
        _many({"uri": ROUTING_FORM, "organization": ORG, "name": "Lead", "status": "published"}),
    ),
    (
        "GET",
        r"/routing_form_submissions(/[^/]+)?",
        _many({"uri": SUBMISSION, "routing_form": ROUTING_FORM}),
    ),
    ("GET", r"/webhook_subscriptions", _many(webhook())),
    ("POST", r"/webhook_subscriptions", _one(webhook())),
    ("GET", r"/webhook_subscriptions/[^/]+", _one(webhook())),
    ("DELETE", r"/webhook_subscriptions/[^/]+", lambda: None),
    (
        "GET",
        r"/sample_webhook_data",
        lambda: {"event": "invitee.created", "created_at": WHEN, "payload": INVITEE_BODY},
    ),
]


def page_info(next_token: str | None) -> dict[str, Any]:
    return {
        "count": 1,
        "next_page": None if next_token is None else f"{API}/x?page_token={next_token}",
        "previous_page": None,
        "next_page_token": next_token,
        "previous_page_token": None,
    }


def json_response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    header_list = [(k.replace("_", "-"), v) for k, v in headers.items()]
    if body is not None:
        header_list.append(("Content-Type", "application/json"))
    return httpx.Response(status, content=content, headers=header_list)


def answer(request: httpx.Request) -> httpx.Response:
    """A minimal valid answer for any endpoint in ROUTES (single resources for paths that end
    in an id, one-item pages for lists)."""
    for method, pattern, body in ROUTES:
        if request.method == method and re.fullmatch(pattern, request.url.path):
            payload = body()
            if payload is None:
                return httpx.Response(204)
            if "collection" in payload and re.fullmatch(r".*/[A-Z]+\d+", request.url.path):
                payload = {"resource": payload["collection"][0]}
            status = 201 if method == "POST" else 200
            if request.url.path.startswith("/data_compliance"):
                status = 202
            return json_response(status, payload)
    return json_response(404, {"title": "Resource Not Found", "message": request.url.path})
