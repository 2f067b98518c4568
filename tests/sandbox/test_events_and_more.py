"""Scheduled events, availability, routing forms, the activity log and data deletion."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from tests.sandbox_plugin import RunningSandbox


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_scheduled_events_list_for_the_organization_with_filters(
    owner: httpx.Client, org_uri: str
) -> None:
    everything = owner.get(
        "/scheduled_events", params={"organization": org_uri, "count": 100}
    ).json()
    active = owner.get(
        "/scheduled_events",
        params={
            "organization": org_uri,
            "status": "active",
            "min_start_time": iso(datetime.now(UTC)),
        },
    ).json()["collection"]

    starts = [e["start_time"] for e in everything["collection"]]
    assert starts == sorted(starts)
    assert active
    assert all(e["status"] == "active" for e in active)


def test_plain_members_see_only_their_own_events(
    member: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    me = f"{sandbox.url}/users/{sandbox.plain_users[0].uuid}"
    someone = f"{sandbox.url}/users/{sandbox.plain_users[1].uuid}"

    mine = member.get("/scheduled_events", params={"user": me})
    org = member.get("/scheduled_events", params={"organization": org_uri})
    theirs = member.get("/scheduled_events", params={"user": someone})

    assert mine.status_code == 200
    assert mine.json()["collection"]
    assert org.status_code == theirs.status_code == 403
    assert theirs.json()["message"].startswith("Please also specify organization")


def test_invitees_of_an_event(owner: httpx.Client, sandbox: RunningSandbox) -> None:
    event = next(iter(sandbox.scheduled_events.values()))

    invitees = owner.get(f"/scheduled_events/{event.uuid}/invitees").json()["collection"]
    one = owner.get(invitees[0]["uri"].removeprefix(sandbox.url))

    assert one.json()["resource"] == invitees[0]


def test_no_show_can_be_marked_and_undone(owner: httpx.Client, sandbox: RunningSandbox) -> None:
    invitee = next(iter(sandbox.invitees.values()))
    uri = f"{sandbox.url}/scheduled_events/{invitee.event}/invitees/{invitee.uuid}"

    marked = owner.post("/invitee_no_shows", json={"invitee": uri})
    path = marked.json()["resource"]["uri"].removeprefix(sandbox.url)

    assert marked.status_code == 201
    assert owner.get(path).status_code == 200
    assert owner.delete(path).status_code == 204
    assert owner.get(path).status_code == 404


def test_no_show_webhooks_carry_the_invitee_with_its_no_show(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    owner.post(
        "/webhook_subscriptions",
        json={
            "url": "http://127.0.0.1:9/hooks",
            "events": ["invitee_no_show.created", "invitee_no_show.deleted"],
            "organization": sandbox.organization_uri(sandbox.url),
            "scope": "organization",
        },
    )
    invitee = next(iter(sandbox.invitees.values()))
    uri = f"{sandbox.url}/scheduled_events/{invitee.event}/invitees/{invitee.uuid}"

    marked = owner.post("/invitee_no_shows", json={"invitee": uri}).json()["resource"]
    owner.delete(marked["uri"].removeprefix(sandbox.url))

    created, deleted = (json.loads(d.body)["payload"] for d in sandbox.deliveries)
    assert created["uri"] == deleted["uri"] == uri
    assert created["no_show"]["uri"] == marked["uri"]
    assert deleted["no_show"] is None


def test_availability_schedules_and_busy_times(
    owner: httpx.Client, sandbox: RunningSandbox
) -> None:
    host = sandbox.owner
    user = f"{sandbox.url}/users/{host.uuid}"
    start = datetime.now(UTC) + timedelta(minutes=5)

    schedules = owner.get("/user_availability_schedules", params={"user": user}).json()[
        "collection"
    ]
    busy = owner.get(
        "/user_busy_times",
        params={"user": user, "start_time": iso(start), "end_time": iso(start + timedelta(days=7))},
    )
    too_wide = owner.get(
        "/user_busy_times",
        params={"user": user, "start_time": iso(start), "end_time": iso(start + timedelta(days=8))},
    )

    assert schedules[0]["default"] is True
    assert schedules[0]["timezone"] == host.timezone
    assert busy.status_code == 200
    assert "pagination" not in busy.json()
    assert too_wide.status_code == 400


def test_routing_forms_and_submissions(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    forms = owner.get("/routing_forms", params={"organization": org_uri}).json()["collection"]
    published = next(f for f in forms if f["status"] == "published")

    submissions = owner.get("/routing_form_submissions", params={"form": published["uri"]}).json()

    assert len(forms) == 2
    assert len(submissions["collection"]) == 5
    assert owner.get("/routing_form_submissions").status_code == 400


def test_activity_log_allows_up_to_1000_and_filters(owner: httpx.Client, org_uri: str) -> None:
    page = owner.get("/activity_log_entries", params={"organization": org_uri, "count": 1000})
    logins = owner.get(
        "/activity_log_entries",
        params={"organization": org_uri, "action": "Login", "namespace": "User"},
    ).json()

    assert page.status_code == 200
    assert page.json()["total_count"] == len(page.json()["collection"])
    assert logins["collection"]
    assert {e["fully_qualified_name"] for e in logins["collection"]} == {"User.Login"}
    assert (
        owner.get(
            "/activity_log_entries", params={"organization": org_uri, "count": 1001}
        ).status_code
        == 400
    )


def test_activity_log_records_invitations(
    owner: httpx.Client, org_uri: str, sandbox: RunningSandbox
) -> None:
    owner.post(
        f"/organizations/{sandbox.org_uuid}/invitations", json={"email": "logged@example.com"}
    )

    found = owner.get(
        "/activity_log_entries",
        params={"organization": org_uri, "search_term": "logged@example.com"},
    ).json()["collection"]

    assert [e["fully_qualified_name"] for e in found] == ["Invitation.Send"]


def test_activity_log_is_for_admins(member: httpx.Client, org_uri: str) -> None:
    assert member.get("/activity_log_entries", params={"organization": org_uri}).status_code == 403


def test_data_deletion_requests_are_accepted(owner: httpx.Client, sandbox: RunningSandbox) -> None:
    invitees = owner.post("/data_compliance/deletion/invitees", json={"emails": ["a@example.com"]})
    events = owner.post(
        "/data_compliance/deletion/events",
        json={
            "start_time": "2024-01-01T00:00:00.000000Z",
            "end_time": "2024-06-01T00:00:00.000000Z",
        },
    )
    future = owner.post(
        "/data_compliance/deletion/events",
        json={
            "start_time": "2024-01-01T00:00:00Z",
            "end_time": iso(datetime.now(UTC) + timedelta(days=1)),
        },
    )

    assert (invitees.status_code, invitees.json()) == (202, {})
    assert events.status_code == 202
    assert future.status_code == 400
    assert len(sandbox.deletion_requests) == 2


def test_data_deletion_is_for_admins(member: httpx.Client) -> None:
    answer = member.post("/data_compliance/deletion/invitees", json={"emails": ["a@example.com"]})

    assert answer.status_code == 403
