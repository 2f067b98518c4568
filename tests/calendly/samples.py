"""Calendly bodies as Calendly's OpenAPI files describe them, and a fake API that answers every
endpoint the client knows. `tests/contract/test_client_requests.py` checks each answer against
the files, so these are complete bodies, not just the fields the client reads."""

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
    return {
        "uri": USER,
        "name": "Ada Admin",
        "slug": "ada-admin",
        "email": "ada@example.com",
        "scheduling_url": "https://calendly.com/ada-admin",
        "timezone": "Europe/London",
        "avatar_url": None,
        "locale": "en",
        "created_at": WHEN,
        "updated_at": WHEN,
        "current_organization": ORG,
        "resource_type": "User",
        **extra,
    }


def invitation(email: str = "bob@example.com", **extra: Any) -> dict[str, Any]:
    return {
        "uri": INVITATION,
        "organization": ORG,
        "email": email,
        "status": "pending",
        "created_at": WHEN,
        "updated_at": WHEN,
        "last_sent_at": None,
        **extra,
    }


def webhook(url: str = "https://portal.example.com/hooks/calendly") -> dict[str, Any]:
    return {
        "uri": WEBHOOK,
        "callback_url": url,
        "created_at": WHEN,
        "updated_at": WHEN,
        "retry_started_at": None,
        "state": "active",
        "events": ["invitee.created"],
        "scope": "organization",
        "organization": ORG,
        "user": None,
        "group": None,
        "creator": USER,
    }


def event_type(**extra: Any) -> dict[str, Any]:
    return {
        "uri": EVENT_TYPE,
        "name": "Intro call",
        "active": True,
        "booking_method": "instant",
        "slug": "intro",
        "scheduling_url": "https://calendly.com/ada/intro",
        "duration": 30,
        "duration_options": None,
        "kind": "solo",
        "pooling_type": None,
        "type": "StandardEventType",
        "color": "#0069ff",
        "created_at": WHEN,
        "updated_at": WHEN,
        "internal_note": None,
        "description_plain": None,
        "description_html": None,
        "profile": {"type": "User", "name": "Ada Admin", "owner": USER},
        "secret": False,
        "deleted_at": None,
        "admin_managed": False,
        # Gone from the 2026 export; the 2023 file requires it.
        "kind_description": "One-on-One",
        "custom_questions": [],
        "locations": [{"kind": "zoom_conference"}],
        "locale": "en",
        "position": 0,
        "is_paid": False,
        **extra,
    }


MEMBERSHIP_BODY = {
    "uri": MEMBERSHIP,
    "role": "admin",
    "user": user(),
    "organization": ORG,
    "created_at": WHEN,
    "updated_at": WHEN,
}
ORGANIZATION_BODY = {
    "uri": ORG,
    "kind": "multiple",
    "name": "Acme",
    "plan": "enterprise",
    "stage": "paid",
    "created_at": WHEN,
    "updated_at": WHEN,
}
GROUP_BODY = {
    "uri": GROUP,
    "name": "Sales",
    "organization": ORG,
    "member_count": 1,
    "created_at": WHEN,
    "updated_at": WHEN,
}
RELATIONSHIP_BODY = {
    "uri": RELATIONSHIP,
    "role": "member",
    "owner": {**MEMBERSHIP_BODY, "type": "OrganizationMembership"},
    "organization": ORG,
    "group": GROUP,
    "created_at": WHEN,
    "updated_at": WHEN,
}
TEAM_BODY = {
    "uri": TEAM,
    "name": "Team A",
    "organization": ORG,
    "scheduling_url": "https://calendly.com/team/team-a",
}
ACTIVITY_BODY = {
    "uri": f"{API}/activity_log_entries/E1",
    "occurred_at": WHEN,
    "namespace": "User",
    "action": "Add",
    "fully_qualified_name": "User.Add",
    "details": {"email": "bob@example.com"},
    "organization": ORG,
    "actor": {
        "uri": USER,
        "type": "User",
        "organization": {"uri": ORG, "role": "admin"},
        "display_name": "Ada Admin",
        "alternative_identifier": "ada@example.com",
    },
}
HOST = {"user": USER, "user_email": "ada@example.com", "user_name": "Ada Admin"}
EVENT_BODY = {
    "uri": EVENT,
    "name": "Intro call",
    "status": "active",
    "start_time": WHEN,
    "end_time": WHEN,
    "event_type": EVENT_TYPE,
    "location": {
        "type": "google_conference",
        "status": "pushed",
        "join_url": "https://meet.google.com/abc",
    },
    "invitees_counter": {"total": 1, "active": 1, "limit": 1},
    "created_at": WHEN,
    "updated_at": WHEN,
    "event_memberships": [HOST],
    "event_guests": [],
    "calendar_event": {"kind": "google", "external_id": "ev1"},
}
NO_TRACKING = {
    "utm_campaign": None,
    "utm_source": None,
    "utm_medium": None,
    "utm_content": None,
    "utm_term": None,
    "salesforce_uuid": None,
}
INVITEE_BODY = {
    "uri": INVITEE,
    "email": "eve@example.com",
    "first_name": None,
    "last_name": None,
    "name": "Eve Example",
    "status": "active",
    "questions_and_answers": [],
    "timezone": "Europe/Paris",
    "event": EVENT,
    "created_at": WHEN,
    "updated_at": WHEN,
    "tracking": NO_TRACKING,
    "text_reminder_number": None,
    "rescheduled": False,
    "old_invitee": None,
    "new_invitee": None,
    "cancel_url": "https://calendly.com/cancellations/INVITEE1",
    "reschedule_url": "https://calendly.com/reschedulings/INVITEE1",
    "routing_form_submission": None,
    "payment": None,
    "no_show": None,
    "reconfirmation": None,
    "scheduling_method": None,
    "invitee_scheduled_by": None,
}
# A webhook's invitee carries its scheduled event (without the calendar event).
WEBHOOK_BODY = {
    "event": "invitee.created",
    "created_at": WHEN,
    "created_by": USER,
    "payload": {
        **INVITEE_BODY,
        "scheduled_event": {k: v for k, v in EVENT_BODY.items() if k != "calendar_event"},
    },
}
NO_SHOW_BODY = {"uri": NO_SHOW, "invitee": INVITEE, "created_at": WHEN}
SCHEDULE_BODY = {
    "uri": SCHEDULE,
    "default": True,
    "name": "Working hours",
    "user": USER,
    "timezone": "Europe/London",
    "rules": [{"type": "wday", "wday": "monday", "intervals": [{"from": "09:00", "to": "17:00"}]}],
}
ROUTING_FORM_BODY = {
    "uri": ROUTING_FORM,
    "organization": ORG,
    "name": "Lead",
    "status": "published",
    "questions": [
        {
            "uuid": "2c9a3e4b-0d1f-4a5b-8c6d-7e8f9a0b1c2d",
            "name": "Email",
            "type": "email",
            "required": True,
            "answer_choices": None,
        }
    ],
    "created_at": WHEN,
    "updated_at": WHEN,
}
SUBMISSION_BODY = {
    "uri": SUBMISSION,
    "routing_form": ROUTING_FORM,
    "questions_and_answers": [
        {
            "question_uuid": "2c9a3e4b-0d1f-4a5b-8c6d-7e8f9a0b1c2d",
            "question": "Email",
            "answer": "lead@example.com",
        }
    ],
    "tracking": NO_TRACKING,
    "result": {"type": "event_type", "value": EVENT_TYPE},
    "submitter": None,
    "submitter_type": None,
    "created_at": WHEN,
    "updated_at": WHEN,
}
SHARE_BODY = {
    "uri": SHARE,
    "contact": None,
    "created_at": WHEN,
    "status": "active",
    "scheduling_links": [
        {
            "booking_url": "https://calendly.com/d/abc",
            "owner": EVENT_TYPE,
            "owner_type": "EventType",
        }
    ],
    "share_override": {
        "name": "Intro",
        "duration": 30,
        "duration_options": None,
        "period_type": "moving",
        "start_date": None,
        "end_date": None,
        "max_booking_time": 60,
        "min_booking_time": None,
        "hide_location": False,
        "location_configurations": [{"kind": "zoom_conference", "position": 0}],
        "availability_rule": {"rules": [], "timezone": "Europe/London"},
    },
}

# (method, path pattern, answer body). Lists are wrapped with a one-page pagination.
Route = tuple[str, str, Callable[[], Any]]


def _one(body: dict[str, Any]) -> Callable[[], Any]:
    return lambda: {"resource": body}


def _many(body: dict[str, Any], **extra: Any) -> Callable[[], Any]:
    return lambda: {"collection": [body], "pagination": page_info(None), **extra}


def _plain(body: list[dict[str, Any]]) -> Callable[[], Any]:
    return lambda: {"collection": body}


ROUTES: list[Route] = [
    ("GET", r"/users/me", _one(user())),
    ("GET", r"/users/[^/]+", _one(user())),
    ("GET", r"/organizations/[^/]+", _one(ORGANIZATION_BODY)),
    ("GET", r"/organization_memberships", _many(MEMBERSHIP_BODY)),
    ("GET", r"/organization_memberships/[^/]+", _one(MEMBERSHIP_BODY)),
    ("DELETE", r"/organization_memberships/[^/]+", lambda: None),
    ("GET", r"/organizations/[^/]+/invitations", _many(invitation())),
    ("POST", r"/organizations/[^/]+/invitations", _one(invitation())),
    ("GET", r"/organizations/[^/]+/invitations/[^/]+", _one(invitation())),
    ("DELETE", r"/organizations/[^/]+/invitations/[^/]+", lambda: None),
    ("GET", r"/groups", _many(GROUP_BODY)),
    ("GET", r"/groups/[^/]+", _one(GROUP_BODY)),
    ("GET", r"/group_relationships(/[^/]+)?", _many(RELATIONSHIP_BODY)),
    ("GET", r"/teams", _many(TEAM_BODY)),
    ("GET", r"/teams/[^/]+", _one(TEAM_BODY)),
    (
        "GET",
        r"/activity_log_entries",
        _many(ACTIVITY_BODY, total_count=1, exceeds_max_total_count=False, last_event_time=WHEN),
    ),
    ("POST", r"/data_compliance/deletion/(invitees|events)", lambda: {}),
    ("GET", r"/event_types", _many(event_type())),
    ("GET", r"/event_types/[^/]+", _one(event_type())),
    (
        "GET",
        r"/event_type_memberships",
        _many(
            {
                "uri": f"{API}/event_type_memberships/M1",
                "event_type": event_type(),
                "member": user(),
                "created_at": WHEN,
                "updated_at": WHEN,
            }
        ),
    ),
    (
        "GET",
        r"/event_type_available_times",
        _plain(
            [
                {
                    "status": "available",
                    "invitees_remaining": 1,
                    "start_time": WHEN,
                    "scheduling_url": "https://calendly.com/ada/intro/2030-01-02T03:04:05Z",
                }
            ]
        ),
    ),
    ("GET", r"/user_availability_schedules", _plain([SCHEDULE_BODY])),
    ("GET", r"/user_availability_schedules/[^/]+", _one(SCHEDULE_BODY)),
    (
        "GET",
        r"/user_busy_times",
        _plain(
            [{"type": "calendly", "start_time": WHEN, "end_time": WHEN, "event": {"uri": EVENT}}]
        ),
    ),
    (
        "POST",
        r"/scheduling_links",
        _one(
            {
                "booking_url": "https://calendly.com/d/x",
                "owner": EVENT_TYPE,
                "owner_type": "EventType",
            }
        ),
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
        _one(
            {
                "canceled_by": "Ada Admin",
                "reason": None,
                "canceler_type": "host",
                "created_at": WHEN,
            }
        ),
    ),
    ("GET", r"/scheduled_events/[^/]+/invitees", _many(INVITEE_BODY)),
    ("GET", r"/scheduled_events/[^/]+/invitees/[^/]+", _one(INVITEE_BODY)),
    ("POST", r"/invitee_no_shows", _one(NO_SHOW_BODY)),
    ("GET", r"/invitee_no_shows/[^/]+", _one(NO_SHOW_BODY)),
    ("DELETE", r"/invitee_no_shows/[^/]+", lambda: None),
    ("GET", r"/routing_forms(/[^/]+)?", _many(ROUTING_FORM_BODY)),
    ("GET", r"/routing_form_submissions(/[^/]+)?", _many(SUBMISSION_BODY)),
    ("GET", r"/webhook_subscriptions", _many(webhook())),
    ("POST", r"/webhook_subscriptions", _one(webhook())),
    ("GET", r"/webhook_subscriptions/[^/]+", _one(webhook())),
    ("DELETE", r"/webhook_subscriptions/[^/]+", lambda: None),
    ("GET", r"/sample_webhook_data", lambda: WEBHOOK_BODY),
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
