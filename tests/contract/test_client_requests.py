"""Every request the client sends must match Calendly's OpenAPI: parameters, security and body.

Endpoints the April-2023 file describes are checked against it; newer ones (groups, teams,
organizations/{uuid}, event type memberships, sample webhook data) against the 2026 export. Calls
that use filters newer than 2023 are checked against both. GET/PATCH/DELETE /shares arrived on
2026-11-06, after both files (API_NOTES §3.9), so those requests are sent but not validated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.exceptions import InvalidRequestBody, MissingRequiredParameter
from werkzeug.datastructures import Headers, ImmutableMultiDict

from portal.calendly.client import CalendlyClient
from tests.calendly import samples
from tests.calendly.fakes import Recorder, make_client
from tests.contract import coverage

HERE = Path(__file__).parent
# openapi-core cannot evaluate the oauth2 scheme (it warns and lets it pass); the bearer header
# itself is asserted in tests/calendly/test_client.py.
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")
SOON = datetime.now(UTC) + timedelta(days=1)
LATER = SOON + timedelta(days=6)


@pytest.fixture(scope="module")
def specs() -> dict[str, OpenAPI]:
    # Parsed once per module: the 2026 export is 800 KB and slow to load.
    with (HERE / "openapi.yaml").open() as handle:
        spec_2023 = yaml.safe_load(handle)
    with (HERE / "openapi-2026.json").open() as handle:
        spec_2026 = json.load(handle)
    return {"2023": OpenAPI.from_dict(spec_2023), "2026": OpenAPI.from_dict(spec_2026)}


@dataclass
class SentRequest:
    """An httpx request in the shape openapi-core reads."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters = field(default_factory=RequestParameters)

    @classmethod
    def of(cls, request: httpx.Request) -> SentRequest:
        return cls(
            host_url=f"{request.url.scheme}://{request.url.host}",
            path=request.url.path,
            method=request.method.lower(),
            body=request.content or None,
            content_type=request.headers.get("content-type", ""),
            parameters=RequestParameters(
                query=ImmutableMultiDict(list(request.url.params.multi_items())),
                header=Headers(list(request.headers.items())),
            ),
        )


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # the spec's template, for the report
    run: Callable[[CalendlyClient], Any]
    specs: tuple[str, ...]  # which files to validate against; empty = newer than both


ORG, USER, GROUP = samples.ORG, samples.USER, samples.GROUP
HOOK = "https://portal.example.com/hooks/calendly"

CALLS = [
    Call("GET", "/users/me", lambda c: c.get_current_user(), ("2023", "2026")),
    Call("GET", "/users/{uuid}", lambda c: c.get_user(user=USER), ("2023",)),
    Call(
        "GET",
        "/organizations/{uuid}",
        lambda c: c.get_organization(organization=ORG),
        ("2026",),
    ),
    Call(
        "GET",
        "/organization_memberships",
        lambda c: list(c.list_organization_memberships(organization=ORG, email="a@example.com")),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/organization_memberships",
        lambda c: list(c.list_organization_memberships(organization=ORG, role="admin")),
        ("2026",),
    ),
    Call(
        "GET",
        "/organization_memberships/{uuid}",
        lambda c: c.get_organization_membership(membership=samples.MEMBERSHIP),
        ("2023",),
    ),
    Call(
        "DELETE",
        "/organization_memberships/{uuid}",
        lambda c: c.remove_user_from_organization(membership=samples.MEMBERSHIP),
        ("2023",),
    ),
    Call(
        "GET",
        "/organizations/{uuid}/invitations",
        lambda c: list(
            c.list_organization_invitations(
                organization=ORG, email="b@example.com", status="pending", sort="created_at:asc"
            )
        ),
        ("2023", "2026"),
    ),
    Call(
        "POST",
        "/organizations/{uuid}/invitations",
        lambda c: c.invite_user_to_organization(organization=ORG, email="b@example.com"),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/organizations/{org_uuid}/invitations/{uuid}",
        lambda c: c.get_organization_invitation(invitation=samples.INVITATION),
        ("2023",),
    ),
    Call(
        "DELETE",
        "/organizations/{org_uuid}/invitations/{uuid}",
        lambda c: c.revoke_user_organization_invitation(invitation=samples.INVITATION),
        ("2023",),
    ),
    Call("GET", "/groups", lambda c: list(c.list_groups(organization=ORG)), ("2026",)),
    Call("GET", "/groups/{uuid}", lambda c: c.get_group(group=GROUP), ("2026",)),
    Call(
        "GET",
        "/group_relationships",
        lambda c: list(
            c.list_group_relationships(organization=ORG, group=GROUP, owner=samples.MEMBERSHIP)
        ),
        ("2026",),
    ),
    Call(
        "GET",
        "/group_relationships/{uuid}",
        lambda c: c.get_group_relationship(relationship=samples.RELATIONSHIP),
        ("2026",),
    ),
    Call("GET", "/teams", lambda c: list(c.list_teams(user=USER)), ("2026",)),
    Call("GET", "/teams/{team_uuid}", lambda c: c.get_team(team=samples.TEAM), ("2026",)),
    Call(
        "GET",
        "/activity_log_entries",
        lambda c: list(
            c.list_activity_log_entries(
                organization=ORG,
                search_term="*@other.com",
                actor=[USER],
                namespace=["User", "Group"],
                action=["Add"],
                min_occurred_at=SOON - timedelta(days=30),
                max_occurred_at=SOON,
                sort=["occurred_at:desc"],
            )
        ),
        ("2023", "2026"),
    ),
    Call(
        "POST",
        "/data_compliance/deletion/invitees",
        lambda c: c.delete_invitee_data(emails=["a@example.com", "b@example.com"]),
        ("2023", "2026"),
    ),
    Call(
        "POST",
        "/data_compliance/deletion/events",
        lambda c: c.delete_scheduled_event_data(
            start_time=SOON - timedelta(days=400), end_time=SOON - timedelta(days=2)
        ),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/event_types",
        lambda c: list(
            c.list_event_types(
                organization=ORG, user=USER, active=True, admin_managed=False, sort="name:asc"
            )
        ),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/event_types",
        lambda c: list(c.list_event_types(user=USER, user_availability_schedule=samples.SCHEDULE)),
        ("2026",),
    ),
    Call(
        "GET",
        "/event_types/{uuid}",
        lambda c: c.get_event_type(event_type=samples.EVENT_TYPE),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/event_type_memberships",
        lambda c: list(c.list_event_type_memberships(event_type=samples.EVENT_TYPE)),
        ("2026",),
    ),
    Call(
        "GET",
        "/event_type_available_times",
        lambda c: c.list_event_type_available_times(
            event_type=samples.EVENT_TYPE, start_time=SOON, end_time=LATER
        ),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/user_availability_schedules",
        lambda c: c.list_user_availability_schedules(user=USER),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/user_availability_schedules/{uuid}",
        lambda c: c.get_user_availability_schedule(schedule=samples.SCHEDULE),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/user_busy_times",
        lambda c: c.list_user_busy_times(user=USER, start_time=SOON, end_time=LATER),
        ("2023", "2026"),
    ),
    # The 2026 export types max_event_count as the string "1"; Calendly's examples send 1.
    Call(
        "POST",
        "/scheduling_links",
        lambda c: c.create_single_use_scheduling_link(event_type=samples.EVENT_TYPE),
        ("2023",),
    ),
    Call(
        "POST",
        "/shares",
        lambda c: c.create_share(
            event_type=samples.EVENT_TYPE,
            name="Intro for Acme",
            duration=30,
            period_type="fixed",
            start_date="2030-01-02",
            end_date="2030-01-09",
            hide_location=False,
            location_configurations=[{"kind": "physical", "location": "HQ", "position": 0}],
            availability_rule={
                "timezone": "Europe/Paris",
                "rules": [
                    {
                        "type": "wday",
                        "wday": "monday",
                        "intervals": [{"from": "09:00", "to": "12:00"}],
                    }
                ],
            },
        ),
        ("2023", "2026"),
    ),
    Call(
        "POST",
        "/shares",
        lambda c: c.create_share(
            event_type=samples.EVENT_TYPE,
            duration=30,
            duration_options=[15, 30],
            period_type="moving",
            max_booking_time=14,
        ),
        ("2026",),
    ),
    Call("GET", "/shares", lambda c: list(c.list_shares(event_type=samples.EVENT_TYPE)), ()),
    Call("GET", "/shares/{uuid}", lambda c: c.get_share(share=samples.SHARE), ()),
    Call("PATCH", "/shares/{uuid}", lambda c: c.update_share(share=samples.SHARE, name="New"), ()),
    Call("DELETE", "/shares/{uuid}", lambda c: c.delete_share(share=samples.SHARE), ()),
    Call(
        "GET",
        "/scheduled_events",
        lambda c: list(
            c.list_scheduled_events(
                organization=ORG,
                user=USER,
                invitee_email="eve@example.com",
                status="active",
                min_start_time=SOON,
                max_start_time=LATER,
                sort="start_time:asc",
            )
        ),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/scheduled_events",
        lambda c: list(c.list_scheduled_events(organization=ORG, group=GROUP)),
        ("2026",),
    ),
    Call(
        "GET",
        "/scheduled_events/{uuid}",
        lambda c: c.get_scheduled_event(event=samples.EVENT),
        ("2023", "2026"),
    ),
    Call(
        "POST",
        "/scheduled_events/{uuid}/cancellation",
        lambda c: c.cancel_event(event=samples.EVENT, reason="Double booked"),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/scheduled_events/{uuid}/invitees",
        lambda c: list(
            c.list_invitees(
                event=samples.EVENT, status="active", email="eve@example.com", sort="created_at:asc"
            )
        ),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/scheduled_events/{event_uuid}/invitees/{invitee_uuid}",
        lambda c: c.get_invitee(invitee=samples.INVITEE),
        ("2023", "2026"),
    ),
    Call(
        "POST",
        "/invitee_no_shows",
        lambda c: c.create_invitee_no_show(invitee=samples.INVITEE),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/invitee_no_shows/{uuid}",
        lambda c: c.get_invitee_no_show(no_show=samples.NO_SHOW),
        ("2023", "2026"),
    ),
    Call(
        "DELETE",
        "/invitee_no_shows/{uuid}",
        lambda c: c.delete_invitee_no_show(no_show=samples.NO_SHOW),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/routing_forms",
        lambda c: list(c.list_routing_forms(organization=ORG, sort="created_at:desc")),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/routing_forms/{uuid}",
        lambda c: c.get_routing_form(routing_form=samples.ROUTING_FORM),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/routing_form_submissions",
        lambda c: list(
            c.list_routing_form_submissions(form=samples.ROUTING_FORM, sort="created_at:asc")
        ),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/routing_form_submissions/{uuid}",
        lambda c: c.get_routing_form_submission(submission=samples.SUBMISSION),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/webhook_subscriptions",
        lambda c: list(
            c.list_webhook_subscriptions(
                organization=ORG, scope="user", user=USER, sort="created_at:asc"
            )
        ),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/webhook_subscriptions",
        lambda c: list(c.list_webhook_subscriptions(organization=ORG, scope="group", group=GROUP)),
        ("2026",),
    ),
    Call(
        "POST",
        "/webhook_subscriptions",
        lambda c: c.create_webhook_subscription(
            url=HOOK,
            events=["invitee.created", "invitee.canceled"],
            organization=ORG,
            scope="user",
            user=USER,
            signing_key="s3cret",
        ),
        ("2023", "2026"),
    ),
    Call(
        "POST",
        "/webhook_subscriptions",
        lambda c: c.create_webhook_subscription(
            url=HOOK,
            events=["invitee_no_show.created"],
            organization=ORG,
            scope="group",
            group=GROUP,
        ),
        ("2026",),
    ),
    Call(
        "GET",
        "/webhook_subscriptions/{webhook_uuid}",
        lambda c: c.get_webhook_subscription(webhook_subscription=samples.WEBHOOK),
        ("2023", "2026"),
    ),
    Call(
        "DELETE",
        "/webhook_subscriptions/{webhook_uuid}",
        lambda c: c.delete_webhook_subscription(webhook_subscription=samples.WEBHOOK),
        ("2023", "2026"),
    ),
    Call(
        "GET",
        "/sample_webhook_data",
        lambda c: c.get_sample_webhook_data(
            event="invitee.created", organization=ORG, scope="organization"
        ),
        ("2026",),
    ),
]


@pytest.mark.parametrize(
    "call", CALLS, ids=[f"{c.method} {c.path} {'+'.join(c.specs) or 'unvalidated'}" for c in CALLS]
)
def test_request_matches_the_openapi_description(call: Call, specs: dict[str, OpenAPI]) -> None:
    recorder = Recorder(samples.answer)
    call.run(make_client(recorder))

    sent = [r for r in recorder.requests if r.method == call.method]
    assert sent, f"{call.method} {call.path} was not sent"
    assert all(r.url.host == "api.calendly.com" for r in sent)
    for name in call.specs:
        for request in sent:
            specs[name].validate_request(SentRequest.of(request))
        file = "openapi.yaml" if name == "2023" else "openapi-2026.json"
        coverage.record(f"client requests validated against {file}", call.method, call.path)
    if not call.specs:
        coverage.record(
            "client requests not validated (newer than both files)", call.method, call.path
        )


def test_the_validation_would_catch_a_request_that_breaks_the_spec(
    specs: dict[str, OpenAPI],
) -> None:
    headers = {"Authorization": "Bearer t"}
    no_scope = httpx.Request(
        "GET", f"{samples.API}/webhook_subscriptions", params={"organization": ORG}, headers=headers
    )
    two_uses = httpx.Request(
        "POST",
        f"{samples.API}/scheduling_links",
        json={"max_event_count": 2, "owner": samples.EVENT_TYPE, "owner_type": "EventType"},
        headers=headers,
    )

    with pytest.raises(MissingRequiredParameter):
        specs["2023"].validate_request(SentRequest.of(no_scope))
    with pytest.raises(InvalidRequestBody):
        specs["2023"].validate_request(SentRequest.of(two_uses))


def test_every_client_method_is_exercised_by_this_module() -> None:
    exercised = {
        name for call in CALLS for name in call.run.__code__.co_names if not name.startswith("_")
    }
    public = {
        name
        for name in vars(CalendlyClient)
        if not name.startswith("_") and callable(getattr(CalendlyClient, name))
    }
    # raw_request forwards whatever it is given; close() sends nothing.
    assert public - exercised == {"raw_request", "close", "delete_webhook_subscriptions_for_url"}
