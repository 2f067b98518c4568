"""What the sandbox POSTs to webhook subscribers must match Calendly's `WebhookPayload` schema.

One organization-scope subscription hears a booking, a no-show marked and undone, and the
cancellation. Each body the sandbox delivered (`Sandbox.deliveries` keeps the exact bytes it
POSTs) is validated against the `WebhookPayload` component of every file whose event list
names the event: the 2026 export for all four, the 2023 file for `invitee.*`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from jsonschema.exceptions import ValidationError

from portal.sandbox import Sandbox, SandboxServer, seeded
from tests.contract import coverage, specs

EVENTS = (
    "invitee.created",
    "invitee_no_show.created",
    "invitee_no_show.deleted",
    "invitee.canceled",
)
# Nothing listens here: the test reads what the sandbox sent, not what arrived.
NOWHERE = "http://127.0.0.1:9/hooks/calendly"


def book_once(booking_url: str) -> None:
    page = httpx.get(booking_url)
    start = re.search(r'name="start_time" value="([^"]+)"', page.text)
    assert start is not None, page.text
    data = {"start_time": start.group(1), "name": "Pat Buyer", "email": "pat@prospect.example"}
    assert httpx.post(booking_url, data=data).status_code == 200


def last_payload(sandbox: Sandbox) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(sandbox.deliveries[-1].body)["payload"]
    return payload


def live_through_one_booking(sandbox: Sandbox, owner: httpx.Client, base: str) -> None:
    hook = {
        "url": NOWHERE,
        "events": list(EVENTS),
        "organization": sandbox.organization_uri(base),
        "scope": "organization",
    }
    assert owner.post("/webhook_subscriptions", json=hook).status_code == 201
    solo = next(et for et in sandbox.event_types.values() if et.owner == sandbox.owner.uuid)
    link = {
        "max_event_count": 1,
        "owner": f"{base}/event_types/{solo.uuid}",
        "owner_type": "EventType",
    }
    book_once(owner.post("/scheduling_links", json=link).json()["resource"]["booking_url"])
    invitee = last_payload(sandbox)
    no_show = owner.post("/invitee_no_shows", json={"invitee": invitee["uri"]})
    assert owner.delete(no_show.json()["resource"]["uri"].removeprefix(base)).status_code == 204
    event = invitee["event"].removeprefix(base)
    assert owner.post(f"{event}/cancellation", json={"reason": "Clash"}).status_code == 201


@pytest.fixture(scope="module")
def delivered() -> dict[str, bytes]:
    """The body the sandbox sent for each event, by event name."""
    sandbox = seeded(Sandbox(members=10, seed=11, webhook_timeout=0.5))
    with SandboxServer(sandbox) as server, httpx.Client(base_url=server.url, timeout=10) as owner:
        owner.headers["Authorization"] = f"Bearer {sandbox.owner_token}"
        live_through_one_booking(sandbox, owner, server.url)
    return {delivery.event: delivery.body for delivery in sandbox.deliveries}


def event_names(name: str) -> list[str]:
    schemas = specs.raw(name)["components"]["schemas"]
    names: list[str] = specs.resolve(schemas, schemas["WebhookPayload"]["properties"]["event"])[
        "enum"
    ]
    return names


@pytest.mark.parametrize("event", EVENTS)
def test_the_delivered_payload_matches_the_spec(event: str, delivered: dict[str, bytes]) -> None:
    body = json.loads(delivered[event])

    files = [name for name in ("2023", "2026") if event in event_names(name)]

    assert body["event"] == event
    assert files, f"no file names {event}"
    for name in files:
        specs.validate_schema(name, "WebhookPayload", body)
        coverage.record(f"sandbox webhooks validated against {specs.FILES[name]}", "POST", event)


def test_the_validation_would_catch_a_payload_that_breaks_the_spec(
    delivered: dict[str, bytes],
) -> None:
    body = json.loads(delivered["invitee.created"])
    body["payload"]["status"] = "booked"

    with pytest.raises(ValidationError, match="payload"):
        specs.validate_schema("2026", "WebhookPayload", body)
