"""What the sandbox answers must match Calendly's OpenAPI descriptions.

Every API endpoint the sandbox serves is in at least one file of `tests/contract/specs.py`, and
has at least one success case and one error case here (plus an automatic 401 wherever a file
documents 401). Each answer is validated with openapi-core, strictly, against every file that
describes the endpoint: the April-2023 file, the 2026 export (with its known defects repaired
in memory, see `specs.repair_2026`) and `shares-2026-11-06.yaml` for the Share endpoints of
Calendly's release note of 2026-11-06.

`test_every_served_endpoint_in_the_specs_has_cases` fails when a route is added to the sandbox
without a contract case here, and `test_every_served_endpoint_is_in_a_spec_file` when the
sandbox serves an endpoint no Calendly document describes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from portal.sandbox import Sandbox, SandboxServer, seeded
from portal.sandbox.api import ROUTES
from tests.contract import coverage, specs

pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")


@dataclass
class Ctx:
    sandbox: Sandbox
    url: str
    owner: httpx.Client
    admin: httpx.Client
    member: httpx.Client
    outsider: httpx.Client
    anonymous: httpx.Client
    org: str = ""
    memo: dict[str, Any] = field(default_factory=dict)

    def uri(self, collection: str, uuid: str) -> str:
        return f"{self.url}/{collection}/{uuid}"

    def path(self, uri: str) -> str:
        return uri.removeprefix(self.url)


@pytest.fixture(scope="module")
def ctx() -> Iterator[Ctx]:
    sandbox = seeded(Sandbox(members=30, seed=5))
    server = SandboxServer(sandbox).start()

    def client(token: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=server.url, headers=headers, timeout=10)

    context = Ctx(
        sandbox,
        server.url,
        client(sandbox.owner_token),
        client(sandbox.admin_tokens[0]),
        client(sandbox.user_token),
        client(sandbox.other_org_token),
        client("not-a-token"),
    )
    context.org = sandbox.organization_uri(server.url)
    yield context
    for each in (context.owner, context.admin, context.member, context.outsider, context.anonymous):
        each.close()
    server.stop()


def validate(method: str, template: str, answer: httpx.Response) -> None:
    names = specs.describing(method, template)
    assert names, f"{method} {template} is in no spec file"
    for name in names:
        specs.validate_answer(name, answer)
        coverage.record(f"sandbox answers validated against {specs.FILES[name]}", method, template)


@dataclass(frozen=True)
class Case:
    method: str
    template: str
    status: int
    run: Callable[[Ctx], httpx.Response]
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.template} {self.status} {self.label}".strip()


def soon(days: float = 0) -> str:
    moment = datetime.now(UTC) + timedelta(minutes=5, days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def first(rows: dict[str, Any], test: Callable[[Any], bool] = lambda _row: True) -> Any:
    return next(row for row in rows.values() if test(row))


def solo_type(c: Ctx) -> str:
    return c.uri(
        "event_types",
        first(
            c.sandbox.event_types,
            lambda et: et.owner == c.sandbox.owner.uuid and et.name == "30 Minute Meeting",
        ).uuid,
    )


def team_type(c: Ctx) -> str:
    return c.uri(
        "event_types", first(c.sandbox.event_types, lambda et: et.profile_type == "Team").uuid
    )


def upcoming_event(c: Ctx) -> Any:
    return first(
        c.sandbox.scheduled_events,
        lambda e: e.status == "active" and e.start_time > c.sandbox.now() and e.uuid not in c.memo,
    )


def an_invitee(c: Ctx) -> Any:
    return first(c.sandbox.invitees, lambda i: i.no_show is None and i.uuid not in c.memo)


def owners_event(c: Ctx) -> str:
    """An event the plain member does not host."""
    uuid: str = first(c.sandbox.scheduled_events, lambda e: e.hosts[0] == c.sandbox.owner.uuid).uuid
    return uuid


def invitee_uri(c: Ctx, invitee: Any) -> str:
    return f"{c.url}/scheduled_events/{invitee.event}/invitees/{invitee.uuid}"


def invitations_path(c: Ctx) -> str:
    return f"/organizations/{c.sandbox.org_uuid}/invitations"


def new_invitation(c: Ctx, email: str) -> str:
    uri: str = c.owner.post(invitations_path(c), json={"email": email}).json()["resource"]["uri"]
    return c.path(uri)


def new_hook(c: Ctx, url: str) -> str:
    body = {
        "url": url,
        "events": ["invitee.created"],
        "organization": c.org,
        "scope": "organization",
    }
    uri: str = c.owner.post("/webhook_subscriptions", json=body).json()["resource"]["uri"]
    return c.path(uri)


def mark_no_show(c: Ctx) -> httpx.Response:
    invitee = an_invitee(c)
    c.memo[invitee.uuid] = True
    return c.owner.post("/invitee_no_shows", json={"invitee": invitee_uri(c, invitee)})


def new_no_show(c: Ctx) -> str:
    return c.path(mark_no_show(c).json()["resource"]["uri"])


def accepted_invitation(c: Ctx) -> str:
    invitation = first(c.sandbox.invitations, lambda i: i.status == "accepted")
    return f"{invitations_path(c)}/{invitation.uuid}"


def cancel(c: Ctx) -> httpx.Response:
    event = upcoming_event(c)
    c.memo[event.uuid] = True
    return c.owner.post(f"/scheduled_events/{event.uuid}/cancellation", json={"reason": "Clash"})


def cancel_twice(c: Ctx) -> httpx.Response:
    cancel(c)
    event = next(e for e in c.sandbox.scheduled_events.values() if e.uuid in c.memo)
    return c.owner.post(f"/scheduled_events/{event.uuid}/cancellation", json={})


def new_share(c: Ctx) -> str:
    share = c.owner.post("/shares", json={"event_type": solo_type(c)}).json()["resource"]
    return c.path(share["uri"])


def booked_share(c: Ctx) -> str:
    path = new_share(c)
    share = c.sandbox.shares[path.rsplit("/", 1)[1]]
    c.sandbox.links[share.link].bookings += 1
    return path


def my_shares(c: Ctx, user: str) -> httpx.Response:
    new_share(c)
    return c.owner.get("/shares", params={"user": c.uri("users", user), "count": 5})


GET, POST, PATCH, DELETE = "GET", "POST", "PATCH", "DELETE"
SUBMISSION = "/routing_form_submissions"

CASES: list[Case] = [
    Case(GET, "/users/me", 200, lambda c: c.owner.get("/users/me")),
    Case(GET, "/users/{uuid}", 200, lambda c: c.owner.get(f"/users/{c.sandbox.admins[0].uuid}")),
    Case(GET, "/users/{uuid}", 404, lambda c: c.owner.get("/users/NOPE")),
    Case(GET, "/users/{uuid}", 403, lambda c: c.outsider.get(f"/users/{c.sandbox.owner.uuid}")),
    Case(
        GET,
        "/organizations/{uuid}",
        200,
        lambda c: c.owner.get(f"/organizations/{c.sandbox.org_uuid}"),
    ),
    Case(
        GET,
        "/organizations/{uuid}",
        403,
        lambda c: c.outsider.get(f"/organizations/{c.sandbox.org_uuid}"),
    ),
    Case(GET, "/organizations/{uuid}", 404, lambda c: c.owner.get("/organizations/NOPE")),
    Case(
        GET,
        "/organization_memberships",
        200,
        lambda c: c.owner.get(
            "/organization_memberships", params={"organization": c.org, "count": 5}
        ),
    ),
    Case(
        GET,
        "/organization_memberships",
        400,
        lambda c: c.owner.get(
            "/organization_memberships", params={"organization": c.org, "count": 0}
        ),
    ),
    Case(
        GET,
        "/organization_memberships",
        403,
        lambda c: c.outsider.get("/organization_memberships", params={"organization": c.org}),
    ),
    Case(
        GET,
        "/organization_memberships/{uuid}",
        200,
        lambda c: c.member.get(
            f"/organization_memberships/{c.sandbox.membership_of[c.sandbox.owner.uuid]}"
        ),
    ),
    Case(
        GET,
        "/organization_memberships/{uuid}",
        404,
        lambda c: c.owner.get("/organization_memberships/NOPE"),
    ),
    Case(
        GET,
        "/organization_memberships/{uuid}",
        403,
        lambda c: c.outsider.get(
            f"/organization_memberships/{c.sandbox.membership_of[c.sandbox.owner.uuid]}"
        ),
    ),
    Case(
        DELETE,
        "/organization_memberships/{uuid}",
        204,
        lambda c: c.owner.delete(
            f"/organization_memberships/{c.sandbox.membership_of[c.sandbox.plain_users[-1].uuid]}"
        ),
    ),
    Case(
        DELETE,
        "/organization_memberships/{uuid}",
        403,
        lambda c: c.admin.delete(
            f"/organization_memberships/{c.sandbox.membership_of[c.sandbox.owner.uuid]}"
        ),
        "owner",
    ),
    Case(
        DELETE,
        "/organization_memberships/{uuid}",
        404,
        lambda c: c.owner.delete("/organization_memberships/NOPE"),
    ),
    Case(GET, "/organizations/{uuid}/invitations", 200, lambda c: c.owner.get(invitations_path(c))),
    Case(
        GET,
        "/organizations/{uuid}/invitations",
        400,
        lambda c: c.owner.get(invitations_path(c), params={"status": "revoked"}),
    ),
    Case(
        GET, "/organizations/{uuid}/invitations", 403, lambda c: c.member.get(invitations_path(c))
    ),
    Case(
        POST,
        "/organizations/{uuid}/invitations",
        201,
        lambda c: c.owner.post(invitations_path(c), json={"email": "contract@example.com"}),
    ),
    Case(
        POST,
        "/organizations/{uuid}/invitations",
        400,
        lambda c: c.owner.post(
            invitations_path(c),
            json={"email": first(c.sandbox.invitations, lambda i: i.status == "pending").email},
        ),
        "already invited",
    ),
    Case(
        POST,
        "/organizations/{uuid}/invitations",
        403,
        lambda c: c.member.post(invitations_path(c), json={"email": "nope@example.com"}),
    ),
    Case(
        GET,
        "/organizations/{org_uuid}/invitations/{uuid}",
        200,
        lambda c: c.owner.get(accepted_invitation(c)),
    ),
    Case(
        GET,
        "/organizations/{org_uuid}/invitations/{uuid}",
        404,
        lambda c: c.owner.get(f"{invitations_path(c)}/NOPE"),
    ),
    Case(
        DELETE,
        "/organizations/{org_uuid}/invitations/{uuid}",
        204,
        lambda c: c.owner.delete(new_invitation(c, "revoke-me@example.com")),
    ),
    Case(
        DELETE,
        "/organizations/{org_uuid}/invitations/{uuid}",
        400,
        lambda c: c.owner.delete(accepted_invitation(c)),
        "already accepted",
    ),
    Case(
        DELETE,
        "/organizations/{org_uuid}/invitations/{uuid}",
        403,
        lambda c: c.member.delete(accepted_invitation(c)),
    ),
    Case(GET, "/groups", 200, lambda c: c.owner.get("/groups", params={"organization": c.org})),
    Case(GET, "/groups", 400, lambda c: c.owner.get("/groups")),
    Case(
        GET, "/groups/{uuid}", 200, lambda c: c.owner.get(f"/groups/{next(iter(c.sandbox.groups))}")
    ),
    Case(GET, "/groups/{uuid}", 404, lambda c: c.owner.get("/groups/NOPE")),
    Case(
        GET,
        "/group_relationships",
        200,
        lambda c: c.owner.get("/group_relationships", params={"count": 100}),
    ),
    Case(
        GET,
        "/group_relationships",
        400,
        lambda c: c.owner.get("/group_relationships", params={"owner": "x"}),
    ),
    Case(
        GET,
        "/group_relationships/{uuid}",
        200,
        lambda c: c.owner.get(f"/group_relationships/{next(iter(c.sandbox.group_relationships))}"),
    ),
    Case(
        GET, "/group_relationships/{uuid}", 404, lambda c: c.owner.get("/group_relationships/NOPE")
    ),
    Case(GET, "/teams", 200, lambda c: c.owner.get("/teams")),
    Case(GET, "/teams", 400, lambda c: c.owner.get("/teams", params={"count": "lots"})),
    Case(
        GET,
        "/teams/{team_uuid}",
        200,
        lambda c: c.owner.get(f"/teams/{next(iter(c.sandbox.teams))}"),
    ),
    Case(GET, "/teams/{team_uuid}", 404, lambda c: c.owner.get("/teams/NOPE")),
    Case(
        GET,
        "/event_types",
        200,
        lambda c: c.owner.get("/event_types", params={"organization": c.org, "count": 100}),
    ),
    Case(GET, "/event_types", 400, lambda c: c.owner.get("/event_types")),
    Case(
        GET,
        "/event_types",
        403,
        lambda c: c.member.get("/event_types", params={"organization": c.org}),
    ),
    Case(
        POST,
        "/event_types",
        201,
        lambda c: c.owner.post(
            "/event_types",
            json={
                "owner": c.uri("users", c.sandbox.owner.uuid),
                "name": "Contract Call",
                "duration": 20,
            },
        ),
    ),
    Case(
        POST,
        "/event_types",
        400,
        lambda c: c.owner.post(
            "/event_types", json={"owner": c.uri("users", c.sandbox.owner.uuid)}
        ),
    ),
    Case(GET, "/event_types/{uuid}", 200, lambda c: c.owner.get(c.path(team_type(c)))),
    Case(GET, "/event_types/{uuid}", 404, lambda c: c.owner.get("/event_types/NOPE")),
    Case(
        PATCH,
        "/event_types/{uuid}",
        200,
        lambda c: c.owner.patch(c.path(solo_type(c)), json={"color": "#123abc"}),
    ),
    Case(
        PATCH,
        "/event_types/{uuid}",
        400,
        lambda c: c.owner.patch(c.path(team_type(c)), json={"active": False}),
    ),
    Case(
        GET,
        "/event_type_memberships",
        200,
        lambda c: c.owner.get("/event_type_memberships", params={"event_type": team_type(c)}),
    ),
    Case(GET, "/event_type_memberships", 400, lambda c: c.owner.get("/event_type_memberships")),
    Case(
        GET,
        "/event_type_available_times",
        200,
        lambda c: c.owner.get(
            "/event_type_available_times",
            params={"event_type": solo_type(c), "start_time": soon(), "end_time": soon(7)},
        ),
    ),
    Case(
        GET,
        "/event_type_available_times",
        400,
        lambda c: c.owner.get(
            "/event_type_available_times",
            params={"event_type": solo_type(c), "start_time": soon(), "end_time": soon(40)},
        ),
    ),
    Case(
        POST,
        "/scheduling_links",
        201,
        lambda c: c.owner.post(
            "/scheduling_links",
            json={"max_event_count": 1, "owner": solo_type(c), "owner_type": "EventType"},
        ),
    ),
    Case(
        POST,
        "/scheduling_links",
        400,
        lambda c: c.owner.post(
            "/scheduling_links", json={"max_event_count": 1, "owner": solo_type(c)}
        ),
    ),
    Case(
        POST,
        "/scheduling_links",
        404,
        lambda c: c.owner.post(
            "/scheduling_links",
            json={
                "max_event_count": 1,
                "owner": c.uri("event_types", "NOPE"),
                "owner_type": "EventType",
            },
        ),
    ),
    Case(
        POST,
        "/shares",
        201,
        lambda c: c.owner.post(
            "/shares",
            json={
                "event_type": solo_type(c),
                "name": "Contract share",
                "period_type": "fixed",
                "start_date": "2030-01-02",
                "end_date": "2030-01-09",
                "location_configurations": [{"kind": "physical", "location": "HQ", "position": 0}],
            },
        ),
    ),
    Case(
        POST, "/shares", 400, lambda c: c.owner.post("/shares", json={"event_type": team_type(c)})
    ),
    Case(GET, "/shares", 200, lambda c: my_shares(c, c.sandbox.owner.uuid)),
    Case(GET, "/shares", 400, lambda c: c.owner.get("/shares")),
    Case(GET, "/shares", 403, lambda c: my_shares(c, c.sandbox.admins[0].uuid), "not mine"),
    Case(
        PATCH,
        "/shares/{uuid}",
        200,
        lambda c: c.owner.patch(
            new_share(c), json={"name": "Patched", "duration": 60, "duration_options": [30, 60]}
        ),
    ),
    Case(
        PATCH,
        "/shares/{uuid}",
        400,
        lambda c: c.owner.patch(booked_share(c), json={"name": "Too late"}),
        "booked",
    ),
    Case(PATCH, "/shares/{uuid}", 404, lambda c: c.owner.patch("/shares/NOPE", json={"name": "x"})),
    Case(DELETE, "/shares/{uuid}", 204, lambda c: c.owner.delete(new_share(c))),
    Case(DELETE, "/shares/{uuid}", 400, lambda c: c.owner.delete(booked_share(c)), "booked"),
    Case(DELETE, "/shares/{uuid}", 404, lambda c: c.owner.delete("/shares/NOPE")),
    Case(
        GET,
        "/scheduled_events",
        200,
        lambda c: c.owner.get("/scheduled_events", params={"organization": c.org, "count": 100}),
    ),
    Case(GET, "/scheduled_events", 400, lambda c: c.owner.get("/scheduled_events")),
    Case(
        GET,
        "/scheduled_events",
        403,
        lambda c: c.member.get("/scheduled_events", params={"organization": c.org}),
    ),
    Case(
        GET,
        "/scheduled_events/{uuid}",
        200,
        lambda c: c.owner.get(
            f"/scheduled_events/{first(c.sandbox.scheduled_events, lambda e: e.cancellation).uuid}"
        ),
        "canceled",
    ),
    Case(GET, "/scheduled_events/{uuid}", 404, lambda c: c.owner.get("/scheduled_events/NOPE")),
    Case(
        GET,
        "/scheduled_events/{uuid}",
        403,
        lambda c: c.member.get(f"/scheduled_events/{owners_event(c)}"),
    ),
    Case(
        GET,
        "/scheduled_events/{uuid}/invitees",
        200,
        lambda c: c.owner.get(
            f"/scheduled_events/{next(iter(c.sandbox.scheduled_events))}/invitees"
        ),
    ),
    Case(
        GET,
        "/scheduled_events/{uuid}/invitees",
        404,
        lambda c: c.owner.get("/scheduled_events/NOPE/invitees"),
    ),
    Case(
        GET,
        "/scheduled_events/{event_uuid}/invitees/{invitee_uuid}",
        200,
        lambda c: c.owner.get(
            c.path(invitee_uri(c, first(c.sandbox.invitees, lambda i: i.cancellation)))
        ),
    ),
    Case(
        GET,
        "/scheduled_events/{event_uuid}/invitees/{invitee_uuid}",
        404,
        lambda c: c.owner.get(
            f"/scheduled_events/{next(iter(c.sandbox.scheduled_events))}/invitees/NOPE"
        ),
    ),
    Case(POST, "/scheduled_events/{uuid}/cancellation", 201, cancel),
    Case(POST, "/scheduled_events/{uuid}/cancellation", 403, cancel_twice, "already canceled"),
    Case(POST, "/invitee_no_shows", 201, mark_no_show),
    Case(
        POST,
        "/invitee_no_shows",
        400,
        lambda c: c.owner.post("/invitee_no_shows", json={"invitee": "x"}),
    ),
    Case(GET, "/invitee_no_shows/{uuid}", 200, lambda c: c.owner.get(new_no_show(c))),
    Case(GET, "/invitee_no_shows/{uuid}", 404, lambda c: c.owner.get("/invitee_no_shows/NOPE")),
    Case(DELETE, "/invitee_no_shows/{uuid}", 204, lambda c: c.owner.delete(new_no_show(c))),
    Case(
        DELETE, "/invitee_no_shows/{uuid}", 404, lambda c: c.owner.delete("/invitee_no_shows/NOPE")
    ),
    Case(
        GET,
        "/user_busy_times",
        200,
        lambda c: c.owner.get(
            "/user_busy_times",
            params={
                "user": c.uri("users", c.sandbox.owner.uuid),
                "start_time": soon(),
                "end_time": soon(6),
            },
        ),
    ),
    Case(
        GET,
        "/user_busy_times",
        400,
        lambda c: c.owner.get(
            "/user_busy_times", params={"user": c.uri("users", c.sandbox.owner.uuid)}
        ),
    ),
    Case(
        GET,
        "/user_busy_times",
        403,
        lambda c: c.outsider.get(
            "/user_busy_times",
            params={
                "user": c.uri("users", c.sandbox.owner.uuid),
                "start_time": soon(),
                "end_time": soon(1),
            },
        ),
    ),
    Case(
        GET,
        "/user_availability_schedules",
        200,
        lambda c: c.owner.get(
            "/user_availability_schedules",
            params={"user": c.uri("users", c.sandbox.admins[0].uuid)},
        ),
    ),
    Case(
        GET,
        "/user_availability_schedules",
        400,
        lambda c: c.owner.get("/user_availability_schedules"),
    ),
    Case(
        GET,
        "/user_availability_schedules",
        403,
        lambda c: c.outsider.get(
            "/user_availability_schedules", params={"user": c.uri("users", c.sandbox.owner.uuid)}
        ),
    ),
    Case(
        GET,
        "/user_availability_schedules/{uuid}",
        200,
        lambda c: c.owner.get(f"/user_availability_schedules/{c.sandbox.owner.schedules[0]}"),
    ),
    Case(
        GET,
        "/user_availability_schedules/{uuid}",
        404,
        lambda c: c.owner.get("/user_availability_schedules/NOPE"),
    ),
    Case(
        GET,
        "/routing_forms",
        200,
        lambda c: c.owner.get("/routing_forms", params={"organization": c.org}),
    ),
    Case(GET, "/routing_forms", 400, lambda c: c.owner.get("/routing_forms")),
    Case(
        GET,
        "/routing_forms/{uuid}",
        200,
        lambda c: c.owner.get(f"/routing_forms/{next(iter(c.sandbox.routing_forms))}"),
    ),
    Case(GET, "/routing_forms/{uuid}", 404, lambda c: c.owner.get("/routing_forms/NOPE")),
    Case(
        GET,
        "/routing_form_submissions",
        200,
        lambda c: c.owner.get(
            SUBMISSION, params={"form": c.uri("routing_forms", next(iter(c.sandbox.routing_forms)))}
        ),
    ),
    Case(GET, "/routing_form_submissions", 400, lambda c: c.owner.get(SUBMISSION)),
    Case(
        GET,
        "/routing_form_submissions/{uuid}",
        200,
        lambda c: c.owner.get(f"{SUBMISSION}/{next(iter(c.sandbox.submissions))}"),
    ),
    Case(GET, "/routing_form_submissions/{uuid}", 404, lambda c: c.owner.get(f"{SUBMISSION}/NOPE")),
    Case(
        GET,
        "/activity_log_entries",
        200,
        lambda c: c.owner.get("/activity_log_entries", params={"organization": c.org, "count": 50}),
    ),
    Case(
        GET,
        "/activity_log_entries",
        400,
        lambda c: c.owner.get(
            "/activity_log_entries", params={"organization": c.org, "count": 1001}
        ),
    ),
    Case(
        GET,
        "/activity_log_entries",
        403,
        lambda c: c.member.get("/activity_log_entries", params={"organization": c.org}),
    ),
    Case(
        POST,
        "/webhook_subscriptions",
        201,
        lambda c: c.owner.post(
            "/webhook_subscriptions",
            json={
                "url": "https://portal.example/hooks/b",
                "events": ["invitee.created", "invitee.canceled"],
                "organization": c.org,
                "scope": "user",
                "user": c.uri("users", c.sandbox.admins[0].uuid),
                "signing_key": "k",
            },
        ),
    ),
    Case(
        POST,
        "/webhook_subscriptions",
        409,
        lambda c: (
            new_hook(c, "https://portal.example/hooks/c"),
            c.owner.post(
                "/webhook_subscriptions",
                json={
                    "url": "https://portal.example/hooks/c",
                    "events": ["invitee.canceled"],
                    "organization": c.org,
                    "scope": "organization",
                },
            ),
        )[1],
    ),
    Case(
        POST,
        "/webhook_subscriptions",
        400,
        lambda c: c.owner.post(
            "/webhook_subscriptions",
            json={"url": "https://x.example", "events": [], "organization": c.org},
        ),
    ),
    Case(
        GET,
        "/webhook_subscriptions",
        200,
        lambda c: c.owner.get(
            "/webhook_subscriptions", params={"organization": c.org, "scope": "organization"}
        ),
    ),
    Case(
        GET,
        "/webhook_subscriptions",
        400,
        lambda c: c.owner.get("/webhook_subscriptions", params={"organization": c.org}),
    ),
    Case(
        GET,
        "/webhook_subscriptions",
        403,
        lambda c: c.member.get(
            "/webhook_subscriptions", params={"organization": c.org, "scope": "organization"}
        ),
    ),
    Case(
        GET,
        "/webhook_subscriptions/{webhook_uuid}",
        200,
        lambda c: c.owner.get(new_hook(c, "https://portal.example/hooks/d")),
    ),
    Case(
        GET,
        "/webhook_subscriptions/{webhook_uuid}",
        404,
        lambda c: c.owner.get("/webhook_subscriptions/NOPE"),
    ),
    Case(
        DELETE,
        "/webhook_subscriptions/{webhook_uuid}",
        204,
        lambda c: c.owner.delete(new_hook(c, "https://portal.example/hooks/e")),
    ),
    Case(
        DELETE,
        "/webhook_subscriptions/{webhook_uuid}",
        404,
        lambda c: c.owner.delete("/webhook_subscriptions/NOPE"),
    ),
    Case(
        GET,
        "/sample_webhook_data",
        200,
        lambda c: c.owner.get(
            "/sample_webhook_data",
            params={"event": "invitee.created", "organization": c.org, "scope": "organization"},
        ),
    ),
    Case(
        GET,
        "/sample_webhook_data",
        400,
        lambda c: c.owner.get(
            "/sample_webhook_data", params={"event": "invitee.created", "organization": c.org}
        ),
    ),
    Case(
        POST,
        "/data_compliance/deletion/invitees",
        202,
        lambda c: c.owner.post(
            "/data_compliance/deletion/invitees", json={"emails": ["gone@example.com"]}
        ),
    ),
    Case(
        POST,
        "/data_compliance/deletion/invitees",
        400,
        lambda c: c.owner.post("/data_compliance/deletion/invitees", json={"emails": []}),
    ),
    Case(
        POST,
        "/data_compliance/deletion/invitees",
        403,
        lambda c: c.member.post(
            "/data_compliance/deletion/invitees", json={"emails": ["a@example.com"]}
        ),
    ),
    Case(
        POST,
        "/data_compliance/deletion/events",
        202,
        lambda c: c.owner.post(
            "/data_compliance/deletion/events",
            json={
                "start_time": "2024-01-01T00:00:00.000000Z",
                "end_time": "2024-03-01T00:00:00.000000Z",
            },
        ),
    ),
    Case(
        POST,
        "/data_compliance/deletion/events",
        400,
        lambda c: c.owner.post(
            "/data_compliance/deletion/events", json={"start_time": "2024-01-01T00:00:00Z"}
        ),
    ),
]


SPEC_ROUTES = sorted(
    {(r.method, r.template) for r in ROUTES if specs.describing(r.method, r.template)}
)


def documented_statuses(method: str, template: str) -> set[str]:
    operations = [specs.operation(name, method, template) for name in specs.FILES]
    return {status for op in operations if op for status in op["responses"]}


def unauthenticated_cases() -> list[Case]:
    cases = []
    for method, template in SPEC_ROUTES:
        if "401" not in documented_statuses(method, template):
            continue
        path = template.replace("{", "").replace("}", "")

        def run(c: Ctx, method: str = method, path: str = path) -> httpx.Response:
            return c.anonymous.request(method, path, json={} if method in {POST, PATCH} else None)

        cases.append(Case(method, template, 401, run, "no token"))
    return cases


ALL_CASES = CASES + unauthenticated_cases()


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.id)
def test_sandbox_answer_matches_the_spec(case: Case, ctx: Ctx) -> None:
    answer = case.run(ctx)

    assert (answer.request.method, answer.status_code) == (case.method, case.status), answer.text
    validate(case.method, case.template, answer)


def test_every_served_endpoint_in_the_specs_has_cases() -> None:
    successes = {(c.method, c.template) for c in CASES if c.status < 400}
    errors = {(c.method, c.template) for c in ALL_CASES if c.status >= 400}
    documented_errors = {
        (m, t) for m, t in SPEC_ROUTES if any(s.startswith("4") for s in documented_statuses(m, t))
    }

    assert set(SPEC_ROUTES) - successes == set()
    assert documented_errors - errors == set()


def test_every_served_endpoint_is_in_a_spec_file() -> None:
    assert {(r.method, r.template) for r in ROUTES} - set(SPEC_ROUTES) == set()
