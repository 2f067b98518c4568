"""Event types, single-use links, shares, the booking page and signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

import httpx

from portal.sandbox import webhooks
from tests.sandbox.conftest import Receiver
from tests.sandbox_plugin import RunningSandbox


def event_types(client: httpx.Client, **params: object) -> list[dict[str, object]]:
    answer = client.get("/event_types", params={"count": 100, **params})
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, object]] = answer.json()["collection"]
    return rows


def solo_type_of(sandbox: RunningSandbox, person_uuid: str) -> str:
    return next(
        et.uuid
        for et in sandbox.event_types.values()
        if et.owner == person_uuid and et.name == "30 Minute Meeting"
    )


def test_org_event_types_include_every_kind(owner: httpx.Client, org_uri: str) -> None:
    rows: list[dict[str, Any]] = []
    query: dict[str, object] = {"organization": org_uri, "count": 100}
    while True:
        page = owner.get("/event_types", params=query).json()
        rows += page["collection"]
        if not page["pagination"]["next_page_token"]:
            break
        query["page_token"] = page["pagination"]["next_page_token"]

    kinds = {(r["kind_description"], r["profile"]["type"]) for r in rows}

    assert kinds == {
        ("One-on-One", "User"),
        ("Group", "User"),
        ("Round Robin", "Team"),
        ("Collective", "Team"),
    }
    assert any(r["secret"] for r in rows)
    assert any(r["admin_managed"] for r in rows)
    assert any(not r["active"] for r in rows)


def test_event_types_filter_active_admin_managed_and_sort(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    person = f"{sandbox.url}/users/{sandbox.admins[0].uuid}"
    mine = event_types(owner, user=person)
    managed = event_types(owner, user=person, admin_managed="true")
    inactive = event_types(owner, organization=org_uri, active="false")
    names = [r["name"] for r in mine]

    assert names == sorted(names, key=lambda n: str(n).lower())
    assert [r["name"] for r in managed] == ["Product Demo"]
    assert inactive
    assert all(r["active"] is False for r in inactive)
    assert owner.get("/event_types", params={"user": person, "sort": "nope:asc"}).status_code == 400


def test_event_types_need_organization_or_user(owner: httpx.Client) -> None:
    assert owner.get("/event_types").status_code == 400


def test_plain_members_cannot_list_the_whole_organizations_event_types(
    member: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    someone_else = f"{sandbox.url}/users/{sandbox.admins[1].uuid}"

    assert member.get("/event_types", params={"organization": org_uri}).status_code == 403
    assert member.get("/event_types", params={"user": someone_else}).status_code == 403


def test_event_type_memberships_list_the_hosts(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    team_type = next(et for et in sandbox.event_types.values() if et.pooling_type == "round_robin")
    uri = f"{sandbox.url}/event_types/{team_type.uuid}"

    hosts = owner.get("/event_type_memberships", params={"event_type": uri}).json()["collection"]

    assert [h["member"]["uri"].rsplit("/", 1)[1] for h in hosts] == list(team_type.hosts)
    assert all(h["event_type"]["uri"] == uri for h in hosts)


def test_scheduling_link_points_at_the_sandbox_booking_page(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    uri = f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.plain_users[0].uuid)}"

    answer = owner.post(
        "/scheduling_links", json={"max_event_count": 1, "owner": uri, "owner_type": "EventType"}
    )

    assert answer.status_code == 201
    link = answer.json()["resource"]
    assert link["owner"] == uri
    assert link["owner_type"] == "EventType"
    assert re.fullmatch(
        rf"{sandbox.url}/d/[a-z0-9]{{4}}-[a-z0-9]{{4}}/30-minute-meeting", link["booking_url"]
    )
    assert httpx.get(link["booking_url"]).status_code == 200


def test_scheduling_link_validates_its_body(owner: httpx.Client, sandbox: RunningSandbox) -> None:
    uri = f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.owner.uuid)}"

    two = owner.post(
        "/scheduling_links", json={"max_event_count": 2, "owner": uri, "owner_type": "EventType"}
    )
    unknown = owner.post(
        "/scheduling_links",
        json={
            "max_event_count": 1,
            "owner": f"{sandbox.url}/event_types/NOPE",
            "owner_type": "EventType",
        },
    )

    assert two.status_code == 400
    assert two.json()["details"][0]["parameter"] == "max_event_count"
    assert unknown.status_code == 404


def book_first_slot(booking_url: str, email: str = "buyer@prospect.example") -> httpx.Response:
    page = httpx.get(booking_url)
    start = re.search(r'name="start_time" value="([^"]+)"', page.text)
    assert start is not None, page.text
    return httpx.post(
        booking_url, data={"start_time": start.group(1), "name": "Pat Buyer", "email": email}
    )


def test_booking_a_single_use_link_delivers_a_signed_webhook(
    owner: httpx.Client, sandbox: RunningSandbox, org_uri: str, receiver: Receiver
) -> None:
    owner.post(
        "/webhook_subscriptions",
        json={
            "url": receiver.url,
            "events": ["invitee.created"],
            "organization": org_uri,
            "scope": "organization",
            "signing_key": "shh",
        },
    )
    uri = f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.plain_users[0].uuid)}"
    link = owner.post(
        "/scheduling_links", json={"max_event_count": 1, "owner": uri, "owner_type": "EventType"}
    ).json()["resource"]

    booked = book_first_slot(link["booking_url"])

    assert booked.status_code == 200
    assert receiver.received.wait(5)
    delivery = receiver.requests[0]
    timestamp, signature = re.fullmatch(
        r"t=(\d+),v1=([0-9a-f]{64})", delivery["headers"]["Calendly-Webhook-Signature"]
    ).groups()  # type: ignore[union-attr]
    expected = hmac.new(b"shh", f"{timestamp}.".encode() + delivery["body"], hashlib.sha256)
    assert hmac.compare_digest(expected.hexdigest(), signature)
    payload = json.loads(delivery["body"])
    assert payload["event"] == "invitee.created"
    assert payload["created_by"] == f"{sandbox.url}/users/{sandbox.owner.uuid}"
    assert payload["payload"]["email"] == "buyer@prospect.example"
    assert payload["payload"]["scheduled_event"]["event_type"] == uri
    event = owner.get(payload["payload"]["event"].removeprefix(sandbox.url))
    assert event.status_code == 200
    assert event.json()["resource"]["status"] == "active"


def test_single_use_link_stops_working_after_one_booking(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    uri = f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.owner.uuid)}"
    link = owner.post(
        "/scheduling_links", json={"max_event_count": 1, "owner": uri, "owner_type": "EventType"}
    ).json()["resource"]

    first = book_first_slot(link["booking_url"])
    second_view = httpx.get(link["booking_url"])

    assert first.status_code == 200
    assert second_view.status_code == 410


def test_webhook_without_its_own_key_is_signed_with_the_app_key(
    owner: httpx.Client, sandbox: RunningSandbox, org_uri: str, receiver: Receiver
) -> None:
    host = sandbox.plain_users[1]
    owner.post(
        "/webhook_subscriptions",
        json={
            "url": receiver.url,
            "events": ["invitee.created", "invitee.canceled"],
            "organization": org_uri,
            "scope": "user",
            "user": f"{sandbox.url}/users/{host.uuid}",
        },
    )
    uri = f"{sandbox.url}/event_types/{solo_type_of(sandbox, host.uuid)}"
    link = owner.post(
        "/scheduling_links", json={"max_event_count": 1, "owner": uri, "owner_type": "EventType"}
    ).json()["resource"]

    book_first_slot(link["booking_url"])

    assert webhooks.drain(sandbox, 5)
    header = receiver.requests[0]["headers"]["Calendly-Webhook-Signature"]
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    key = sandbox.webhook_signing_key.encode()
    body = receiver.requests[0]["body"]
    assert hmac.new(key, f"{t}.".encode() + body, hashlib.sha256).hexdigest() == v1


def test_share_echoes_effective_settings_and_books_once(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    source = f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.owner.uuid)}"

    created = owner.post(
        "/shares",
        json={
            "event_type": source,
            "name": "Renewal chat",
            "duration": 45,
            "duration_options": [30, 45],
        },
    )

    assert created.status_code == 201
    share = created.json()["resource"]
    assert share["status"] == "active"
    assert share["share_override"]["name"] == "Renewal chat"
    assert share["share_override"]["availability_rule"]["timezone"] == sandbox.owner.timezone
    assert share["share_override"]["location_configurations"][0]["kind"] == "google_conference"
    booked = book_first_slot(share["scheduling_links"][0]["booking_url"])
    assert booked.status_code == 200
    mine = {"user": f"{sandbox.url}/users/{sandbox.owner.uuid}"}
    listed = owner.get("/shares", params=mine).json()["collection"]
    assert [(s["uri"], s["status"]) for s in listed] == [(share["uri"], "booked")]
    assert owner.delete(share["uri"].removeprefix(sandbox.url)).status_code == 400


def test_share_can_be_updated_and_deleted_before_booking(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    source = f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.owner.uuid)}"
    share = owner.post("/shares", json={"event_type": source}).json()["resource"]
    path = share["uri"].removeprefix(sandbox.url)

    patched = owner.patch(path, json={"period_type": "moving", "max_booking_time": 14})
    deleted = owner.delete(path)

    assert patched.status_code == 200
    assert patched.json()["resource"]["share_override"]["max_booking_time"] == 14
    mine = {"user": f"{sandbox.url}/users/{sandbox.owner.uuid}"}
    assert deleted.status_code == 204
    assert owner.get("/shares", params=mine).json()["collection"] == []
    assert httpx.get(share["scheduling_links"][0]["booking_url"]).status_code == 404


def test_a_null_in_a_share_update_gives_the_setting_back_to_the_event_type(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    source = f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.owner.uuid)}"
    share = owner.post("/shares", json={"event_type": source, "name": "Just for Acme"})
    path = share.json()["resource"]["uri"].removeprefix(sandbox.url)

    restored = owner.patch(path, json={"name": None})
    empty = owner.patch(path, json={})

    assert restored.json()["resource"]["share_override"]["name"] == "30 Minute Meeting"
    assert empty.status_code == 400


def test_a_booked_share_can_no_longer_be_updated(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    source = f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.owner.uuid)}"
    share = owner.post("/shares", json={"event_type": source}).json()["resource"]
    book_first_slot(share["scheduling_links"][0]["booking_url"])

    late = owner.patch(share["uri"].removeprefix(sandbox.url), json={"name": "Too late"})

    assert late.status_code == 400


def test_shares_are_listed_only_for_the_caller_themselves(
    owner: httpx.Client, admin: httpx.Client, sandbox: RunningSandbox
) -> None:
    source = f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.owner.uuid)}"
    owner.post("/shares", json={"event_type": source})
    owner_uri = f"{sandbox.url}/users/{sandbox.owner.uuid}"
    admin_uri = f"{sandbox.url}/users/{sandbox.admins[0].uuid}"

    unnamed = owner.get("/shares")
    someone_else = admin.get("/shares", params={"user": owner_uri})
    the_admins_own = admin.get("/shares", params={"user": admin_uri})

    assert unnamed.status_code == 400
    assert someone_else.status_code == 403
    assert the_admins_own.json()["collection"] == []


def test_shares_refuse_team_event_types_and_bad_durations(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    team_type = next(et for et in sandbox.event_types.values() if et.pooling_type == "collective")
    solo = f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.owner.uuid)}"

    team = owner.post("/shares", json={"event_type": f"{sandbox.url}/event_types/{team_type.uuid}"})
    duration = owner.post(
        "/shares", json={"event_type": solo, "duration": 45, "duration_options": [30]}
    )
    fixed = owner.post("/shares", json={"event_type": solo, "period_type": "fixed"})

    assert team.status_code == duration.status_code == fixed.status_code == 400
    assert fixed.json()["details"][0]["parameter"] == "start_date"


def test_event_types_can_be_created_and_patched(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    created = owner.post(
        "/event_types",
        json={
            "owner": f"{sandbox.url}/users/{sandbox.owner.uuid}",
            "name": "Quick Sync",
            "duration": 15,
        },
    )
    path = created.json()["resource"]["uri"].removeprefix(sandbox.url)

    patched = owner.patch(path, json={"active": True, "duration_options": [15, 30]})

    assert created.status_code == 201
    assert created.json()["resource"]["active"] is False
    assert patched.json()["resource"]["active"] is True
    assert patched.json()["resource"]["duration_options"] == [15, 30]


def test_available_times_list_bookable_slots(owner: httpx.Client, sandbox: RunningSandbox) -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) + timedelta(hours=1)
    params = {
        "event_type": f"{sandbox.url}/event_types/{solo_type_of(sandbox, sandbox.owner.uuid)}",
        "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end_time": (start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

    slots = owner.get("/event_type_available_times", params=params).json()["collection"]
    too_long = owner.get(
        "/event_type_available_times",
        params={**params, "end_time": (start + timedelta(days=32)).strftime("%Y-%m-%dT%H:%M:%SZ")},
    )

    assert slots
    assert all(s["status"] == "available" for s in slots)
    assert too_long.status_code == 400


def test_event_type_scheduling_urls_are_bookable_again_and_again(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    team_type = next(et for et in sandbox.event_types.values() if et.pooling_type == "round_robin")
    url = owner.get(f"/event_types/{team_type.uuid}").json()["resource"]["scheduling_url"]

    first = book_first_slot(url, "one@prospect.example")
    second = book_first_slot(url, "two@prospect.example")

    assert url.startswith(f"{sandbox.url}/team/")
    assert first.status_code == second.status_code == 200


def test_user_scheduling_url_lists_public_event_types(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    me = owner.get("/users/me").json()["resource"]

    landing = httpx.get(me["scheduling_url"])

    assert landing.status_code == 200
    assert "30 Minute Meeting" in landing.text
    assert "Board Prep" not in landing.text  # inactive


def test_unknown_api_paths_stay_calendly_shaped_404s(owner: httpx.Client) -> None:
    for answer in (owner.get("/locations"), owner.post("/contacts", json={})):
        assert answer.status_code == 404
        assert answer.json()["title"] == "Resource Not Found"
