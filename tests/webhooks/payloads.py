"""Calendly-shaped delivery bodies for the handlers' tests: the envelope (event, created_at,
created_by, payload) and the payloads of invitee and event type events."""

from __future__ import annotations

from typing import Any

API = "https://api.calendly.com"


def invitee(
    *,
    invitee_uuid: str = "INV-1",
    email: str = "buyer@example.com",
    name: str = "Bea Buyer",
    status: str = "active",
    event_type: str = f"{API}/event_types/ET-1",
    hosts: tuple[str, ...] = ("HOST-1",),
    start: str = "2026-12-10T15:00:00.000000Z",
    end: str = "2026-12-10T15:30:00.000000Z",
    event_name: str = "Intro call",
    rescheduled: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    event_uri = f"{API}/scheduled_events/EV-{invitee_uuid}"
    return {
        "uri": f"{event_uri}/invitees/{invitee_uuid}",
        "email": email,
        "name": name,
        "status": status,
        "event": event_uri,
        "timezone": "Europe/Paris",
        "rescheduled": rescheduled,
        "created_at": "2026-12-01T09:00:00.000000Z",
        "updated_at": "2026-12-01T09:00:00.000000Z",
        "cancellation": {"canceled_by": "Bea", "reason": "Clash", "canceler_type": "invitee"}
        if status == "canceled"
        else None,
        "scheduled_event": {
            "uri": event_uri,
            "name": event_name,
            "status": status,
            "start_time": start,
            "end_time": end,
            "event_type": event_type,
            "location": {"type": "zoom", "join_url": "https://zoom.example/j/1"},
            "event_memberships": [
                {"user": f"{API}/users/{h}", "user_email": f"{h.lower()}@ex.com", "user_name": h}
                for h in hosts
            ],
            "event_guests": [],
        },
        **extra,
    }


def event_type(
    uuid: str = "ET-1", *, name: str = "Intro call", owner: str = "HOST-1", active: bool = True
) -> dict[str, Any]:
    return {
        "uri": f"{API}/event_types/{uuid}",
        "name": name,
        "active": active,
        "slug": "intro",
        "scheduling_url": "https://calendly.com/host/intro",
        "duration": 30,
        "kind": "solo",
        "pooling_type": None,
        "type": "StandardEventType",
        "secret": False,
        "admin_managed": False,
        "profile": {"type": "User", "name": "Host One", "owner": f"{API}/users/{owner}"},
        "created_at": "2026-11-01T09:00:00.000000Z",
        "updated_at": "2026-12-01T09:00:00.000000Z",
        "brand_new_field": {"anything": [1, 2]},
    }
